/*
 * Timers as QNX has them (pulses at a period, TimerCreate() & co., the
 * POSIX names with a SIGEV_PULSE event), kernel timeouts (TimerTimeout())
 * on send, reply and receive, MsgReceivePulse(), and _NTO_MI_UNBLOCK_REQ.
 * Periods are only checked from below (a timer never fires early); how
 * close they are is the benchmark's business (bench_timer).
 */
#include <peermap_qnx.h> /* timer_create() & co. as QNX code sees them */

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "sys/neutrino.h"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One pulse, with a deadline: its code, or -1000 - errno. */
static int next_pulse(int chid, struct _pulse *p, uint64_t ns)
{
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ns, NULL);
    rcvid_t r = MsgReceive(chid, p, sizeof *p, NULL);
    if (r != 0)
        return -1000 - errno;
    return p->code;
}

#define SEC 1000000000ull

TEST(pulse_timer_one_shot_then_periodic)
{
    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && coid >= 0);
    /* Filled field by field, as QNX programs do. */
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_PULSE;
    ev.sigev_coid = coid;
    ev.sigev_priority = SIGEV_PULSE_PRIO_INHERIT;
    ev.sigev_code = 3;
    ev.sigev_value.sival_int = 9;
    timer_t tid;
    REQUIRE(timer_create(CLOCK_MONOTONIC, &ev, &tid) == 0);

    struct itimerspec once = { .it_value = { 0, 20000000 } };
    int64_t t0 = mono_ns();
    REQUIRE(timer_settime(tid, 0, &once, NULL) == 0);
    struct _pulse p;
    CHECK_EQ_LONG(next_pulse(chid, &p, 10 * SEC), 3);
    CHECK_EQ_LONG(p.value.sival_int, 9);
    CHECK(mono_ns() - t0 >= 20000000);
    struct itimerspec cur;
    CHECK_EQ_LONG(timer_gettime(tid, &cur), 0);
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0); /* spent */

    struct itimerspec every = { .it_value = { 0, 10000000 }, .it_interval = { 0, 10000000 } };
    t0 = mono_ns();
    REQUIRE(timer_settime(tid, 0, &every, NULL) == 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_LONG(next_pulse(chid, &p, 10 * SEC), 3);
    CHECK(mono_ns() - t0 >= 50000000);
    CHECK_EQ_LONG(timer_gettime(tid, &cur), 0);
    CHECK(cur.it_interval.tv_nsec == 10000000 && cur.it_value.tv_nsec <= 10000000);
    CHECK_EQ_LONG(timer_getoverrun(tid), 0);
    CHECK_EQ_LONG(timer_delete(tid), 0);
    errno = 0;
    CHECK(timer_gettime(tid, &cur) == -1 && errno == EINVAL);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

TEST(qnx_timer_calls)
{
    int chid = ChannelCreate(0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && coid >= 0);
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, coid, 10, 12, 34);
    int id = TimerCreate(CLOCK_MONOTONIC, &ev);
    REQUIRE(id >= 0);
    struct _itimer it = { .nsec = 5000000, .interval_nsec = 5000000 }, old;
    CHECK_EQ_LONG(TimerSettime(id, 0, &it, &old), 0);
    CHECK_EQ_LONG(old.nsec, 0);
    struct _timer_info ti;
    CHECK_EQ_LONG(TimerInfo(0, id, 0, &ti), id);
    CHECK(ti.flags & _NTO_TI_ACTIVE);
    CHECK_EQ_LONG(ti.notify, SIGEV_PULSE);
    CHECK_EQ_LONG(ti.clockid, CLOCK_MONOTONIC);
    CHECK_EQ_LONG(ti.otime.interval_nsec, 5000000);
    CHECK_EQ_LONG(ti.event.sigev_code, 12);
    struct _pulse p;
    CHECK_EQ_LONG(next_pulse(chid, &p, 10 * SEC), 12);
    CHECK_EQ_LONG(p.value.sival_int, 34);
    /* _NTO_TIMER_SEARCH finds it from below. */
    CHECK_EQ_LONG(TimerInfo(0, 0, _NTO_TIMER_SEARCH, &ti), 0 <= id ? id : -1);
    /* Absolute expiry on CLOCK_REALTIME. */
    int id2 = TimerCreate(CLOCK_REALTIME, &ev);
    REQUIRE(id2 >= 0 && id2 != id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct _itimer at = { .nsec = (uint64_t)now.tv_sec * SEC + (uint64_t)now.tv_nsec + 1000000 };
    CHECK_EQ_LONG(TimerSettime(id2, TIMER_ABSTIME, &at, NULL), 0);
    CHECK_EQ_LONG(TimerInfo(0, id2, 0, &ti), id2);
    CHECK(ti.flags & _NTO_TI_ABSOLUTE);
    CHECK(ti.flags & _NTO_TI_TOD_BASED);
    /* Disarm the periodic one; nsec 0 disarms. */
    struct _itimer off = { 0, 0 };
    CHECK_EQ_LONG(TimerSettime(id, 0, &off, NULL), 0);
    CHECK_EQ_LONG(TimerInfo(0, id, 0, &ti), id);
    CHECK(!(ti.flags & _NTO_TI_ACTIVE));
    /* Errors. */
    errno = 0;
    CHECK(TimerInfo(1, id, 0, &ti) == -1 && errno == EPERM);
    errno = 0;
    CHECK(TimerSettime(9999, 0, &it, NULL) == -1 && errno == EINVAL);
    CHECK_EQ_LONG(TimerDestroy(id), 0);
    CHECK_EQ_LONG(TimerDestroy(id2), 0);
    errno = 0;
    CHECK(TimerDestroy(id) == -1 && errno == EINVAL);
    ev.sigev_notify = SIGEV_UNBLOCK;
    errno = 0;
    CHECK(TimerCreate(CLOCK_MONOTONIC, &ev) == -1 && errno == EINVAL);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

TEST(undeliverable_expiries_are_overruns)
{
    int chid = ChannelCreate(0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    /* The witness's connection is made before coid goes, so that it cannot
     * take coid's number and make the first timer's pulses deliverable. */
    int wcoid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && coid >= 0 && wcoid >= 0);
    struct sigevent ev, wev;
    SIGEV_PULSE_INIT(&ev, coid, 10, 1, 0);
    SIGEV_PULSE_INIT(&wev, wcoid, 10, 2, 0);
    timer_t tid, wid;
    REQUIRE(timer_create(CLOCK_MONOTONIC, &ev, &tid) == 0);
    REQUIRE(timer_create(CLOCK_MONOTONIC, &wev, &wid) == 0);
    ConnectDetach(coid); /* the pulses now have nowhere to go */
    struct itimerspec every = { .it_value = { 0, 1000000 }, .it_interval = { 0, 1000000 } };
    struct itimerspec later = { .it_value = { 0, 5000000 } }, soon = { .it_value = { 0, 1 } };
    REQUIRE(timer_settime(tid, 0, &every, NULL) == 0);
    /* No nap: the wait is on expiries.  Both timers are served by the
     * process's one timer thread, one epoll_wait() batch after another.
     * The witness expires after the first timer has (5 ms > 1 ms), so the
     * batch that brings the witness's expiry brings the first timer's too
     * (level-triggered: every ready descriptor), unless an earlier batch
     * took it.  The witness, armed again once its pulse is here, can only
     * come back in a later batch: its second pulse means the first timer's
     * expiry was read and, undeliverable, counted. */
    REQUIRE(timer_settime(wid, 0, &later, NULL) == 0);
    struct _pulse p;
    CHECK_EQ_LONG(next_pulse(chid, &p, 10 * SEC), 2);
    REQUIRE(timer_settime(wid, 0, &soon, NULL) == 0);
    CHECK_EQ_LONG(next_pulse(chid, &p, 10 * SEC), 2);
    CHECK(timer_getoverrun(tid) > 0);
    timer_delete(tid);
    timer_delete(wid);
    ConnectDetach(wcoid);
    ChannelDestroy(chid);
}

static atomic_int thread_fired;
static int thread_fired_ev = -1; /* rung by the callback: the test waits on it */
static void on_timer(union sigval v)
{
    atomic_store(&thread_fired, v.sival_int);
    uint64_t one = 1;
    if (write(thread_fired_ev, &one, sizeof one) < 0) { /* the waiter's deadline reports it */ }
}

TEST(signal_and_thread_timers_are_glibcs)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1,
                           .sigev_value.sival_int = 21 };
    timer_t tid;
    REQUIRE(timer_create(CLOCK_MONOTONIC, &ev, &tid) == 0);
    struct itimerspec once = { .it_value = { 0, 1000000 } };
    REQUIRE(timer_settime(tid, 0, &once, NULL) == 0);
    siginfo_t si;
    struct timespec ts = { 10, 0 };
    CHECK_EQ_LONG(sigtimedwait(&set, &si, &ts), SIGUSR1);
    CHECK_EQ_LONG(si.si_code, SI_TIMER); /* the kernel's timer, not ours */
    CHECK_EQ_LONG(si.si_value.sival_int, 21);
    CHECK_EQ_LONG(timer_delete(tid), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_timer;
    thread_fired_ev = eventfd(0, EFD_CLOEXEC);
    REQUIRE(thread_fired_ev >= 0);
    ev.sigev_value.sival_int = 8;
    REQUIRE(timer_create(CLOCK_MONOTONIC, &ev, &tid) == 0);
    REQUIRE(timer_settime(tid, 0, &once, NULL) == 0);
    CHECK(wait_readable(thread_fired_ev, 10000) == 0);
    CHECK_EQ_LONG(atomic_load(&thread_fired), 8);
    close(thread_fired_ev);
    CHECK_EQ_LONG(timer_delete(tid), 0);
}

/* ---- TimerTimeout() ---- */

TEST(receive_timeout)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    char buf[16];
    uint64_t t = 30000000;
    int64_t t0 = mono_ns();
    CHECK_EQ_LONG(TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL), 0);
    errno = 0;
    CHECK(MsgReceive(chid, buf, sizeof buf, NULL) == -1 && errno == ETIMEDOUT);
    CHECK(mono_ns() - t0 >= 30000000);
    /* ntime NULL: at once. */
    struct sigevent unb;
    SIGEV_UNBLOCK_INIT(&unb);
    CHECK_EQ_LONG(TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, &unb, NULL, NULL), 0);
    errno = 0;
    CHECK(MsgReceive(chid, buf, sizeof buf, NULL) == -1 && errno == ETIMEDOUT);
    /* The previous timeout's flags come back; timer_timeout() takes a timespec. */
    struct timespec ts = { 0, 20000000 }, ots;
    CHECK_EQ_LONG(timer_timeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ts, NULL), 0);
    CHECK_EQ_LONG(timer_timeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ts, &ots),
                  _NTO_TIMEOUT_RECEIVE);
    CHECK(ots.tv_sec == 0 && ots.tv_nsec > 0 && ots.tv_nsec <= 20000000);
    errno = 0;
    CHECK(MsgReceive(chid, buf, sizeof buf, NULL) == -1 && errno == ETIMEDOUT);
    /* Used up: the next receive waits (a pulse ends it). */
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    MsgSendPulse(coid, 10, 2, 0);
    CHECK_EQ_LONG(MsgReceive(chid, buf, sizeof buf, NULL), 0);
    /* States peermap has no calls for are refused, not ignored. */
    errno = 0;
    CHECK(TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_CONDVAR, NULL, &t, NULL) == -1 &&
          errno == EINVAL);
    struct sigevent sig = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    errno = 0;
    CHECK(TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, &sig, &t, NULL) == -1 &&
          errno == EINVAL);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

