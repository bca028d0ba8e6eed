/*
 * QNX-style resource managers (<sys/dispatch.h>, <sys/resmgr.h>,
 * <sys/iofunc.h>) and their clients (pm_open()/pm_read()/pm_write()), in
 * one run.  Three modes, the first argument:
 *
 *   bench_resmgr read [--caller-cpu N] [--target-cpu N] [-n READS] [-w WARMUP]
 *
 *     rm_read_1m   pm_read() of 1 MiB from a manager (a forked child, one
 *                  dispatch_block()/dispatch_handler() thread) whose read
 *                  handler replies with 1 MiB of its buffer in one part
 *                  (_RESMGR_NPARTS(1), straight out of the buffer)
 *     raw_read_1m  the same 1 MiB over a bare AF_UNIX SOCK_STREAM socket
 *                  pair between the same two processes: the client writes a
 *                  request byte, the server send()s 1 MiB, the client
 *                  reads all of it
 *     rm_write_1m  pm_write() of 1 MiB to the same device, whose write
 *                  handler resmgr_msgread()s all of it into a buffer of its
 *                  own (and checks the counters at both ends)
 *     raw_write_1m the same 1 MiB over the raw stream: a request byte and
 *                  1 MiB written, read in full by the server, one byte back
 *     Raw and resmgr blocks alternate (BLOCK_READ reads or writes each).
 *     Each is timed alone; the throughput line is 1 MiB / median time.
 *     Default 500 of each after 50 warm-up ones.
 *
 *   bench_resmgr pool [-n OPS] [-w WARMUP]
 *
 *     CLIENTS client processes, each with its own pm_open() of a small
 *     device, do OPS round trips each (pm_write() of 64 bytes, then
 *     pm_read() of 64 bytes, alternately), all released at once through a
 *     pipe.  Against a manager with a thread pool (lo_water = hi_water =
 *     maximum = POOL_THREADS), then against a single-threaded manager
 *     (dispatch_block()/dispatch_handler() loop): POOL_ROUNDS rounds of
 *     each, alternating (a fresh manager and fresh clients each round, each
 *     client doing its share of OPS), so that a drift of the machine weighs
 *     on both.
 *     pool_op / single_op: latency of one op over all clients and rounds;
 *     "rate pool_ops ..." / "rate single_ops ...": every client's timed ops
 *     divided by the time from the release to the last client's last op,
 *     summed over the rounds; "rate pool_mgr_cpu ...": the manager's CPU
 *     time (user + system, all threads, from wait4()) per message served.
 *     Modes pool-only and single-only run one of the two (for profiling).
 *     Nothing is pinned in this mode (managers and clients may use every
 *     CPU): a pool has no use for one CPU.  Default 5000 ops per client
 *     after 100 warm-up ones (done before the release).
 *
 *   bench_resmgr pool-wait [-n OPS] [-w WARMUP]
 *
 *     As pool, but every read handler waits a fixed device latency of
 *     WAIT_US (200 us) before it replies, as a driver waiting for its
 *     hardware (or a disk read) would; writes do not wait.  The wait is a
 *     timed sleep (clock_nanosleep(), absolute CLOCK_MONOTONIC deadline,
 *     timer slack 1 ns), not a busy loop: it uses no CPU, so a pool can
 *     overlap up to POOL_THREADS waits even on one CPU.  The handler drops
 *     the attribute lock around the wait (iofunc_attr_unlock(), then
 *     iofunc_attr_lock()), as a QNX driver that blocks must, else every
 *     handler of the device would queue behind it: the data it replies
 *     with is the open's own slot, which only its one client touches.
 *     Lines pool_wait_op / single_wait_op and rates pool_wait_ops ...,
 *     single_wait_ops ..., as in pool.  Default 200 ops per client after
 *     10 warm-up ones.
 *
 * Output: "name median_us p99_us n" lines, "rate name value unit" lines,
 * and '#' comments.  Every reply is checked: the 1 MiB bodies carry a
 * per-read counter at both ends and a fixed pattern in between (compared in
 * full, outside the timed part); a small read must return the 64 bytes the
 * same client wrote last on the same open (the device keeps one 64-byte slot
 * per open).  Each manager must exit with status 0 when told to; every
 * child is killed and reaped on every path (atexit, SIGINT/SIGTERM/SIGHUP,
 * and PR_SET_PDEATHSIG if this process dies).  The path space is a fresh
 * directory (PEERMAP_PATHSPACE), removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The device keeps a 64-byte slot in each open (its OCB). */
struct bench_ocb;
#define IOFUNC_OCB_T struct bench_ocb
#include <sys/iofunc.h>
#include <sys/dispatch.h>

#include <peermap.h>

