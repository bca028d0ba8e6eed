/*
 * bench_pathspace - what another user's path-space entries cost a root
 * client: pm_open() + pm_close() of a path a root manager attached, in a
 * clean path space and in one where a live uid-65534 process made a flood
 * of entries for "/" (by copying its own entry, as an attacker ignoring the
 * library's limits would) and left junk names beside them.
 *
 *   bench_pathspace [--caller-cpu N] [--target-cpu N] [-n CALLS] [-w WARMUP]
 *                   [--flood N]
 *
 *   ps_open_clean    pm_open() + pm_close(), clean path space (the baseline)
 *   ps_open_flood    the same path, N foreign entries (default 60,000)
 *   ps_resolve_clean the path-space lookup alone (what pm_open() does first)
 *   ps_resolve_flood the same with the flood
 *
 * The manager is a forked child (root, like the client), pinned to
 * --target-cpu, attached to the path in both path spaces; the flooding
 * process is another child that drops to uid 65534 and stays alive (its
 * entries are live).  The two path spaces alternate in blocks of 100 calls
 * within each measurement, so that both see the same machine.  Not root:
 * there is no other user to flood with, and only the clean lines are
 * printed.  The program only uses calls that every version of the library
 * has, so that it can be built against an older one for a before/after
 * comparison (with --flood 0).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/dispatch.h>
#include <sys/iofunc.h>
#include <sys/neutrino.h>

#include "../src/resmgr/pathspace.h"
#include "stats.h"
#include "target.h"

#define PATH "/dev/bench/pathspace"
#define BLOCK 100

static char spaces[2][64];
static pid_t main_pid;

static void at_exit(void)
{
    if (getpid() != main_pid)
        return;
    for (int i = 0; i < 2; i++)
        if (spaces[i][0])
            bench_remove_tree(spaces[i]);
}

static void use_space(int i)
{
    if (setenv("PEERMAP_PATHSPACE", spaces[i], 1) < 0)
        bench_die("setenv: %s", strerror(errno));
}

/* ---- the manager ---- */

static resmgr_connect_funcs_t cf;
static resmgr_io_funcs_t iof;
static iofunc_attr_t attr;

static void manager(int ready, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        _exit(2);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
    iofunc_attr_init(&attr, S_IFCHR | 0666, NULL, NULL);
    for (int i = 0; i < 2; i++) {
        use_space(i);
        if (resmgr_attach(dpp, NULL, PATH, _FTYPE_ANY, 0, &cf, &iof, &attr) < 0) {
            fprintf(stderr, "bench_pathspace: resmgr_attach: %s (%s)\n", strerror(errno),
                    peermap_errmsg());
            _exit(3);
        }
    }
    if (write(ready, "R", 1) != 1)
        _exit(4);
    close(ready);
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    while (ctp && (ctp = dispatch_block(ctp)))
        dispatch_handler(ctp);
    _exit(0);
}

/* ---- the flood ---- */

/* As uid 65534: attach "/" (a live entry of its own), copy that entry n
 * times under other names (the last 8 hex digits of an entry's name are
 * random in every version of the layout), and put n/6 junk names at the top
 * of the space; then stay alive until the pipe closes. */