TEST(send_timeout_when_nobody_receives)
{
    int chid = ChannelCreate(0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && coid >= 0);
    uint64_t t = 30000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_SEND | _NTO_TIMEOUT_REPLY, NULL, &t, NULL);
    int64_t t0 = mono_ns();
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    CHECK(mono_ns() - t0 >= 30000000);
    /* SEND alone also covers it; REPLY alone does not (still SEND-blocked):
     * with REPLY alone the call would wait - not tried here. */
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_SEND, NULL, &t, NULL);
    errno = 0;
    CHECK(MsgSend(coid, "y", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

struct holder {
    int chid;
    pthread_t th;
    int saw_flag;          /* MsgInfo() showed _NTO_MI_UNBLOCK_REQ */
    int pulse_code;        /* the pulse that followed */
    rcvid_t pulse_value, held;
};

/* Receives one message and holds it until the client wants out; then
 * answers ETIMEDOUT. */
static void *holder_main(void *arg)
{
    struct holder *h = arg;
    char buf[16];
    rcvid_t r;
    do
        r = MsgReceive(h->chid, buf, sizeof buf, NULL);
    while (r == 0);
    h->held = r;
    /* The client's wish to leave is the channel's own notification, the
     * unblock pulse (the wait is on it, not on a nap); MsgInfo() then shows
     * the flag.  (MsgInfo() finding the request itself, for a server that
     * polls it during a long job, is tests/qnx_rt/unblock_req.c.) */
    struct _pulse p;
    uint64_t t = 10 * SEC;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    if (MsgReceive(h->chid, &p, sizeof p, NULL) == 0) {
        h->pulse_code = p.code;
        h->pulse_value = (unsigned)p.value.sival_int;
    }
    struct _msg_info info;
    if (MsgInfo(r, &info) == 0 && (info.flags & _NTO_MI_UNBLOCK_REQ))
        h->saw_flag = 1;
    MsgError(r, ETIMEDOUT);
    return NULL;
}

TEST(reply_timeout_asks_the_server_on_an_unblock_channel)
{
    struct holder h = { 0 };
    h.chid = ChannelCreate(_NTO_CHF_UNBLOCK);
    REQUIRE(h.chid > 0);
    REQUIRE(pthread_create(&h.th, NULL, holder_main, &h) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, h.chid, _NTO_SIDE_CHANNEL, 0);
    uint64_t t = 30000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_REPLY, NULL, &t, NULL);
    errno = 0;
    /* The client waits for the server's answer, which is ETIMEDOUT. */
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    CHECK(thread_join_ms(h.th, 20000) == 0);
    CHECK(h.saw_flag);
    CHECK_EQ_LONG(h.pulse_code, _PULSE_CODE_UNBLOCK);
    CHECK_EQ_LONG(h.pulse_value, h.held);
    ConnectDetach(coid);
    ChannelDestroy(h.chid);
}

static void *silent_main(void *arg)
{
    int chid = *(int *)arg;
    char buf[16];
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, NULL);
    while (r == 0);
    return (void *)(intptr_t)r; /* never replied to */
}