#include "stats.h"
#include "target.h"

#define BIG (1024 * 1024)
#define SMALL 64
#define BLOCK_READ 50
#define CLIENTS 64
#define POOL_THREADS 4
#define POOL_ROUNDS 4 /* alternating pool and single-thread rounds */
#define WAIT_US 200   /* mode pool-wait: the read handler's device latency */
#define MAX_KIDS (CLIENTS + 4)

#define BIG_PATH "/bench/big"
#define SMALL_PATH "/bench/small"

struct bench_ocb {
    iofunc_ocb_t ocb; /* first, as the iofunc layer expects */
    uint64_t reads;   /* 1 MiB reads served on this open */
    unsigned char slot[SMALL];
};

/* ---- children: kept here so that every path kills and reaps them ---- */

static pid_t main_pid;
static volatile pid_t kids[MAX_KIDS];
static volatile int nkids;
static char pathspace[64];

static void add_kid(pid_t pid)
{
    for (int i = 0; i < nkids; i++) {
        if (kids[i] == 0) {
            kids[i] = pid;
            return;
        }
    }
    if (nkids >= MAX_KIDS) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        bench_die("too many children");
    }
    kids[nkids] = pid;
    nkids = nkids + 1;
}

/* Forget a child reaped already. */
static void drop_kid(pid_t pid)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] == pid)
            kids[i] = 0;
}

/* Async-signal-safe: kill and reap every child still listed. */
static void kill_kids(void)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            kids[i] = 0;
        }
    }
}

/* Remove the path space: what the managers left, then the directory.
 * Async-signal-safe (getdents64 on a descriptor opened at the start), so
 * that the signal handler can call it too. */
static int pathspace_fd = -1;

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Empty directory fd: files, then (depth permitting) subdirectories, which
 * the path space has (one per user, one per attached path).  Only
 * async-signal-safe calls. */
static void empty_dir(int fd, int depth)
{
    char buf[4096] __attribute__((aligned(8)));
    for (int again = 1; again;) {
        again = 0;
        if (lseek(fd, 0, SEEK_SET) < 0)
            return;
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
                off += e->d_reclen;
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                if (unlinkat(fd, e->d_name, 0) == 0) {
                    again = 1; /* read it again from the start */
                    continue;
                }
                int sub = depth < 3 ? openat(fd, e->d_name, O_RDONLY | O_DIRECTORY |
                                                                O_NOFOLLOW | O_CLOEXEC)
                                    : -1;
                if (sub >= 0) {
                    empty_dir(sub, depth + 1);
                    close(sub);
                    if (unlinkat(fd, e->d_name, AT_REMOVEDIR) == 0)
                        again = 1;
                }
            }
        }
    }
}

static void remove_pathspace(void)
{
    if (!pathspace[0])
        return;
    if (pathspace_fd >= 0) {
        empty_dir(pathspace_fd, 0);
        close(pathspace_fd);
        pathspace_fd = -1;
    }
    if (rmdir(pathspace) < 0) {
        static const char msg[] = "bench_resmgr: cannot remove the path space directory\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
            /* nothing more to do */
        }
    }
    pathspace[0] = 0;
}

static void at_exit(void)
{
    if (getpid() != main_pid)
        return;
    kill_kids();
    remove_pathspace();
}

static void on_signal(int sig)
{
    kill_kids();
    remove_pathspace();
    _exit(128 + sig);
}

/* ---- the manager (a forked child) ---- */

#define child_die(...) bench_child_die("bench_resmgr child", peermap_errmsg(), __VA_ARGS__)

static unsigned char *big_buf; /* the 1 MiB device's contents */
static unsigned char *wbuf;    /* where the 1 MiB device's writes go */
static resmgr_connect_funcs_t connect_funcs;
static resmgr_io_funcs_t big_io, small_io;
static iofunc_attr_t big_attr, small_attr;
static iofunc_mount_t mount;
static iofunc_funcs_t ocb_funcs;

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131u + (i >> 12));
}

static void fill_pattern(unsigned char *b)
{
    for (size_t i = 0; i < BIG; i++)
        b[i] = pattern(i);
}

/* A read's counter at both ends of the body. */
static void stamp(unsigned char *b, uint64_t n)
{
    memcpy(b, &n, sizeof n);
    memcpy(b + BIG - sizeof n, &n, sizeof n);
}

static struct bench_ocb *ocb_calloc(resmgr_context_t *ctp, iofunc_attr_t *attr)
{
    (void)ctp;
    (void)attr;
    return calloc(1, sizeof(struct bench_ocb));
}

/* Mode pool-wait: the read handler's wait, 0 otherwise.  Set before the
 * managers are forked. */
static long handler_wait_ns;