static void flooder(int ready, int hold, unsigned n)
{
    struct pm_ps_handle h;
    char file[PATH_MAX + 256], copy[PATH_MAX + 256], buf[PATH_MAX + 512];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0)
        _exit(5);
    use_space(1);
    if (pm_pathspace_attach("/", 1, PM_PS_DIR, 0644, &h) < 0)
        _exit(6);
    snprintf(file, sizeof file, "%s/%s", h.dir, h.name);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    size_t flen = strlen(file);
    if (len <= 0 || flen < 8)
        _exit(7);
    for (unsigned i = 0; i < n; i++) {
        snprintf(copy, sizeof copy, "%.*s%08x", (int)(flen - 8), file, i);
        int c = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (c < 0)
            continue;
        if (write(c, buf, (size_t)len) != len)
            _exit(8);
        close(c);
    }
    for (unsigned i = 0; i < n / 6; i++) {
        snprintf(copy, sizeof copy, "%s/%020u.%d.1.1.%08x", h.dir, i, (int)getpid(), i);
        int c = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (c >= 0)
            close(c);
    }
    if (write(ready, "R", 1) != 1)
        _exit(9);
    close(ready);
    char x;
    while (read(hold, &x, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

/* ---- measuring ---- */

static void open_close(void)
{
    int fd = pm_open(PATH, O_RDONLY);
    if (fd < 0)
        bench_die("pm_open(%s): %s (%s)", PATH, strerror(errno), peermap_errmsg());
    if (pm_close(fd) < 0)
        bench_die("pm_close: %s", strerror(errno));
}

static void resolve(void)
{
    struct pm_ps_match m;
    if (pm_pathspace_resolve(PATH, &m) < 0)
        bench_die("resolve(%s): %s (%s)", PATH, strerror(errno), peermap_errmsg());
}

/* n timed calls per space (after warm-up ones), the spaces alternating in
 * blocks of BLOCK. */
static void measure(const struct bench_opts *o, int nspaces, void (*fn)(void),
                    const char *names[2])
{
    struct samples s[2];
    for (int i = 0; i < nspaces; i++) {
        samples_init(&s[i], o->n);
        use_space(i);
        for (size_t k = 0; k < o->warmup; k++)
            fn();
    }
    for (size_t done = 0; done < o->n;) {
        size_t b = o->n - done < BLOCK ? o->n - done : BLOCK;
        for (int i = 0; i < nspaces; i++) {
            use_space(i);
            for (size_t k = 0; k < b; k++) {
                uint64_t t0 = bench_now_ns();
                fn();
                samples_add(&s[i], bench_now_ns() - t0);
            }
        }
        done += b;
    }
    for (int i = 0; i < nspaces; i++) {
        samples_report(&s[i], names[i]);
        samples_free(&s[i]);
    }
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    unsigned flood = 60000;
    /* --flood N is ours; the rest are every benchmark's. */
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--flood") == 0) {
            flood = (unsigned)strtoul(argv[i + 1], NULL, 10);
            memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof *argv);
            argc -= 2;
            break;
        }
    bench_parse_opts(argc, argv, &o, 2000, 200);
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_pid = getpid();
    if (geteuid() != 0)
        flood = 0;
    int nspaces = flood ? 2 : 1;
    for (int i = 0; i < 2; i++) {
        strcpy(spaces[i], "/tmp/bench_pathspace-XXXXXX");
        if (!mkdtemp(spaces[i]) || chmod(spaces[i], 01777) < 0)
            bench_die("path space: %s", strerror(errno));
    }
    atexit(at_exit);
    /* No policy of this machine's: root trusts root alone here. */
    setenv("PEERMAP_PATHSPACE_POLICY", "/nonexistent-peermap-bench/pathspace.conf", 1);

    int ready[2], hold[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid_t fl = 0;
    /* Making (and removing) the flood's entries takes time in proportion:
     * 30 s more than a millisecond for each, as a start-up's deadline. */
    long long per = (long long)flood + flood / 6;
    int flood_ms = BENCH_START_MS + (int)(per < INT_MAX - BENCH_START_MS ? per : INT_MAX - BENCH_START_MS);
    if (flood) {
        fl = bench_fork();
        if (fl == 0) {
            close(ready[0]);
            close(hold[1]);
            flooder(ready[1], hold[0], flood);
        }
        bench_adopt_target(fl); /* killed if it does not start */
        char c;
        bench_read_within(ready[0], &c, 1, flood_ms, "the flooding process");
        bench_forget_target();
    }
    pid_t mgr = bench_fork();
    if (mgr == 0) {
        close(ready[0]);
        manager(ready[1], o.target_cpu);
    }
    bench_adopt_target(mgr);
    close(ready[1]);
    close(hold[0]);
    char c;
    bench_read_within(ready[0], &c, 1, BENCH_START_MS, "the manager starting");
    bench_pin_self(o.caller_cpu);

    printf("# bench_pathspace caller_cpu=%d target_cpu=%d n=%zu warmup=%zu flood=%u "
           "(entries of a live uid-65534 process for \"/\", plus %u junk names)\n",
           o.caller_cpu, o.target_cpu, o.n, o.warmup, flood, flood / 6);
    static const char *opens[2] = { "ps_open_clean", "ps_open_flood" };
    static const char *resolves[2] = { "ps_resolve_clean", "ps_resolve_flood" };
    measure(&o, nspaces, open_close, opens);
    measure(&o, nspaces, resolve, resolves);

    bench_reap_target(mgr);
    bench_forget_target();
    if (fl > 0) {
        close(hold[1]);
        int st;
        bench_await_child(fl, flood_ms, "the flooding process", &st);
    }
    return 0;
}
