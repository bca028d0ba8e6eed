#include "target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The one target a benchmark process runs at a time; 0 when none. */
static volatile pid_t current_target; /* read by on_signal() */

void bench_forget_target(void)
{
    current_target = 0;
}

void bench_reap_target(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (pid == current_target)
        current_target = 0;
}

void bench_check_target(pid_t pid)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        current_target = 0; /* reaped already */
        if (WIFSIGNALED(st))
            bench_die("the target (PID %d) was killed by signal %d", (int)pid,
                      WTERMSIG(st));
        bench_die("the target (PID %d) exited with status %d", (int)pid,
                  WEXITSTATUS(st));
    }
    if (r < 0)
        bench_die("the target (PID %d) is gone: %s", (int)pid, strerror(errno));
}

/* Read n bytes at addr in the target; 0 or an errno value. */
static int peek(pid_t pid, const void *addr, void *buf, size_t n)
{
    struct iovec l = { buf, n }, r = { (void *)addr, n };
    ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);
    return got == (ssize_t)n ? 0 : got < 0 ? errno : EIO;
}

void bench_check_mapped(pid_t pid, void *addr, size_t len, const void *expect,
                        size_t n, const char *what)
{
    char last, buf[256];
    int e = peek(pid, (char *)addr + len - 1, &last, 1);
    if (e == 0 && expect) {
        if (n > sizeof buf)
            bench_die("%s: cannot check %zu bytes", what, n);
        e = peek(pid, addr, buf, n);
    }
    if (e)
        bench_die("%s returned %p, but the target cannot read it: %s", what,
                  addr, strerror(e));
    if (expect && memcmp(buf, expect, n) != 0)
        bench_die("%s: the target does not see the expected bytes at %p", what, addr);
}

void bench_check_unmapped(pid_t pid, void *addr, const char *what)
{
    char c;
    if (peek(pid, addr, &c, 1) != EFAULT)
        bench_die("%s: %p is still mapped in the target", what, addr);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("bench: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    /* SIGKILL works even while the target is held in a ptrace stop. */
    bench_reap_target(current_target);
    exit(1);
}

static size_t parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > 100000000ull)
        bench_die("bad %s: '%s'", what, s);
    return (size_t)v;
}

void bench_parse_opts(int argc, char **argv, struct bench_opts *o,
                      size_t default_n, size_t default_warmup)
{
    static const struct option longs[] = {
        { "caller-cpu", required_argument, NULL, 'c' },
        { "target-cpu", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct bench_opts){ 0, 0, default_n, default_warmup };
    int c;
    while ((c = getopt_long(argc, argv, "n:w:", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o->caller_cpu = (int)parse_count(optarg, "CPU"); break;
        case 't': o->target_cpu = (int)parse_count(optarg, "CPU"); break;
        case 'n': o->n = parse_count(optarg, "call count"); break;
        case 'w': o->warmup = parse_count(optarg, "warm-up count"); break;
        default:
            fprintf(stderr, "usage: %s [--caller-cpu N] [--target-cpu N] "
                    "[-n CALLS] [-w WARMUP]\n", argv[0]);
            exit(2);
        }
    }
    if (optind != argc || o->n == 0)
        bench_die("usage: %s [--caller-cpu N] [--target-cpu N] [-n CALLS>0] "
                  "[-w WARMUP]", argv[0]);
}

static int pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(pid, sizeof set, &set);
}

/* Every thread of this process, not only the caller: the library's tracer
 * thread starts when the library is loaded, before main() pins anything,
 * and "the caller on CPU n" means the caller and the library's threads
 * working for it (threads started later inherit the pinning). */
void bench_pin_self(int cpu)
{
    if (pin(0, cpu) < 0)
        bench_die("cannot pin to CPU %d: %s", cpu, strerror(errno));
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            pin((pid_t)atoi(e->d_name), cpu);
    if (d)
        closedir(d);
}

/* The state letter of /proc/PID/stat, or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *rp = strrchr(buf, ')'); /* the name may contain spaces */
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* Interrupted (Ctrl-C in run.sh, a timeout): take the target down and reap
 * it ourselves rather than leave it to PR_SET_PDEATHSIG and init.  Only
 * async-signal-safe calls. */
static void on_signal(int sig)
{
    pid_t pid = current_target;
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    _exit(128 + sig);
}

void bench_adopt_target(pid_t pid)
{
    current_target = pid;
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void bench_child_die(const char *who, const char *why, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (why)
        fprintf(stderr, " (%s)", why);
    fputc('\n', stderr);
    _exit(1);
}

pid_t bench_fork(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    return pid;
}

/* Milliseconds left until `end` (CLOCK_MONOTONIC, ms), at least 0. */
static int left_ms(long long end)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return end > now ? (int)(end - now) : 0;
}

static long long ms_from_now(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
}

/* Wait for fd to be readable (or hung up) until `end`: 1, 0 at the
 * deadline, -1 on an error. */
static int readable_by(int fd, long long end)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, left_ms(end));
        if (r >= 0 || errno != EINTR)
            return r > 0 ? 1 : r;
    }
}