/*
 * The modelled device latency.  This is a benchmark modelling a device
 * that takes WAIT_US to answer, not a test waiting for an event, so a
 * timed wait is what is wanted here; it sleeps (no CPU used) until an
 * absolute deadline, so that a signal cannot shorten it.
 */
static void device_wait(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_nsec += handler_wait_ns;
    while (t.tv_nsec >= 1000000000L) {
        t.tv_nsec -= 1000000000L;
        t.tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

static void ocb_free(struct bench_ocb *ocb)
{
    free(ocb);
}

/* The 1 MiB device: reads from the open's offset, which wraps at 1 MiB, so
 * that reading it again and again needs no lseek. */
static int big_read(resmgr_context_t *ctp, io_read_t *msg, struct bench_ocb *o)
{
    int status, nonblock;
    if ((status = iofunc_read_verify(ctp, msg, o, &nonblock)) != EOK)
        return status;
    if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;
    off_t off = o->ocb.offset % BIG;
    size_t n = (size_t)_IO_READ_GET_NBYTES(msg);
    if ((off_t)n > BIG - off)
        n = (size_t)(BIG - off);
    if (off == 0 && n == BIG)
        stamp(big_buf, ++o->reads);
    o->ocb.offset = (off + (off_t)n) % BIG;
    _IO_SET_READ_NBYTES(ctp, (int)n);
    if (n == 0)
        return _RESMGR_NPARTS(0);
    return _RESMGR_PTR(ctp, big_buf + off, n);
}

/* Writes to the 1 MiB device: all of it read into wbuf; the counters at
 * both ends must agree. */
static int big_write(resmgr_context_t *ctp, io_write_t *msg, struct bench_ocb *o)
{
    int status, nonblock;
    if ((status = iofunc_write_verify(ctp, msg, o, &nonblock)) != EOK)
        return status;
    if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;
    size_t n = (size_t)_IO_WRITE_GET_NBYTES(msg);
    if (n > BIG)
        return EFBIG;
    ssize_t got = resmgr_msgread(ctp, wbuf, n, sizeof(msg->i));
    if (got < 0)
        return errno;
    uint64_t head, tail;
    if (got == BIG) {
        memcpy(&head, wbuf, sizeof head);
        memcpy(&tail, wbuf + BIG - sizeof tail, sizeof tail);
        if (head != tail || wbuf[BIG / 2] != pattern(BIG / 2))
            return EIO;
    }
    _IO_SET_WRITE_NBYTES(ctp, (int)got);
    return _RESMGR_NPARTS(0);
}

/* The small device: one 64-byte slot per open; write fills it, read
 * returns it.  Offsets are not used. */
static int small_read(resmgr_context_t *ctp, io_read_t *msg, struct bench_ocb *o)
{
    int status, nonblock;
    if ((status = iofunc_read_verify(ctp, msg, o, &nonblock)) != EOK)
        return status;
    if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;
    size_t n = (size_t)_IO_READ_GET_NBYTES(msg);
    if (n > SMALL)
        n = SMALL;
    if (handler_wait_ns) {
        /* Wait for the "device" without the attribute lock, as a blocking
         * QNX driver does (the slot is this open's own). */
        iofunc_attr_t *a = (iofunc_attr_t *)o->ocb.attr;
        if ((status = iofunc_attr_unlock(a)) != EOK)
            return status;
        device_wait();
        if ((status = iofunc_attr_lock(a)) != EOK)
            child_die("iofunc_attr_lock: %s", strerror(status));
    }
    _IO_SET_READ_NBYTES(ctp, (int)n);
    return n ? _RESMGR_PTR(ctp, o->slot, n) : _RESMGR_NPARTS(0);
}

static int small_write(resmgr_context_t *ctp, io_write_t *msg, struct bench_ocb *o)
{
    int status, nonblock;
    if ((status = iofunc_write_verify(ctp, msg, o, &nonblock)) != EOK)
        return status;
    if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;
    size_t n = (size_t)_IO_WRITE_GET_NBYTES(msg);
    if (n > SMALL)
        return EFBIG;
    if (n) {
        ssize_t got = resmgr_msgread(ctp, o->slot, n, sizeof(msg->i));
        if (got < 0)
            return errno;
        n = (size_t)got;
    }
    _IO_SET_WRITE_NBYTES(ctp, (int)n);
    return _RESMGR_NPARTS(0);
}

static void *dispatch_loop(void *arg)
{
    dispatch_t *dpp = arg;
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (!ctp)
        child_die("dispatch_context_alloc: %s", strerror(errno));
    for (;;) {
        dispatch_context_t *c = dispatch_block(ctp);
        if (!c) {
            if (errno == EINTR)
                continue;
            child_die("dispatch_block: %s", strerror(errno));
        }
        ctp = c;
        if (dispatch_handler(ctp) < 0)
            child_die("dispatch_handler: a message nobody handled");
    }
    return NULL;
}

enum server_kind { SERVE_BIG, SERVE_POOL, SERVE_SINGLE };

static void setup_tables(void)
{
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &big_io);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &small_io);
    big_io.read = big_read;
    big_io.write = big_write;
    small_io.read = small_read;
    small_io.write = small_write;
    ocb_funcs.nfuncs = _IOFUNC_NFUNCS;
    ocb_funcs.ocb_calloc = ocb_calloc;
    ocb_funcs.ocb_free = ocb_free;
    mount.funcs = &ocb_funcs;
    iofunc_attr_init(&big_attr, S_IFNAM | 0666, NULL, NULL);
    iofunc_attr_init(&small_attr, S_IFNAM | 0666, NULL, NULL);
    big_attr.mount = &mount;
    small_attr.mount = &mount;
    big_attr.nbytes = BIG;
}

