/*
 * gdb doing what mmap_peer() + munmap_peer() do, timed as whole commands:
 *
 *   gdb -nx -batch -iex 'set debuginfod enabled off' -p PID \
 *       -ex 'call (long)mmap(0,65536,3,33,-1,0)' -ex 'call (int)munmap($1,65536)'
 *
 * (3 = PROT_READ|PROT_WRITE, 33 = MAP_SHARED|MAP_ANONYMOUS: the mapping the
 * other benchmarks make.)  -nx keeps a ~/.gdbinit out of the measurement and
 * debuginfod is off so that no run waits on the network.  A run costs a whole
 * debugger start-up, so the default is 10 timed runs after 1 warm-up run
 * (which also brings gdb and the libraries' symbols into the page cache).
 *
 *   gdb_pair   one gdb command: attach, call mmap, call munmap, detach, exit
 *
 * Each run's output is checked: $1 must be an address, $2 must be 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats.h"
#include "target.h"

#define LEN 65536
#define GDB_MS 60000 /* one gdb run: a few hundred ms when well */

/* Run gdb once; returns its wall-clock time in ns.  Dies unless it mapped
 * and unmapped. */
static uint64_t run_gdb(pid_t pid)
{
    char pidstr[16], mmap_cmd[96], munmap_cmd[64];
    snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
    snprintf(mmap_cmd, sizeof mmap_cmd, "call (long)mmap(0,%d,3,33,-1,0)", LEN);
    snprintf(munmap_cmd, sizeof munmap_cmd, "call (int)munmap($1,%d)", LEN);

    int out[2];
    if (pipe(out) < 0)
        bench_die("pipe: %s", strerror(errno));
    fflush(NULL);
    uint64_t t0 = bench_now_ns();
    pid_t g = fork();
    if (g < 0)
        bench_die("fork: %s", strerror(errno));
    if (g == 0) {
        bench_forget_target();
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        close(out[0]);
        close(out[1]);
        unsetenv("DEBUGINFOD_URLS");
        execlp("gdb", "gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
               "-p", pidstr, "-ex", mmap_cmd, "-ex", munmap_cmd, (char *)NULL);
        fprintf(stderr, "cannot run gdb: %s\n", strerror(errno));
        _exit(127);
    }
    close(out[1]);

    /* Drain the pipe while gdb runs, or a chatty gdb would block on it;
     * a gdb that hangs (attaching, or in the called function) is killed
     * after GDB_MS and the run fails, rather than waiting for good. */
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        struct pollfd pf = { .fd = out[0], .events = POLLIN };
        int left = (int)(GDB_MS - (long long)((bench_now_ns() - t0) / 1000000));
        int pr = poll(&pf, 1, left > 0 ? left : 0);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            kill(g, SIGKILL);
            waitpid(g, NULL, 0);
            buf[len] = 0;
            bench_die("gdb did not finish within %d s; its output:\n%s", GDB_MS / 1000, buf);
        }
        ssize_t r = read(out[0], buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf - 1) { /* keep the tail: the results are last */
            memmove(buf, buf + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    close(out[0]);
    int st;
    bench_await_child(g, GDB_MS, "gdb", &st); /* its output is closed: it is ending */
    uint64_t t1 = bench_now_ns();
    buf[len] = 0;

    const char *m = strstr(buf, "$1 = ");
    const char *u = strstr(buf, "$2 = ");
    long addr = m ? strtol(m + 5, NULL, 0) : 0;
    long unmapped = u ? strtol(u + 5, NULL, 0) : -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || addr <= 0 || unmapped != 0)
        bench_die("gdb did not map and unmap (exit status %#x, $1=%ld, $2=%ld); "
                  "its output:\n%s", st, addr, unmapped, buf);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 10, 1);

    bench_pin_self(o.caller_cpu); /* gdb inherits it */
    pid_t pid = bench_spawn_target(o.target_cpu);
    printf("# bench_gdb caller_cpu=%d target_cpu=%d n=%zu warmup=%zu len=%d "
           "target_pid=%d\n", o.caller_cpu, o.target_cpu, o.n, o.warmup, LEN,
           (int)pid);

    struct samples s;
    samples_init(&s, o.n);
    for (size_t i = 0; i < o.warmup + o.n; i++) {
        uint64_t t = run_gdb(pid);
        if (i >= o.warmup)
            samples_add(&s, t);
        bench_check_target(pid);
    }
    samples_report(&s, "gdb_pair");
    samples_free(&s);
    bench_reap_target(pid);
    return 0;
}
