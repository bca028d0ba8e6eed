/*
 * A device manager with blocking reads and notification, written as QNX's
 * resource-manager guide teaches (iofunc_notify(), iofunc_notify_trigger(),
 * a read held with _RESMGR_NOREPLY and run again with resmgr_msg_again(),
 * an unblock handler), and its clients: ionotify() with a pulse and a
 * signal, pm_poll()/pm_select() and plain poll() on the descriptor, reads
 * that block and unblock.  Also the _IO_READ64 route, message_connect(),
 * dispatch_timeout() and resmgr_msgget().
 */
#include <peermap_qnx.h> /* poll(), select() as QNX code sees them */

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct fifo_attr;
#define IOFUNC_ATTR_T struct fifo_attr
#include "sys/iofunc.h"
#include "sys/dispatch.h"
#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "msg/msg.h" /* pm_scoid_peer(): the server's end of a connection */

struct fifo_attr {
    iofunc_attr_t attr;
    iofunc_notify_t notify[3];
    char data[4096];
    size_t len;
    rcvid_t held[8];             /* readers waiting for data */
    int nheld;
};

static struct fifo_attr dev;
static atomic_int read64_calls, unblocks_seen, connect_unblocks;
static int held_ev; /* eventfd: a read or an open was held */
static atomic_int held_scoid; /* the connection of the open held last */

static void note_held(void)
{
    uint64_t one = 1;
    if (write(held_ev, &one, sizeof one) != sizeof one) {
        /* cannot fail: an eventfd far from full */
    }
}

/* The client at the other end of connection `scoid` has read everything
 * the server sent it (the hello that went when the connection was
 * accepted): nothing of ours is still queued for it.  0, or -1 after 10 s. */
static int client_took_all(int scoid)
{
    struct pm_peer p;
    if (pm_scoid_peer(scoid, &p) < 0)
        return -1;
    long long end = now_ms() + 10000;
    int queued = -1;
    while ((ioctl(p.fd, SIOCOUTQ, &queued) < 0 || queued > 0) && now_ms() < end)
        poll(NULL, 0, 1);
    close(p.fd);
    return queued == 0 ? 0 : -1;
}

/* Wait (10 s at most) until the manager holds a request. */
static int wait_held(void)
{
    return take_event(held_ev, 10000) ? 0 : -1;
}
static resmgr_connect_funcs_t cfuncs;
static resmgr_io_funcs_t iofuncs;

static int fifo_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    int nonblock = 0;
    int st = iofunc_read_verify(ctp, msg, ocb, &nonblock);
    if (st != EOK)
        return st;
    struct fifo_attr *a = ocb->attr;
    if (a->len == 0) {
        if (nonblock)
            return EAGAIN;
        if (a->nheld == 8)
            return EBUSY;
        a->held[a->nheld++] = ctp->rcvid; /* answered when data comes */
        note_held();
        return _RESMGR_NOREPLY;
    }
    size_t n = _IO_READ_GET_NBYTES(msg);
    if (n > a->len)
        n = a->len;
    MsgReply(ctp->rcvid, (long)n, a->data, n);
    memmove(a->data, a->data + n, a->len - n);
    a->len -= n;
    return _RESMGR_NOREPLY;
}

static int fifo_read64(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    atomic_fetch_add(&read64_calls, 1);
    return fifo_read(ctp, msg, ocb);
}

static int fifo_write(resmgr_context_t *ctp, io_write_t *msg, iofunc_ocb_t *ocb)
{
    int st = iofunc_write_verify(ctp, msg, ocb, NULL);
    if (st != EOK)
        return st;
    struct fifo_attr *a = ocb->attr;
    size_t n = _IO_WRITE_GET_NBYTES(msg);
    if (n > sizeof a->data - a->len)
        n = sizeof a->data - a->len;
    /* resmgr_msgget(): what came with the message, and the rest. */
    if (resmgr_msgget(ctp, a->data + a->len, n, sizeof msg->i) != (ssize_t)n)
        return EIO;
    a->len += n;
    _IO_SET_WRITE_NBYTES(ctp, n);
    /* Wake the notified, then the held readers. */
    iofunc_notify_trigger(a->notify, (int)a->len, IOFUNC_NOTIFY_INPUT);
    while (a->nheld && a->len) {
        rcvid_t r = a->held[0];
        memmove(a->held, a->held + 1, (size_t)--a->nheld * sizeof r);
        resmgr_msg_again(ctp, r);
    }
    return EOK;
}