/*
 * The manager.  ready: one byte once it serves.  ctl: SERVE_BIG's raw
 * stream socket (a request byte 'r' gets 1 MiB back, 'q' quits), or a pipe
 * whose 'q' (or end) ends the others.  Exits 0 when told to quit.
 */
static void __attribute__((noreturn)) server(enum server_kind kind, int ready, int ctl,
                                             pid_t parent, int cpu)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET(cpu, &set);
    } else {
        for (int i = 0; i < CPU_SETSIZE && i < (int)sysconf(_SC_NPROCESSORS_ONLN); i++)
            CPU_SET(i, &set);
    }
    /* Before any thread: they inherit it. */
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        child_die("sched_setaffinity: %s", strerror(errno));
    /* Mode pool-wait: sleeps end on time, not up to 50 us late (inherited
     * by the threads too). */
    if (handler_wait_ns && prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) < 0)
        child_die("PR_SET_TIMERSLACK: %s", strerror(errno));

    setup_tables();
    if (kind == SERVE_BIG) {
        big_buf = malloc(BIG);
        wbuf = malloc(BIG);
        if (!big_buf || !wbuf)
            child_die("out of memory");
        fill_pattern(big_buf);
        memset(wbuf, 0, BIG);
    }
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        child_die("dispatch_create: %s", strerror(errno));
    resmgr_attr_t ra;
    memset(&ra, 0, sizeof ra);
    ra.nparts_max = 1;
    ra.msg_max_size = 2048;
    int id = kind == SERVE_BIG
                 ? resmgr_attach(dpp, &ra, BIG_PATH, _FTYPE_ANY, 0, &connect_funcs, &big_io, &big_attr)
                 : resmgr_attach(dpp, &ra, SMALL_PATH, _FTYPE_ANY, 0, &connect_funcs, &small_io, &small_attr);
    if (id == -1)
        child_die("resmgr_attach: %s", strerror(errno));

    if (kind == SERVE_POOL) {
        thread_pool_attr_t pa;
        memset(&pa, 0, sizeof pa);
        pa.handle = dpp;
        pa.context_alloc = dispatch_context_alloc;
        pa.block_func = dispatch_block;
        pa.handler_func = dispatch_handler;
        pa.context_free = dispatch_context_free;
        pa.lo_water = POOL_THREADS;
        pa.increment = 1;
        pa.hi_water = POOL_THREADS;
        pa.maximum = POOL_THREADS;
        thread_pool_t *tp = thread_pool_create(&pa, 0);
        if (!tp)
            child_die("thread_pool_create: %s", strerror(errno));
        if (thread_pool_start(tp) == -1)
            child_die("thread_pool_start: %s", strerror(errno));
    } else {
        pthread_t t;
        int e = pthread_create(&t, NULL, dispatch_loop, dpp);
        if (e)
            child_die("pthread_create: %s", strerror(e));
    }
    char ok = 'r';
    if (write(ready, &ok, 1) != 1)
        child_die("ready: %s", strerror(errno));
    close(ready);

    for (uint64_t n = 0;;) {
        char c;
        ssize_t r = read(ctl, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            child_die("control: %s", strerror(errno));
        if (r == 0 || c == 'q')
            break;
        if (kind == SERVE_BIG && c == 'w') {
            /* A raw write: 1 MiB in, one byte back. */
            for (size_t got = 0; got < BIG;) {
                ssize_t k = read(ctl, wbuf + got, BIG - got);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0)
                    child_die("stream: read: %s", k < 0 ? strerror(errno) : "end");
                got += (size_t)k;
            }
            uint64_t head, tail;
            memcpy(&head, wbuf, sizeof head);
            memcpy(&tail, wbuf + BIG - sizeof tail, sizeof tail);
            char verdict = head == tail && wbuf[BIG / 2] == pattern(BIG / 2) ? 'k' : 'x';
            if (send(ctl, &verdict, 1, MSG_NOSIGNAL) != 1)
                child_die("stream: send: %s", strerror(errno));
            continue;
        }
        if (kind != SERVE_BIG || c != 'r')
            child_die("control: unexpected byte 0x%02x", (unsigned char)c);
        stamp(big_buf, ++n);
        for (size_t put = 0; put < BIG;) {
            ssize_t w = send(ctl, big_buf + put, BIG - put, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                child_die("stream: send: %s", w < 0 ? strerror(errno) : "nothing");
            put += (size_t)w;
        }
    }
    if (resmgr_detach(dpp, id, _RESMGR_DETACH_ALL) == -1)
        child_die("resmgr_detach: %s", strerror(errno));
    _exit(0);
}

