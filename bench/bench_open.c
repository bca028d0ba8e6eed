/*
 * Opening a resource: pm_open() and pm_close() of a path a resource manager
 * serves with the iofunc defaults.
 *
 *   pm_open        resolve the path, connect to the manager's channel (and
 *                  prove the listener is that process), _IO_CONNECT, the
 *                  manager accepts the connection and binds an OCB
 *   pm_close       _IO_CLOSE and the detach
 *   open_close     the two as one cycle
 *   open_reuse     what an open would cost on a connection kept from an
 *                  earlier one (a per-process pool of connections, which
 *                  peermap does not have): the _IO_CONNECT and the
 *                  _IO_CLOSE as two MsgSend()s on one connection whose
 *                  earlier open was closed - no path resolution, no new
 *                  connection, no identity checks
 *   open_rtt       for scale: one MsgSend() round trip to the same manager
 *                  on an open kept for the purpose (16 bytes of a type the
 *                  manager does not handle, answered ENOSYS by its dispatch
 *                  layer), alternating with the cycles, each after an
 *                  untimed one that lets the manager see the last close
 *
 * The manager is a forked child, single-threaded (dispatch_block() /
 * dispatch_handler()), pinned to --target-cpu; the client is this process,
 * pinned to --caller-cpu.  The path space is a fresh directory
 * (PEERMAP_PATHSPACE) with the one entry, removed at the end.  Each call is
 * timed alone; every open must succeed and every close return 0, or the
 * benchmark stops.  Counts: -n cycles (default 5000) after -w warm-up ones
 * (default 500).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/iofunc.h>
#include <sys/neutrino.h>
#include <sys/dispatch.h>

#include <peermap.h>

#include "stats.h"
#include "target.h"

#define PATH "/bench/open"

static char pathspace[64];
static pid_t manager;

static void cleanup(void)
{
    if (manager > 0) {
        kill(manager, SIGKILL);
        while (waitpid(manager, NULL, 0) < 0 && errno == EINTR)
            ;
        manager = 0;
    }
    if (!pathspace[0])
        return;
    DIR *d = opendir(pathspace);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(pathspace);
    pathspace[0] = 0;
}

static void on_signal(int sig)
{
    (void)sig;
    if (manager > 0)
        kill(manager, SIGKILL);
    _exit(1);
}

static void __attribute__((noreturn)) serve(int ready, int cpu, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    bench_pin_self(cpu);
    static resmgr_connect_funcs_t cf;
    static resmgr_io_funcs_t io;
    static iofunc_attr_t attr;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &io);
    iofunc_attr_init(&attr, S_IFNAM | 0666, NULL, NULL);
    dispatch_t *dpp = dispatch_create();
    resmgr_attr_t ra;
    memset(&ra, 0, sizeof ra);
    ra.nparts_max = 1;
    ra.msg_max_size = 2048;
    int id = dpp ? resmgr_attach(dpp, &ra, PATH, _FTYPE_ANY, 0, &cf, &io, &attr) : -1;
    if (id == -1)
        _exit(2);
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (!ctp)
        _exit(3);
    if (write(ready, &id, sizeof id) != (ssize_t)sizeof id)
        _exit(4);
    close(ready);
    for (;;) {
        dispatch_context_t *n = dispatch_block(ctp);
        if (!n) {
            if (errno == EINTR)
                continue;
            _exit(5);
        }
        ctp = n;
        dispatch_handler(ctp);
    }
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 5000, 500);
    snprintf(pathspace, sizeof pathspace, "/tmp/bench_open.XXXXXX");
    if (!mkdtemp(pathspace)) {
        pathspace[0] = 0;
        bench_die("mkdtemp: %s", strerror(errno));
    }
    chmod(pathspace, 01777);
    setenv("PEERMAP_PATHSPACE", pathspace, 1);
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    manager = fork();
    if (manager < 0)
        bench_die("fork: %s", strerror(errno));
    if (manager == 0) {
        close(p[0]);
        serve(p[1], o.target_cpu, parent);
    }
    close(p[1]);
    int attach_id;
    bench_read_within(p[0], &attach_id, sizeof attach_id, BENCH_START_MS,
                      "the manager starting");
    close(p[0]);
    bench_pin_self(o.caller_cpu);

    struct samples so, sc, sp, sr, su;
    samples_init(&su, o.n);
    samples_init(&so, o.n);
    samples_init(&sc, o.n);
    samples_init(&sp, o.n);
    samples_init(&sr, o.n);
    int kept = pm_open(PATH, O_RDWR);
    if (kept < 0)
        bench_die("pm_open %s: %s", PATH, peermap_errmsg());
    /* open_reuse's connection: opened, then its open closed with an
     * _IO_CLOSE while the connection stays. */
    int reuse = pm_open(PATH, O_RDWR);
    if (reuse < 0)
        bench_die("pm_open %s: %s", PATH, peermap_errmsg());
    struct _io_close cmsg = { .type = _IO_CLOSE, .combine_len = sizeof cmsg };
    if (MsgSend(reuse, &cmsg, sizeof cmsg, NULL, 0) == -1)
        bench_die("_IO_CLOSE: %s", strerror(errno));
    /* The path is the attached one: nothing left of it for the manager. */
    struct _io_connect omsg = { .type = _IO_CONNECT, .subtype = _IO_CONNECT_OPEN,
                                .file_type = _FTYPE_ANY, .handle = (uint32_t)attach_id,
                                .ioflag = O_RDWR + 1, .sflag = 0x40 /* SH_DENYNO */,
                                .path_len = 1, .extra_type = _IO_CONNECT_EXTRA_NONE };
    for (size_t i = 0; i < o.warmup + o.n; i++) {
        /* 16 bytes of a message type no manager handles (not _IO_*).  An
         * untimed one first: the manager learns of the last cycle's close
         * only when it next waits, and that work belongs to no round
         * trip (whether it fell into the timed one depended on the
         * scheduler's mood). */
        uint16_t msg[8] = { 0x0ff0 };
        MsgSend(kept, msg, sizeof msg, NULL, 0);
        uint64_t r0 = bench_now_ns();
        long st = MsgSend(kept, msg, sizeof msg, NULL, 0);
        uint64_t r1 = bench_now_ns();
        if (st != -1 || errno != ENOSYS)
            bench_die("MsgSend of an unknown type: %ld (%s), not ENOSYS", st, strerror(errno));
        if (i >= o.warmup)
            samples_add(&sr, r1 - r0);
        uint64_t t0 = bench_now_ns();
        int fd = pm_open(PATH, O_RDWR);
        uint64_t t1 = bench_now_ns();
        if (fd < 0)
            bench_die("pm_open %s: %s", PATH, peermap_errmsg());
        int rc = pm_close(fd);
        uint64_t t2 = bench_now_ns();
        if (rc != 0)
            bench_die("pm_close: %s", peermap_errmsg());
        uint64_t u0 = bench_now_ns();
        long ost = MsgSend(reuse, &omsg, offsetof(struct _io_connect, path) + 1, NULL, 0);
        long cst = ost == -1 ? -1 : MsgSend(reuse, &cmsg, sizeof cmsg, NULL, 0);
        uint64_t u1 = bench_now_ns();
        if (ost == -1 || cst == -1)
            bench_die("open_reuse: %s", strerror(errno));
        if (i >= o.warmup) {
            samples_add(&su, u1 - u0);
            samples_add(&so, t1 - t0);
            samples_add(&sc, t2 - t1);
            samples_add(&sp, t2 - t0);
        }
    }
    printf("# bench_open caller_cpu=%d target_cpu=%d n=%zu warmup=%zu\n", o.caller_cpu,
           o.target_cpu, o.n, o.warmup);
    samples_report(&so, "pm_open");
    samples_report(&sc, "pm_close");
    samples_report(&sp, "open_close");
    samples_report(&su, "open_reuse");
    samples_report(&sr, "open_rtt");
    samples_free(&so);
    samples_free(&sc);
    samples_free(&sp);
    samples_free(&sr);
    samples_free(&su);
    pm_close(kept);
    ConnectDetach(reuse);
    cleanup();
    return 0;
}