static int fifo_notify(resmgr_context_t *ctp, io_notify_t *msg, iofunc_ocb_t *ocb)
{
    struct fifo_attr *a = ocb->attr;
    int trig = _NOTIFY_COND_OUTPUT;
    if (a->len)
        trig |= _NOTIFY_COND_INPUT;
    return iofunc_notify(ctp, msg, a->notify, trig, NULL, NULL);
}

static int fifo_unblock(resmgr_context_t *ctp, io_pulse_t *msg, iofunc_ocb_t *ocb)
{
    atomic_fetch_add(&unblocks_seen, 1);
    struct fifo_attr *a = ocb->attr;
    rcvid_t r = (rcvid_t)(unsigned)msg->value.sival_int;
    for (int i = 0; i < a->nheld; i++)
        if (a->held[i] == r) {
            memmove(a->held + i, a->held + i + 1, (size_t)(a->nheld - i - 1) * sizeof r);
            a->nheld--;
            MsgError(r, EINTR);
            return _RESMGR_NOREPLY;
        }
    return iofunc_unblock_default(ctp, msg, ocb);
}

static int fifo_close_ocb(resmgr_context_t *ctp, void *reserved, iofunc_ocb_t *ocb)
{
    iofunc_notify_remove(ctp, ocb->attr->notify);
    return iofunc_close_ocb_default(ctp, reserved, ocb);
}

/* An open of "hold" is held, to be unblocked by the client's signal. */
static int fifo_open(resmgr_context_t *ctp, io_open_t *msg, struct fifo_attr *a, void *extra)
{
    if (strcmp(msg->connect.path, "hold") == 0) {
        atomic_store(&held_scoid, ctp->info.scoid);
        note_held();
        return _RESMGR_NOREPLY;
    }
    return iofunc_open_default(ctp, msg, a, extra);
}

static int fifo_connect_unblock(resmgr_context_t *ctp, io_pulse_t *msg, struct fifo_attr *a,
                                void *reserved)
{
    (void)ctp, (void)a, (void)reserved;
    atomic_fetch_add(&connect_unblocks, 1);
    MsgError((rcvid_t)(unsigned)msg->value.sival_int, EINTR);
    return _RESMGR_NOREPLY;
}

/* ---- the manager: a dispatch served by a two-thread pool ---- */

static dispatch_t *dpp;
static thread_pool_t *pool;
static int ping_code, ping_ev;

static int on_ping(message_context_t *ctp, int code, unsigned flags, void *handle)
{
    (void)ctp, (void)code, (void)flags, (void)handle;
    uint64_t one = 1;
    if (write(ping_ev, &one, sizeof one) != sizeof one) {
        /* cannot fail: a fresh eventfd */
    }
    return 0;
}

static int start_manager(void)
{
    if (pathspace_fresh() < 0)
        return -1;
    memset(&dev, 0, sizeof dev);
    iofunc_attr_init(&dev.attr, S_IFCHR | 0666, NULL, NULL);
    IOFUNC_NOTIFY_INIT(dev.notify);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cfuncs, _RESMGR_IO_NFUNCS, &iofuncs);
    cfuncs.open = fifo_open;
    cfuncs.unblock = fifo_connect_unblock;
    iofuncs.read = fifo_read;
    iofuncs.read64 = fifo_read64;
    iofuncs.write = fifo_write;
    iofuncs.notify = fifo_notify;
    iofuncs.unblock = fifo_unblock;
    iofuncs.close_ocb = fifo_close_ocb;
    dpp = dispatch_create();
    if (!dpp || resmgr_attach(dpp, NULL, "/dev/pmfifo", _FTYPE_ANY, _RESMGR_FLAG_DIR,
                              &cfuncs, &iofuncs, &dev) < 0)
        return -1;
    ping_ev = eventfd(0, EFD_CLOEXEC);
    held_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ping_code = pulse_attach(dpp, MSG_FLAG_ALLOC_PULSE, 0, on_ping, NULL);
    thread_pool_attr_t pa;
    memset(&pa, 0, sizeof pa);
    pa.handle = dpp;
    pa.context_alloc = dispatch_context_alloc;
    pa.block_func = dispatch_block;
    pa.handler_func = dispatch_handler;
    pa.context_free = dispatch_context_free;
    pa.lo_water = 2;
    pa.hi_water = 2;
    pa.increment = 1;
    pa.maximum = 2;
    pool = thread_pool_create(&pa, 0);
    return pool && ping_code >= 0 && thread_pool_start(pool) == 0 ? 0 : -1;
}