TEST(reply_timeout_without_unblock_flag_lets_the_client_go)
{
    int chid = ChannelCreate(0);
    pthread_t th;
    REQUIRE(chid > 0 && pthread_create(&th, NULL, silent_main, &chid) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    uint64_t t = 30000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_REPLY, NULL, &t, NULL);
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    CHECK(thread_join_ms(th, 10000) == 0);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

/* ---- TimerTimeout() and the library's own deadline on MsgSend() ---- */

/* The library's hard per-thread deadline (msg.h): the memory manager's
 * and the FUSE export's. */
void pm_msg_thread_timeout(int ms);

struct keeper {
    int chid;
    pthread_t th;
    int pulse_code;        /* the first pulse after the message */
};

/* Receives one message and never answers it; reports the next pulse. */
static void *keeper_main(void *arg)
{
    struct keeper *k = arg;
    char buf[16];
    rcvid_t r;
    do
        r = MsgReceive(k->chid, buf, sizeof buf, NULL);
    while (r == 0);
    struct _pulse p;
    k->pulse_code = next_pulse(k->chid, &p, 10 * SEC);
    return NULL;
}

TEST(timer_timeout_and_the_librarys_send_deadline_compose)
{
    /* The library's deadline alone, on an ordinary connection. */
    int chid = ChannelCreate(0);
    pthread_t th;
    REQUIRE(chid > 0 && pthread_create(&th, NULL, silent_main, &chid) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    pm_msg_thread_timeout(50);
    int64_t t0 = mono_ns();
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    CHECK(mono_ns() - t0 >= 50000000);
    pm_msg_thread_timeout(0);
    CHECK(thread_join_ms(th, 10000) == 0);
    ConnectDetach(coid);
    ChannelDestroy(chid);

    /* TimerTimeout() first: it keeps its meaning (on a _NTO_CHF_UNBLOCK
     * channel it asks the server and the client waits for the answer),
     * and the library's deadline still ends a wait the server never
     * answers. */
    struct keeper k = { .chid = ChannelCreate(_NTO_CHF_UNBLOCK) };
    REQUIRE(k.chid > 0 && pthread_create(&k.th, NULL, keeper_main, &k) == 0);
    coid = ConnectAttach(ND_LOCAL_NODE, 0, k.chid, _NTO_SIDE_CHANNEL, 0);
    uint64_t t = 20000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_REPLY, NULL, &t, NULL);
    pm_msg_thread_timeout(300);
    t0 = mono_ns();
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    CHECK(mono_ns() - t0 >= 300000000);
    pm_msg_thread_timeout(0);
    CHECK(thread_join_ms(k.th, 20000) == 0);
    CHECK_EQ_LONG(k.pulse_code, _PULSE_CODE_UNBLOCK);
    ConnectDetach(coid);
    ChannelDestroy(k.chid);

    /* TimerTimeout() first on a channel without _NTO_CHF_UNBLOCK: it ends
     * the exchange, long before the library's deadline would. */
    chid = ChannelCreate(0);
    REQUIRE(chid > 0 && pthread_create(&th, NULL, silent_main, &chid) == 0);
    coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    t = 20000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_REPLY, NULL, &t, NULL);
    pm_msg_thread_timeout(60000);
    t0 = mono_ns();
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == ETIMEDOUT);
    CHECK(mono_ns() - t0 < 30 * (int64_t)SEC);
    pm_msg_thread_timeout(0);
    CHECK(thread_join_ms(th, 10000) == 0);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