void bench_read_within(int fd, void *buf, size_t len, int ms, const char *who)
{
    long long end = ms_from_now(ms);
    size_t got = 0;
    while (got < len) {
        int r = readable_by(fd, end);
        if (r == 0)
            bench_die("%s did not answer within %d s (a hung start: see its "
                      "messages above, if any)", who, ms / 1000);
        if (r < 0)
            bench_die("%s: poll: %s", who, strerror(errno));
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            bench_die("%s: read: %s", who, strerror(errno));
        if (n == 0)
            bench_die("%s went away before answering (it says why above)", who);
        got += (size_t)n;
    }
}

int bench_wait_within(pid_t pid, int ms, int *st, struct rusage *ru)
{
    /* The pidfd is the event a child's end makes (SIGCHLD is the
     * application's): poll it, then reap. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0)
        return -1;
    int r = readable_by(pfd, ms_from_now(ms));
    int e = errno;
    close(pfd);
    if (r <= 0) {
        errno = r == 0 ? ETIMEDOUT : e;
        return -1;
    }
    pid_t w;
    while ((w = wait4(pid, st, 0, ru)) < 0 && errno == EINTR)
        ;
    return w == pid ? 0 : -1;
}

void bench_await_child(pid_t pid, int ms, const char *who, int *st)
{
    if (bench_wait_within(pid, ms, st, NULL) == 0)
        return;
    int e = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (pid == current_target)
        current_target = 0;
    if (e == ETIMEDOUT)
        bench_die("%s (PID %d) did not end within %d s: killed", who, (int)pid, ms / 1000);
    bench_die("waiting for %s (PID %d): %s", who, (int)pid, strerror(e));
}

void bench_await_exit(pid_t pid, const char *who, void (*forget)(pid_t), struct rusage *ru)
{
    int st;
    if (bench_wait_within(pid, 5000, &st, ru) < 0) {
        if (errno == ETIMEDOUT)
            bench_die("%s (PID %d) did not exit when told to", who, (int)pid);
        bench_die("waitpid(%d): %s", (int)pid, strerror(errno));
    }
    if (forget)
        forget(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("%s (PID %d) ended badly (status 0x%x)", who, (int)pid, st);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *where)
{
    (void)st;
    (void)where;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0; /* go on: remove what can be */
}

void bench_remove_tree(const char *path)
{
    /* Depth first (a directory after what it holds); links not followed. */
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

pid_t bench_spawn_target(int cpu)
{
    int ready[2];
    pid_t parent = getpid();
    if (pipe2(ready, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid_t pid = bench_fork();
    if (pid == 0) {
        /* Only async-signal-safe calls here: the parent may have threads. */
        close(ready[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* parent already gone */
            _exit(1);
        if (pin(0, cpu) < 0)
            _exit(2);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        close(ready[1]);
        for (;;) {
            struct timespec ts = { 10, 0 };
            nanosleep(&ts, NULL);
        }
    }
    bench_adopt_target(pid);
    close(ready[1]);
    char c;
    char who[80];
    snprintf(who, sizeof who, "the target (cannot pin it to CPU %d?)", cpu);
    bench_read_within(ready[0], &c, 1, BENCH_START_MS, who);
    close(ready[0]);

    /* Measure only once it is asleep in nanosleep, as in real use; a target
     * still on its way there would be stopped somewhere else. */
    for (int i = 0; proc_state(pid) != 'S'; i++) {
        if (i > 2000)
            bench_die("the target (PID %d) never went to sleep", (int)pid);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return pid;
}