static void stop_manager(void)
{
    thread_pool_destroy(pool);
    dispatch_destroy(dpp);
    close(ping_ev);
    close(held_ev);
}

static uint64_t SEC = 1000000000ull;

static int pulse_on(int chid, struct _pulse *p)
{
    uint64_t t = 10 * SEC;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    return MsgReceive(chid, p, sizeof *p, NULL) == 0 ? 0 : -1;
}

TEST(ionotify_with_a_pulse_and_with_a_signal)
{
    /* Blocked before the manager's threads exist: they have our mask, and
     * would otherwise take the signal (its default action ends us). */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    REQUIRE(start_manager() == 0);
    int fd = pm_open("/dev/pmfifo", O_RDWR);
    REQUIRE(fd >= 0);
    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    int self = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && self >= 0);
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, self, 10, SI_NOTIFY, 0x100);
    /* Nothing to read yet: armed; there is room to write. */
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, &ev), 0);
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLL, _NOTIFY_COND_OUTPUT | _NOTIFY_COND_INPUT,
                           NULL),
                  _NOTIFY_COND_OUTPUT);
    CHECK_EQ_LONG(pm_write(fd, "abc", 3), 3);
    struct _pulse p;
    CHECK_EQ_LONG(pulse_on(chid, &p), 0);
    CHECK_EQ_LONG(p.code, SI_NOTIFY);
    CHECK_EQ_LONG(p.value.sival_int, 0x100 | _NOTIFY_COND_INPUT); /* what fired */
    /* Data there now: POLLARM says so and arms nothing. */
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, &ev),
                  _NOTIFY_COND_INPUT);
    char buf[8];
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 3);

    /* A signal event. */
    struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2,
                            .sigev_value.sival_int = 5 };
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, &sev), 0);
    int w = pm_open("/dev/pmfifo", O_WRONLY);
    CHECK(w >= 0 && pm_write(w, "z", 1) == 1);
    siginfo_t si;
    struct timespec ts = { 10, 0 };
    CHECK_EQ_LONG(sigtimedwait(&set, &si, &ts), SIGUSR2);
    CHECK_EQ_LONG(si.si_value.sival_int, 5);
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 1);
    /* Disarmed with a NULL event: a write then notifies nobody. */
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, &ev), 0);
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, NULL), 0);
    CHECK(pm_write(w, "q", 1) == 1);
    uint64_t t = 100000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    errno = 0;
    CHECK(MsgReceive(chid, &p, sizeof p, NULL) == -1 && errno == ETIMEDOUT);
    pm_close(w);
    pm_close(fd);
    ConnectDetach(self);
    ChannelDestroy(chid);
    stop_manager();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

struct writer {
    const char *what;
    int go;     /* eventfd: write when it fires */
};

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    uint64_t v;
    if (read(wr->go, &v, sizeof v) != sizeof v)
        return NULL;
    int w = pm_open("/dev/pmfifo", O_WRONLY);
    if (w >= 0) {
        pm_write(w, wr->what, strlen(wr->what));
        pm_close(w);
    }
    return NULL;
}