/* ---- MsgReceivePulse() ---- */

static void *sender_main(void *arg)
{
    int coid = *(int *)arg;
    char r[8] = { 0 };
    long st = MsgSend(coid, "msg", 3, r, sizeof r);
    return (void *)(intptr_t)(st == 7 && memcmp(r, "ok", 2) == 0);
}

TEST(receive_pulse_leaves_messages_for_receive)
{
    int chid = ChannelCreate(0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    int pc = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && coid >= 0 && pc >= 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, sender_main, &coid) == 0);
    /* The message is sent (and waits) before the pulse. */
    int tid = 0;
    (void)tid;
    struct _pulse p;
    CHECK_EQ_LONG(MsgSendPulse(pc, 10, 6, 66), 0);
    uint64_t t = 10 * SEC;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    CHECK_EQ_LONG(MsgReceivePulse(chid, &p, sizeof p, NULL), 0);
    CHECK_EQ_LONG(p.code, 6);
    CHECK_EQ_LONG(p.value.sival_int, 66);
    /* The message is still there for MsgReceive(). */
    char buf[16];
    struct _msg_info info;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    rcvid_t r = MsgReceive(chid, buf, sizeof buf, &info);
    CHECK(r > 0);
    CHECK_EQ_LONG(info.msglen, 3);
    CHECK(memcmp(buf, "msg", 3) == 0);
    CHECK_EQ_LONG(MsgReply(r, 7, "ok", 2), 0);
    void *ok = NULL;
    CHECK(pthread_join(th, &ok) == 0 && ok == (void *)1);
    /* With nothing but messages, MsgReceivePulse() times out. */
    REQUIRE(pthread_create(&th, NULL, sender_main, &coid) == 0);
    t = 50000000;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    errno = 0;
    CHECK(MsgReceivePulse(chid, &p, sizeof p, NULL) == -1 && errno == ETIMEDOUT);
    t = 10 * SEC;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL);
    r = MsgReceive(chid, buf, sizeof buf, &info);
    CHECK(r > 0 && MsgReply(r, 7, "ok", 2) == 0);
    CHECK(pthread_join(th, &ok) == 0 && ok == (void *)1);
    ConnectDetach(pc);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}