/* Fork a manager; returns once it serves.  *ctl: the parent's control end. */
static pid_t start_server(enum server_kind kind, int cpu, int *ctl)
{
    int ready[2], c[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    if (kind == SERVE_BIG ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c) < 0
                          : pipe2(c, O_CLOEXEC) < 0)
        bench_die("socketpair/pipe: %s", strerror(errno));
    /* pipe: c[0] read end (the server's), c[1] the parent's. */
    int srv_end = c[0], my_end = c[1];
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(ready[0]);
        close(my_end);
        server(kind, ready[1], srv_end, main_pid, cpu);
    }
    add_kid(pid);
    close(ready[1]);
    close(srv_end);
    char ok, who[64];
    snprintf(who, sizeof who, "the manager (PID %d) starting", (int)pid);
    bench_read_within(ready[0], &ok, 1, BENCH_START_MS, who);
    close(ready[0]);
    *ctl = my_end;
    return pid;
}

/* Tell a manager to quit; it must exit 0 within 5 s.  *ru: the CPU time
 * it used, all its threads together (wait4()). */
static void stop_server(pid_t pid, int ctl, struct rusage *ru)
{
    char q = 'q';
    if (write(ctl, &q, 1) != 1)
        bench_die("cannot tell the manager to quit: %s", strerror(errno));
    close(ctl);
    bench_await_exit(pid, "the manager", drop_kid, ru);
}