TEST(poll_and_select_wake_when_the_manager_triggers)
{
    REQUIRE(start_manager() == 0);
    int fd = pm_open("/dev/pmfifo", O_RDWR);
    REQUIRE(fd >= 0);
    /* Room to write: at once. */
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    CHECK_EQ_LONG(poll(&p, 1, 10000), 1);
    CHECK(p.revents & POLLOUT);
    /* Nothing to read: a timeout... */
    p.events = POLLIN;
    CHECK_EQ_LONG(poll(&p, 1, 30), 0);
    /* ...until another client writes, while we wait (the writer starts
     * when the eventfd, also polled, is readable - i.e. at once). */
    struct writer wr = { "hello", eventfd(1, EFD_CLOEXEC) };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, writer_main, &wr) == 0);
    CHECK_EQ_LONG(poll(&p, 1, 10000), 1);
    CHECK(p.revents & POLLIN);
    CHECK(pthread_join(th, NULL) == 0);
    char buf[16];
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 5);
    /* select(), with an ordinary descriptor beside it: first its timeout
     * (nothing is written yet; the timeout is what is tested). */
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    FD_SET(pipefd[0], &rd);
    struct timeval tv = { 0, 30000 };
    CHECK_EQ_LONG(select((fd > pipefd[0] ? fd : pipefd[0]) + 1, &rd, NULL, NULL, &tv), 0);
    uint64_t one = 1;
    CHECK(write(wr.go, &one, sizeof one) == sizeof one);
    wr.what = "xy";
    REQUIRE(pthread_create(&th, NULL, writer_main, &wr) == 0);
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    FD_SET(pipefd[0], &rd);
    tv.tv_sec = 10;
    CHECK_EQ_LONG(select((fd > pipefd[0] ? fd : pipefd[0]) + 1, &rd, NULL, NULL, &tv), 1);
    CHECK(FD_ISSET(fd, &rd) && !FD_ISSET(pipefd[0], &rd));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 2);
    /* The kernel's own poll() after an explicit arm on the connection. */
    struct sigevent cev = { .sigev_notify = SIGEV_PM_CONNECTION };
    CHECK_EQ_LONG(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, &cev), 0);
    int w = pm_open("/dev/pmfifo", O_WRONLY);
    CHECK(w >= 0 && pm_write(w, "k", 1) == 1);
#undef poll
    p.events = POLLIN;
    CHECK_EQ_LONG(poll(&p, 1, 10000), 1);
    /* The notification left on the connection does not disturb I/O. */
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 1);
    struct stat st;
    CHECK_EQ_LONG(pm_fstat(fd, &st), 0);
    pm_close(w);
    pm_close(fd);
    close(pipefd[0]);
    close(pipefd[1]);
    close(wr.go);
    stop_manager();
}

static void on_usr1(int sig)
{
    (void)sig;
}

struct reader {
    int fd;
    long got;
    int err;
    char buf[16];
    atomic_int tid;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    atomic_store(&r->tid, gettid());
    errno = 0;
    r->got = pm_read(r->fd, r->buf, sizeof r->buf);
    r->err = errno;
    return NULL;
}

TEST(a_held_read_is_answered_by_resmgr_msg_again_or_unblocked)
{
    REQUIRE(start_manager() == 0);
    struct sigaction sa = { .sa_handler = on_usr1 }, osa;
    sigaction(SIGUSR1, &sa, &osa); /* no SA_RESTART: the read is interrupted */
    struct reader r = { .fd = pm_open("/dev/pmfifo", O_RDONLY) };
    REQUIRE(r.fd >= 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, reader_main, &r) == 0);
    /* Once it is reply-blocked (its read held), a writer answers it. */
    int w = pm_open("/dev/pmfifo", O_WRONLY);
    REQUIRE(w >= 0);
    CHECK(thread_in_syscall((const int *)&r.tid, SYS_recvmsg, 10000) == 0);
    CHECK_EQ_LONG(pm_write(w, "data", 4), 4);
    CHECK(thread_join_ms(th, 10000) == 0);
    CHECK_EQ_LONG(r.got, 4);
    CHECK(memcmp(r.buf, "data", 4) == 0);
    /* Held again, and this time the reader is signalled: the manager's
     * unblock handler lets it go with EINTR. */
    atomic_store(&r.tid, 0);
    uint64_t v;
    while (read(held_ev, &v, sizeof v) == sizeof v) {}
    REQUIRE(pthread_create(&th, NULL, reader_main, &r) == 0);
    /* Signalled once held and waiting in recvmsg(): a signal in the instant
     * between a client's send and its wait does not unblock it (see
     * ARCHITECTURE.md). */
    CHECK(wait_held() == 0);
    CHECK(thread_in_syscall((const int *)&r.tid, SYS_recvmsg, 10000) == 0);
    int before = atomic_load(&unblocks_seen);
    pthread_kill(th, SIGUSR1);
    CHECK(thread_join_ms(th, 10000) == 0);
    CHECK_EQ_LONG(r.got, -1);
    CHECK_EQ_LONG(r.err, EINTR);
    CHECK(atomic_load(&unblocks_seen) > before);
    /* _IO_READ64 reaches read64 (nonblocking: nothing there is EAGAIN). */
    int nb = pm_open("/dev/pmfifo", O_RDONLY | O_NONBLOCK);
    REQUIRE(nb >= 0);
    io_read_t m;
    memset(&m, 0, sizeof m);
    m.i64.type = _IO_READ64;
    m.i64.combine_len = sizeof m.i64;
    m.i64.nbytes = 8;
    char buf[8];
    errno = 0;
    CHECK(MsgSend(nb, &m.i64, sizeof m.i64, buf, sizeof buf) == -1 && errno == EAGAIN);
    CHECK_EQ_LONG(atomic_load(&read64_calls), 1);
    /* _IO_WRITE64 without a write64 handler falls back to write. */
    struct {
        struct _io_write64 h;
        char data[2];
    } w64;
    memset(&w64, 0, sizeof w64);
    w64.h.type = _IO_WRITE64;
    w64.h.combine_len = sizeof w64.h;
    w64.h.nbytes = 2;
    memcpy(w64.data, "zz", 2);
    CHECK_EQ_LONG(MsgSend(w, &w64, sizeof w64, NULL, 0), 2);
    CHECK_EQ_LONG(pm_read(nb, buf, sizeof buf), 2);
    CHECK(memcmp(buf, "zz", 2) == 0);
    pm_close(nb);
    pm_close(w);
    pm_close(r.fd);
    sigaction(SIGUSR1, &osa, NULL);
    stop_manager();
}