static double tv_s(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void die_pm(const char *what)
{
    int e = errno;
    bench_die("%s: %s (%s)", what, strerror(e), peermap_errmsg());
}

/* ---- mode "read": 1 MiB through pm_read() against a raw stream ---- */

static void check_big(const unsigned char *b, uint64_t n, const char *what)
{
    uint64_t head, tail;
    memcpy(&head, b, sizeof head);
    memcpy(&tail, b + BIG - sizeof tail, sizeof tail);
    if (head != n || tail != n)
        bench_die("%s: read %llu carries counters %llu/%llu", what, (unsigned long long)n,
                  (unsigned long long)head, (unsigned long long)tail);
    for (size_t i = sizeof head; i < BIG - sizeof tail; i++)
        if (b[i] != pattern(i))
            bench_die("%s: read %llu: wrong byte at %zu", what, (unsigned long long)n, i);
}

static uint64_t rm_read_once(int fd, unsigned char *b, uint64_t n)
{
    memset(b, 0, 16); /* so that a short or stale reply shows */
    memset(b + BIG - 16, 0, 16);
    uint64_t t0 = bench_now_ns();
    ssize_t got = pm_read(fd, b, BIG);
    uint64_t t1 = bench_now_ns();
    if (got < 0)
        die_pm("pm_read");
    if (got != BIG)
        bench_die("pm_read returned %zd, not %d", got, BIG);
    check_big(b, n, "pm_read");
    return t1 - t0;
}

static uint64_t raw_read_once(int s, unsigned char *b, uint64_t n)
{
    memset(b, 0, 16);
    memset(b + BIG - 16, 0, 16);
    char rq = 'r';
    uint64_t t0 = bench_now_ns();
    if (send(s, &rq, 1, MSG_NOSIGNAL) != 1)
        bench_die("stream: send: %s", strerror(errno));
    for (size_t got = 0; got < BIG;) {
        ssize_t r = read(s, b + got, BIG - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            bench_die("stream: read: %s", r < 0 ? strerror(errno) : "the server is gone");
        got += (size_t)r;
    }
    uint64_t t1 = bench_now_ns();
    check_big(b, n, "stream");
    return t1 - t0;
}

static uint64_t rm_write_once(int fd, unsigned char *b, uint64_t n)
{
    stamp(b, n);
    uint64_t t0 = bench_now_ns();
    ssize_t put = pm_write(fd, b, BIG);
    uint64_t t1 = bench_now_ns();
    if (put < 0)
        die_pm("pm_write");
    if (put != BIG)
        bench_die("pm_write returned %zd, not %d", put, BIG);
    return t1 - t0;
}

static uint64_t raw_write_once(int s, unsigned char *b, uint64_t n)
{
    stamp(b, n);
    char rq = 'w', ok = 0;
    uint64_t t0 = bench_now_ns();
    if (send(s, &rq, 1, MSG_NOSIGNAL) != 1)
        bench_die("stream: send: %s", strerror(errno));
    for (size_t put = 0; put < BIG;) {
        ssize_t w = send(s, b + put, BIG - put, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            bench_die("stream: send: %s", w < 0 ? strerror(errno) : "nothing");
        put += (size_t)w;
    }
    ssize_t r;
    do
        r = read(s, &ok, 1);
    while (r < 0 && errno == EINTR);
    uint64_t t1 = bench_now_ns();
    if (r != 1 || ok != 'k')
        bench_die("stream: the server found the 1 MiB written wrong");
    return t1 - t0;
}

static void rate_line(const char *name, double median_us)
{
    printf("rate %s %.1f MiB/s\n", name, median_us > 0 ? 1e6 / median_us : 0.0);
}

static void mode_read(const struct bench_opts *o)
{
    bench_pin_self(o->caller_cpu);
    int s;
    pid_t pid = start_server(SERVE_BIG, o->target_cpu, &s);
    unsigned char *b = malloc(BIG);
    if (!b)
        bench_die("out of memory");
    memset(b, 0, BIG);
    int fd = pm_open(BIG_PATH, O_RDWR);
    if (fd < 0)
        die_pm("pm_open " BIG_PATH);
    printf("# bench_resmgr read caller_cpu=%d target_cpu=%d n=%zu warmup=%zu size=%d "
           "block=%d server_pid=%d\n",
           o->caller_cpu, o->target_cpu, o->n, o->warmup, BIG, BLOCK_READ, (int)pid);

    struct samples rm, raw, rmw, raww;
    samples_init(&rm, o->n);
    samples_init(&raw, o->n);
    samples_init(&rmw, o->n);
    samples_init(&raww, o->n);
    uint64_t nrm = 0, nraw = 0, nw = 0;
    unsigned char *wb = malloc(BIG);
    if (!wb)
        bench_die("out of memory");
    fill_pattern(wb);
    for (size_t done = 0, total = o->warmup + o->n; done < total;) {
        size_t k = total - done < BLOCK_READ ? total - done : BLOCK_READ;
        if (done < o->warmup && o->warmup - done < k)
            k = o->warmup - done;
        int timed = done >= o->warmup;
        for (size_t i = 0; i < k; i++) {
            uint64_t t = raw_read_once(s, b, ++nraw);
            if (timed)
                samples_add(&raw, t);
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t t = rm_read_once(fd, b, ++nrm);
            if (timed)
                samples_add(&rm, t);
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t t = raw_write_once(s, wb, ++nw);
            if (timed)
                samples_add(&raww, t);
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t t = rm_write_once(fd, wb, ++nw);
            if (timed)
                samples_add(&rmw, t);
        }
        done += k;
    }
    free(wb);
    if (pm_close(fd) < 0)
        die_pm("pm_close");
    double mrm = samples_median_us(&rm), mraw = samples_median_us(&raw);
    double mrmw = samples_median_us(&rmw), mraww = samples_median_us(&raww);
    samples_report(&rm, "rm_read_1m");
    samples_report(&raw, "raw_read_1m");
    samples_report(&rmw, "rm_write_1m");
    samples_report(&raww, "raw_write_1m");
    rate_line("rm_read_1m", mrm);
    rate_line("raw_read_1m", mraw);
    rate_line("rm_write_1m", mrmw);
    rate_line("raw_write_1m", mraww);
    samples_free(&rm);
    samples_free(&raw);
    samples_free(&rmw);
    samples_free(&raww);
    free(b);
    struct rusage ru;
    stop_server(pid, s, &ru);
    printf("# manager: cpu user %.3f s sys %.3f s for %zu pm_read()s, pm_write()s, raw "
           "reads and raw writes each\n", tv_s(&ru.ru_utime),
           tv_s(&ru.ru_stime), o->n + o->warmup);
}

/* ---- mode "pool": 64 clients against a pool, then a single thread ---- */

struct shared {
    uint64_t go_ns;            /* set by the parent just before the release */
    uint64_t end_ns[CLIENTS];  /* each client's last op */
    uint64_t ns[];             /* CLIENTS * n samples */
};

static void __attribute__((noreturn)) client(int idx, struct shared *sh, size_t n,
                                             size_t warmup, int ready, int go)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != main_pid)
        _exit(1);
    int fd = pm_open(SMALL_PATH, O_RDWR);
    if (fd < 0)
        child_die("client %d: pm_open: %s", idx, strerror(errno));
    unsigned char out[SMALL], in[SMALL];
    memset(out, idx, sizeof out);
    uint64_t *mine = sh->ns + (size_t)idx * n;
    for (size_t i = 0; i < warmup + n; i++) {
        if (i == warmup) {
            char c = 'r', g;
            if (write(ready, &c, 1) != 1)
                child_die("client %d: ready: %s", idx, strerror(errno));
            close(ready);
            ssize_t r;
            while ((r = read(go, &g, 1)) < 0 && errno == EINTR)
                ;
            if (r != 0) /* the parent closes its end: no byte comes */
                child_die("client %d: release: %zd", idx, r);
            close(go);
        }
        /* Op 2k: write this client's stamp; op 2k+1: read it back. */
        uint64_t seq = i / 2;
        uint64_t t0, t1;
        if (i % 2 == 0) {
            memcpy(out, &seq, sizeof seq);
            out[SMALL - 1] = (unsigned char)idx;
            t0 = bench_now_ns();
            ssize_t w = pm_write(fd, out, SMALL);
            t1 = bench_now_ns();
            if (w != SMALL)
                child_die("client %d: pm_write returned %zd: %s", idx, w, strerror(errno));
        } else {
            memset(in, 0xee, sizeof in);
            t0 = bench_now_ns();
            ssize_t r = pm_read(fd, in, SMALL);
            t1 = bench_now_ns();
            if (r != SMALL)
                child_die("client %d: pm_read returned %zd: %s", idx, r, strerror(errno));
            if (memcmp(in, out, SMALL) != 0)
                child_die("client %d: pm_read did not return what was written (op %zu)",
                          idx, i);
        }
        if (i >= warmup)
            mine[i - warmup] = t1 - t0;
    }
    sh->end_ns[idx] = bench_now_ns();
    if (pm_close(fd) < 0)
        child_die("client %d: pm_close: %s", idx, strerror(errno));
    _exit(0);
}

/* One kind of manager's figures, summed over its rounds. */
struct totals {
    struct samples lat; /* every timed op of every client */
    double ops, secs;   /* timed ops; release to last op, summed */
    double msgs, cpu;   /* messages served, warm-up included; manager CPU s */
};

/* One round: a fresh manager, CLIENTS fresh clients doing n timed ops each
 * (after warmup untimed ones, before the release); adds to *t. */
static void run_clients(enum server_kind kind, const char *name, size_t n, size_t warmup,
                        struct shared *sh, struct totals *t)
{
    int ctl;
    pid_t srv = start_server(kind, -1, &ctl);
    int ready[2], go[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    memset(sh->end_ns, 0, sizeof sh->end_ns);
    pid_t pids[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        pid_t pid = bench_fork();
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            close(ctl);
            client(i, sh, n, warmup, ready[1], go[0]);
        }
        add_kid(pid);
        pids[i] = pid;
    }
    close(ready[1]);
    close(go[0]);
    /* Barrier: every client has opened and warmed up. */
    char readies[CLIENTS], who[96];
    snprintf(who, sizeof who, "%s: one of the %d clients getting ready", name, CLIENTS);
    bench_read_within(ready[0], readies, sizeof readies, BENCH_START_MS, who);
    close(ready[0]);
    sh->go_ns = bench_now_ns();
    close(go[1]); /* the release */
    /* The timed run itself: a few seconds on a quiet machine, so ten
     * minutes only catches a hang (the others are killed at exit). */
    for (int i = 0; i < CLIENTS; i++) {
        int st;
        snprintf(who, sizeof who, "%s: client %d", name, i);
        bench_await_child(pids[i], 600000, who, &st);
        drop_kid(pids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bench_die("%s: client %d ended badly (status 0x%x)", name, i, st);
    }
    uint64_t last = 0;
    for (int i = 0; i < CLIENTS; i++) {
        if (sh->end_ns[i] < sh->go_ns)
            bench_die("%s: client %d recorded no end", name, i);
        if (sh->end_ns[i] > last)
            last = sh->end_ns[i];
    }
    struct rusage ru;
    stop_server(srv, ctl, &ru);

    for (size_t i = 0; i < (size_t)CLIENTS * n; i++)
        samples_add(&t->lat, sh->ns[i]);
    t->ops += (double)CLIENTS * (double)n;
    t->secs += (double)(last - sh->go_ns) / 1e9;
    /* Every message the manager served: the ops, warm-up included, plus
     * each client's open and close. */
    t->msgs += (double)CLIENTS * (double)(n + warmup + 2);
    t->cpu += tv_s(&ru.ru_utime) + tv_s(&ru.ru_stime);
    printf("# %s round: %d clients x %zu ops in %.3f s; manager cpu user %.3f s sys %.3f s, "
           "%ld voluntary and %ld involuntary context switches\n", name, CLIENTS, n,
           (double)(last - sh->go_ns) / 1e9, tv_s(&ru.ru_utime), tv_s(&ru.ru_stime),
           ru.ru_nvcsw, ru.ru_nivcsw);
}

static void report_totals(struct totals *t, const char *name)
{
    char op[64];
    snprintf(op, sizeof op, "%s_op", name);
    samples_report(&t->lat, op);
    printf("rate %s_ops %.0f ops/s\n", name, t->ops / t->secs);
    printf("rate %s_mgr_cpu %.2f us/msg\n", name, t->cpu * 1e6 / t->msgs);
}

/* which: 0 both, 1 pool only, 2 single only; wait: mode pool-wait. */
static void mode_pool(const struct bench_opts *o, int which, int wait)
{
    const char *pname = wait ? "pool_wait" : "pool", *sname = wait ? "single_wait" : "single";
    handler_wait_ns = wait ? WAIT_US * 1000L : 0;
    size_t bytes = sizeof(struct shared) + (size_t)CLIENTS * o->n * sizeof(uint64_t);
    struct shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    memset(sh, 0, bytes);
    printf("# bench_resmgr %s clients=%d threads=%d n=%zu warmup=%zu rounds=%d size=%d "
           "cpus=%ld (nothing pinned)", wait ? "pool-wait" : "pool", CLIENTS, POOL_THREADS,
           o->n, o->warmup, POOL_ROUNDS, SMALL, sysconf(_SC_NPROCESSORS_ONLN));
    if (wait)
        printf(" read_handler_wait_us=%d", WAIT_US);
    printf("\n");
    /* Alternate rounds, so that a drift of the machine weighs on both. */
    struct totals tp = { 0 }, ts = { 0 };
    samples_init(&tp.lat, (size_t)CLIENTS * o->n);
    samples_init(&ts.lat, (size_t)CLIENTS * o->n);
    size_t per = (o->n + POOL_ROUNDS - 1) / POOL_ROUNDS;
    for (size_t done = 0; done < o->n;) {
        size_t k = o->n - done < per ? o->n - done : per;
        if (which != 2)
            run_clients(SERVE_POOL, pname, k, o->warmup, sh, &tp);
        if (which != 1)
            run_clients(SERVE_SINGLE, sname, k, o->warmup, sh, &ts);
        done += k;
    }
    if (which != 2)
        report_totals(&tp, pname);
    if (which != 1)
        report_totals(&ts, sname);
    samples_free(&tp.lat);
    samples_free(&ts.lat);
    if (munmap(sh, bytes) < 0)
        bench_die("munmap: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    main_pid = getpid();
    static const char *const modes[] = { "read", "pool", "pool-only", "single-only",
                                          "pool-wait" };
    int mode = -1;
    for (int i = 0; argc >= 2 && i < 5; i++)
        if (strcmp(argv[1], modes[i]) == 0)
            mode = i;
    if (mode < 0) {
        fprintf(stderr, "usage: %s read|pool|pool-only|single-only|pool-wait [--caller-cpu N] "
                "[--target-cpu N] [-n COUNT] [-w WARMUP]\n", argv[0]);
        return 2;
    }
    int pool = mode > 0;
    argv[1] = argv[0];
    struct bench_opts o;
    int wait = mode == 4;
    bench_parse_opts(argc - 1, argv + 1, &o, wait ? 200 : pool ? 5000 : 500,
                     wait ? 10 : pool ? 100 : 50);

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (atexit(at_exit) != 0)
        bench_die("atexit failed");

    snprintf(pathspace, sizeof pathspace, "/tmp/bench_resmgr.XXXXXX");
    if (!mkdtemp(pathspace)) {
        pathspace[0] = 0;
        bench_die("mkdtemp: %s", strerror(errno));
    }
    pathspace_fd = open(pathspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pathspace_fd < 0)
        bench_die("open %s: %s", pathspace, strerror(errno));
    if (chmod(pathspace, 01777) < 0)
        bench_die("chmod %s: %s", pathspace, strerror(errno));
    if (setenv("PEERMAP_PATHSPACE", pathspace, 1) < 0)
        bench_die("setenv: %s", strerror(errno));

    if (pool)
        mode_pool(&o, wait ? 0 : mode - 1, wait);
    else
        mode_read(&o);
    fflush(stdout);
    return 0; /* at_exit() removes the path space */
}