static void *opener_main(void *arg)
{
    struct reader *r = arg;
    atomic_store(&r->tid, gettid());
    errno = 0;
    r->got = pm_open("/dev/pmfifo/hold", O_RDONLY);
    r->err = errno;
    return NULL;
}

TEST(a_held_open_reaches_the_connect_unblock_handler)
{
    REQUIRE(start_manager() == 0);
    struct sigaction sa = { .sa_handler = on_usr1 }, osa;
    sigaction(SIGUSR1, &sa, &osa);
    struct reader r = { 0 };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, opener_main, &r) == 0);
    CHECK(wait_held() == 0);
    /* The open is the connection's first message: the server's hello may
     * wake the opener's first wait, which /proc still shows as recvmsg()
     * until the opener has run; a signal then would fall between that wait
     * and the next (see ARCHITECTURE.md, "Message passing").  So first the
     * hello is taken, then the opener is seen waiting. */
    CHECK(client_took_all(atomic_load(&held_scoid)) == 0);
    CHECK(thread_in_syscall((const int *)&r.tid, SYS_recvmsg, 10000) == 0);
    pthread_kill(th, SIGUSR1);
    CHECK(thread_join_ms(th, 10000) == 0);
    CHECK_EQ_LONG(r.got, -1);
    CHECK_EQ_LONG(r.err, EINTR);
    CHECK_EQ_LONG(atomic_load(&connect_unblocks), 1);
    sigaction(SIGUSR1, &osa, NULL);
    stop_manager();
}

TEST(message_connect_and_dispatch_timeout)
{
    REQUIRE(start_manager() == 0);
    /* A side channel to the dispatch's own channel, for our pulses. */
    int coid = message_connect(dpp, MSG_FLAG_SIDE_CHANNEL);
    REQUIRE(coid >= 0);
    CHECK(coid & _NTO_SIDE_CHANNEL);
    CHECK_EQ_LONG(MsgSendPulse(coid, 10, ping_code, 0), 0);
    struct pollfd p = { .fd = ping_ev, .events = POLLIN };
#undef poll
    CHECK_EQ_LONG(poll(&p, 1, 10000), 1);
    ConnectDetach(coid);
    stop_manager();

    /* dispatch_block() that wakes to look at the world. */
    dispatch_t *d = dispatch_create();
    REQUIRE(d);
    struct timespec to = { 0, 20000000 };
    CHECK_EQ_LONG(dispatch_timeout(d, &to), 0);
    dispatch_context_t *ctp = dispatch_context_alloc(d);
    REQUIRE(ctp);
    dispatch_context_t *got = dispatch_block(ctp);
    CHECK(got == ctp);
    CHECK_EQ_LONG(ctp->message_context.rcvid, -1);
    CHECK_EQ_LONG(dispatch_handler(ctp), 0);
    CHECK_EQ_LONG(dispatch_timeout(d, NULL), 0);
    dispatch_unblock(ctp);
    errno = 0;
    CHECK(dispatch_block(ctp) == NULL && errno == ECANCELED);
    to.tv_nsec = 2000000000;
    errno = 0;
    CHECK(dispatch_timeout(d, &to) == -1 && errno == EINVAL);
    dispatch_context_free(ctp);
    dispatch_destroy(d);
}
