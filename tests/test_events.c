/*
 * Events (MsgDeliverEvent and its relay, secure events): a sigevent filled
 * field by field, delivered by a server in another process, reaches the
 * client's private channel; nothing in the event's bytes makes a server
 * act with its own rights; a hostile server can make a client do no more
 * than QNX's kernel would.
 */
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "chansock.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/neutrino.h"

#include "msg/event.h"
#include "msg/wire.h"

/* A client's channels: a private one of its own (*mine) with a side
 * connection to it (*self), where it asks for its pulses, and a connection
 * to channel chid of the server (ConnectAttach() flags).  0, or -1. */
static int pulse_channels(pid_t server, int chid, int flags, int *mine, int *self, int *srv)
{
    *mine = ChannelCreate(_NTO_CHF_PRIVATE);
    *self = ConnectAttach(ND_LOCAL_NODE, 0, *mine, _NTO_SIDE_CHANNEL, 0);
    *srv = ConnectAttach(ND_LOCAL_NODE, server, chid, _NTO_SIDE_CHANNEL, flags);
    return *mine < 0 || *self < 0 || *srv < 0 ? -1 : 0;
}

/* MsgReceive() of one pulse with a 10 s deadline.  0, or -1. */
static int receive_pulse(int chid, struct _pulse *p, uint64_t ns)
{
    uint64_t t = ns;
    if (TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL) < 0)
        return -1;
    rcvid_t r = MsgReceive(chid, p, sizeof *p, NULL);
    return r == 0 ? 0 : -1;
}

/* ---- a server thread in this process that keeps the events it gets ---- */

struct evserver {
    int chid;
    pthread_t th;
    int n;                     /* events to receive */
    rcvid_t rcvid[4];
    struct sigevent ev[4];
    unsigned coflags_seen;
};

static void *evserver_main(void *arg)
{
    struct evserver *s = arg;
    for (int i = 0; i < s->n; i++) {
        rcvid_t r;
        do
            r = MsgReceive(s->chid, &s->ev[i], sizeof s->ev[i], NULL);
        while (r == 0);
        if (r < 0)
            return NULL;
        s->rcvid[i] = r;
        MsgReply(r, 0, NULL, 0);
    }
    return NULL;
}

/* The channel now, the thread later (evserver_run()): a test forks its
 * client between the two.  GCC 12's AddressSanitizer takes no lock around
 * fork(), so a thread of ours that is starting (its runtime allocates then)
 * while we fork can leave the child's allocator locked for good, and the
 * child's own threads (its event relay) hang at their first allocation. */
static int evserver_open(struct evserver *s, int n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    return s->chid > 0 ? 0 : -1;
}

static int evserver_run(struct evserver *s)
{
    return pthread_create(&s->th, NULL, evserver_main, s) == 0 ? 0 : -1;
}

/* ---- a client in another process, with a private channel ---- */

struct client_arg {
    pid_t server;
    int chid;
    int regevents;     /* connect with _NTO_COF_REG_EVENTS */
    int registered;    /* register the event (coid of the server) */
    int updateable;
};

/* Child: sends a field-by-field pulse event for its private channel to the
 * server, then waits for the pulse and reports code and value. */
static int client_body(int in, int out, void *arg)
{
    (void)in;
    struct client_arg *a = arg;
    if (geteuid() == 0 && drop_to_nobody() < 0)
        return 20;
    int mine, self, srv;
    if (pulse_channels(a->server, a->chid, a->regevents ? _NTO_COF_REG_EVENTS : 0, &mine, &self,
                       &srv) < 0)
        return 21;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_PULSE;
    ev.sigev_coid = self;
    ev.sigev_code = 11;
    ev.sigev_priority = 10;
    ev.sigev_value.sival_int = 0x1234;
    if (a->updateable)
        SIGEV_MAKE_UPDATEABLE(&ev);
    if (a->registered && MsgRegisterEvent(&ev, srv) != EOK)
        return 22;
    if (MsgSend(srv, &ev, sizeof ev, NULL, 0) != 0)
        return 23;
    struct _pulse p;
    int rc = receive_pulse(mine, &p, 10000000000ull);
    int res[2] = { rc == 0 ? p.code : -1000, rc == 0 ? p.value.sival_int : errno };
    child_write_full(out, res, sizeof res);
    char q;
    child_read_full(in, &q, 1); /* stay until told */
    return 0;
}

TEST(field_by_field_pulse_event_reaches_a_private_channel_in_another_process)
{
    struct evserver s;
    REQUIRE(evserver_open(&s, 1) == 0);
    struct client_arg a = { .server = getpid(), .chid = s.chid };
    struct target t;
    REQUIRE(target_start(&t, client_body, &a) == 0);
    REQUIRE(evserver_run(&s) == 0);
    REQUIRE(thread_join_ms(s.th, 10000) == 0);
    /* The event as the client filled it, untouched by the server. */
    CHECK_EQ_LONG(SIGEV_GET_TYPE(&s.ev[0]), SIGEV_PULSE);
    CHECK_EQ_LONG(s.ev[0].sigev_code, 11);
    CHECK_EQ_LONG(MsgVerifyEvent(s.rcvid[0], &s.ev[0]), EOK);
    CHECK_EQ_LONG(MsgDeliverEvent(s.rcvid[0], &s.ev[0]), 0);
    int res[2] = { 0, 0 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], 11);
    CHECK_EQ_LONG(res[1], 0x1234);
    char q = 0;
    target_write(&t, &q, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    /* Its connection gone, the client is gone for MsgDeliverEvent(). */
    struct _pulse p;
    CHECK_EQ_LONG(receive_pulse(s.chid, &p, 10000000000ull), 0);
    CHECK_EQ_LONG(p.code, _PULSE_CODE_DISCONNECT);
    errno = 0;
    CHECK(MsgDeliverEvent(s.rcvid[0], &s.ev[0]) == -1 && errno == ESRCH);
    ChannelDestroy(s.chid);
}

TEST(registered_event_delivers_the_clients_own_copy)
{
    for (int upd = 0; upd < 2; upd++) {
        struct evserver s;
        REQUIRE(evserver_open(&s, 1) == 0);
        struct client_arg a = { .server = getpid(), .chid = s.chid, .registered = 1,
                                .updateable = upd };
        struct target t;
        REQUIRE(target_start(&t, client_body, &a) == 0);
        REQUIRE(evserver_run(&s) == 0);
        REQUIRE(thread_join_ms(s.th, 10000) == 0);
        CHECK(s.ev[0].sigev_notify & SIGEV_FLAG_HANDLE);
        CHECK_EQ_LONG(MsgVerifyEvent(s.rcvid[0], &s.ev[0]), EOK);
        /* The server changes what it holds: only the value may count. */
        s.ev[0].sigev_code = 99;
        s.ev[0].sigev_value.sival_int = 0x5678;
        CHECK_EQ_LONG(MsgDeliverEvent(s.rcvid[0], &s.ev[0]), 0);
        int res[2] = { 0, 0 };
        CHECK(target_read(&t, res, sizeof res, 10000) == 0);
        CHECK_EQ_LONG(res[0], 11);
        CHECK_EQ_LONG(res[1], upd ? 0x5678 : 0x1234);
        char q = 0;
        target_write(&t, &q, 1);
        CHECK_EQ_LONG(target_finish(&t, 10000), 0);
        ChannelDestroy(s.chid);
    }
}

TEST(connection_for_registered_events_refuses_unregistered_ones)
{
    struct evserver s;
    REQUIRE(evserver_open(&s, 1) == 0);
    struct client_arg a = { .server = getpid(), .chid = s.chid, .regevents = 1 };
    struct target t;
    REQUIRE(target_start(&t, client_body, &a) == 0);
    REQUIRE(evserver_run(&s) == 0);
    REQUIRE(thread_join_ms(s.th, 10000) == 0);
    errno = 0;
    CHECK(MsgVerifyEvent(s.rcvid[0], &s.ev[0]) == -1 && errno == EACCES);
    errno = 0;
    CHECK(MsgDeliverEvent(s.rcvid[0], &s.ev[0]) == -1 && errno == EACCES);
    kill(t.pid, SIGKILL);
    target_finish(&t, 10000);
    ChannelDestroy(s.chid);
}

/* ---- private channels ---- */

static int private_body(int in, int out, void *arg)
{
    (void)in;
    (void)arg;
    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    child_write_full(out, &chid, sizeof chid);
    char q;
    child_read_full(in, &q, 1);
    return 0;
}

TEST(another_process_cannot_connect_to_a_private_channel)
{
    struct target t;
    REQUIRE(target_start(&t, private_body, NULL) == 0);
    int chid = 0;
    REQUIRE(target_read(&t, &chid, sizeof chid, 10000) == 0);
    REQUIRE(chid > 0);
    /* No connection that would take pulses nobody reads: no channel. */
    errno = 0;
    CHECK(ConnectAttach(ND_LOCAL_NODE, t.pid, chid, _NTO_SIDE_CHANNEL, 0) == -1 &&
          errno == ESRCH);
    char q = 0;
    target_write(&t, &q, 1);
    target_finish(&t, 10000);
    /* Its own process connects, and pulses arrive. */
    int mine = ChannelCreate(_NTO_CHF_PRIVATE);
    int self = ConnectAttach(ND_LOCAL_NODE, 0, mine, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(mine > 0 && self >= 0);
    CHECK_EQ_LONG(MsgSendPulse(self, 10, 3, 33), 0);
    struct _pulse p;
    CHECK_EQ_LONG(receive_pulse(mine, &p, 10000000000ull), 0);
    CHECK_EQ_LONG(p.code, 3);
    CHECK_EQ_LONG(p.value.sival_int, 33);
    ConnectDetach(self);
    ChannelDestroy(mine);
}

/* ---- in this process ---- */

static atomic_int thread_ran;
static int thread_ran_ev = -1; /* rung by the callback: the test waits on it */
static void on_event(union sigval v)
{
    atomic_store(&thread_ran, v.sival_int);
    uint64_t one = 1;
    if (write(thread_ran_ev, &one, sizeof one) < 0) { /* the waiter's deadline reports it */ }
}

TEST(events_within_one_process)
{
    /* rcvid 0: this process. */
    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    int self = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(chid > 0 && self >= 0);
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, self, SIGEV_PULSE_PRIO_INHERIT, 4, 44);
    CHECK_EQ_LONG(MsgDeliverEvent(0, &ev), 0);
    struct _pulse p;
    CHECK_EQ_LONG(receive_pulse(chid, &p, 10000000000ull), 0);
    CHECK_EQ_LONG(p.code, 4);
    CHECK_EQ_LONG(p.value.sival_int, 44);
    /* A registered one, then unregistered. */
    CHECK_EQ_LONG(MsgRegisterEvent(&ev, self), EOK);
    CHECK_EQ_LONG(MsgVerifyEvent(0, &ev), EOK);
    CHECK_EQ_LONG(MsgDeliverEvent(0, &ev), 0);
    CHECK_EQ_LONG(receive_pulse(chid, &p, 10000000000ull), 0);
    CHECK_EQ_LONG(p.code, 4);
    CHECK_EQ_LONG(MsgUnregisterEvent(&ev), EOK);
    errno = 0;
    CHECK(MsgUnregisterEvent(&ev) == -1 && errno == ESRCH);
    errno = 0;
    CHECK(MsgVerifyEvent(0, &ev) == -1 && errno == ESRCH);
    errno = 0;
    CHECK(MsgDeliverEvent(0, &ev) == -1 && errno == ESRCH);
    /* SIGEV_SIGNAL_CODE: si_code is the event's. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL_CODE;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_code = -42;
    ev.sigev_value.sival_int = 77;
    CHECK_EQ_LONG(MsgDeliverEvent(0, &ev), 0);
    siginfo_t si;
    struct timespec ts = { 10, 0 };
    CHECK_EQ_LONG(sigtimedwait(&set, &si, &ts), SIGUSR1);
    CHECK_EQ_LONG(si.si_code, -42);
    CHECK_EQ_LONG(si.si_value.sival_int, 77);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* SIGEV_THREAD: runs the function with the value. */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_event;
    thread_ran_ev = eventfd(0, EFD_CLOEXEC);
    REQUIRE(thread_ran_ev >= 0);
    ev.sigev_value.sival_int = 5;
    CHECK_EQ_LONG(MsgDeliverEvent(0, &ev), 0);
    CHECK(wait_readable(thread_ran_ev, 10000) == 0);
    CHECK_EQ_LONG(atomic_load(&thread_ran), 5);
    close(thread_ran_ev);
    /* Malformed events. */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_PULSE;
    ev.sigev_coid = self;
    ev.sigev_code = 300;
    errno = 0;
    CHECK(MsgDeliverEvent(0, &ev) == -1 && errno == EINVAL);
    ev.sigev_notify = 0x77; /* no such type */
    errno = 0;
    CHECK(MsgVerifyEvent(0, &ev) == -1 && errno == EINVAL);
    SIGEV_PULSE_INIT(&ev, 0x12345, 10, 1, 1);
    errno = 0;
    CHECK(MsgVerifyEvent(0, &ev) == -1 && errno == ESRCH);
    ConnectDetach(self);
    ChannelDestroy(chid);
}

/* ---- attacks ---- */

/* Attacker client (uid 65534): sends a root server events meant to make
 * it pulse its own private channel: the fields where SIGEV_PULSE_INIT()
 * records where a connection leads (pid, chid) name the server's own, with
 * an ordinary code and with a system one. */
struct attack_arg {
    pid_t server;
    int pub, priv;
};

static int forging_client(int in, int out, void *arg)
{
    struct attack_arg *a = arg;
    if (geteuid() == 0 && drop_to_nobody() < 0)
        return 20;
    int srv = ConnectAttach(ND_LOCAL_NODE, a->server, a->pub, _NTO_SIDE_CHANNEL, 0);
    if (srv < 0)
        return 21;
    struct sigevent ev[2];
    memset(ev, 0, sizeof ev);
    for (int i = 0; i < 2; i++) {
        ev[i].sigev_notify = SIGEV_PULSE;
        ev[i].sigev_coid = 5; /* not a connection of ours */
        ev[i].sigev_value.sival_int = 0x666;
    }
    for (int i = 0; i < 2; i++) {
        /* Where SIGEV_PULSE_INIT() records where a connection leads: the
         * victim's private channel. */
        ev[i]._sigev_un._pad[2] = a->priv;
        ev[i]._sigev_un._pad[3] = (int)a->server;
        ev[i].sigev_priority = 10;
    }
    ev[0].sigev_code = 17;
    ev[1].sigev_code = _PULSE_CODE_DISCONNECT;
    for (int i = 0; i < 2; i++)
        if (MsgSend(srv, &ev[i], sizeof ev[i], NULL, 0) != 0)
            return 22;
    char q;
    child_write_full(out, "k", 1);
    child_read_full(in, &q, 1);
    return 0;
}

TEST(a_client_cannot_make_the_server_pulse_its_own_channel)
{
    if (geteuid() != 0)
        SKIP("needs root: the attacker runs as uid 65534 against a root server");
    /* The victim's channel is private: only the server itself can reach it,
     * so any pulse arriving there was sent with the server's rights. */
    int priv = ChannelCreate(_NTO_CHF_PRIVATE | _NTO_CHF_UNBLOCK);
    int pub = ChannelCreate(0);
    REQUIRE(priv > 0 && pub > 0);
    struct attack_arg a = { getpid(), pub, priv };
    struct target t;
    REQUIRE(target_start(&t, forging_client, &a) == 0);
    for (int i = 0; i < 2; i++) {
        struct sigevent ev;
        rcvid_t r;
        do
            r = MsgReceive(pub, &ev, sizeof ev, NULL);
        while (r == 0);
        REQUIRE(r > 0);
        MsgReply(r, 0, NULL, 0);
        errno = 0;
        int rc = MsgDeliverEvent(r, &ev);
        if (i == 0)
            CHECK_EQ_LONG(rc, 0); /* to the attacker's own coid 5: nowhere */
        else
            CHECK(rc == -1 && errno == EPERM); /* a system pulse code */
    }
    char k;
    CHECK(target_read(&t, &k, 1, 10000) == 0);
    /* Nothing reached the private channel. */
    struct _pulse p;
    errno = 0;
    CHECK(receive_pulse(priv, &p, 200000000ull) == -1 && errno == ETIMEDOUT);
    char q = 0;
    target_write(&t, &q, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    ChannelDestroy(priv);
    ChannelDestroy(pub);
}

/* A hostile server (uid 65534), written against the wire format rather than
 * the library: it takes the relay endpoint the client hands over and writes
 * into it what it likes. */
static int hostile_server(int in, int out, void *arg)
{
    (void)arg;
    if (geteuid() == 0 && drop_to_nobody() < 0)
        return 20;
    struct sockaddr_un sa;
    socklen_t len = channel_addr(getpid(), 1, &sa);
    int lsn = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, len) < 0 || listen(lsn, 4) < 0)
        return 21;
    child_write_full(out, "r", 1);
    int c = accept(lsn, NULL, NULL);
    if (c < 0)
        return 22;
    int relay = -1, coid = -1;
    uint32_t seq = 0;
    while (seq == 0) {
        struct pm_wire_send h;
        int body = 0;
        struct iovec v[2] = { { &h, sizeof h }, { &body, sizeof body } };
        union { struct cmsghdr al; char b[CMSG_SPACE(sizeof(int))]; } cm;
        struct msghdr m = { .msg_iov = v, .msg_iovlen = 2, .msg_control = cm.b,
                            .msg_controllen = sizeof cm.b };
        if (recvmsg(c, &m, 0) <= 0)
            return 23;
        struct cmsghdr *ch = CMSG_FIRSTHDR(&m);
        if (h.kind == PM_WIRE_EVSOCK && ch && ch->cmsg_type == SCM_RIGHTS)
            memcpy(&relay, CMSG_DATA(ch), sizeof relay);
        if (h.kind == PM_WIRE_MSG) {
            seq = h.seq;
            coid = body; /* the client told us its coid to its channel */
        }
    }
    if (relay < 0)
        return 24;
    struct pm_wire_reply rep = { .kind = PM_WIRE_REPLY, .seq = seq };
    if (send(c, &rep, sizeof rep, 0) != sizeof rep)
        return 25;
    struct pm_evreq bad[4], good;
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, coid, 10, _PULSE_CODE_DISCONNECT, 1);
    pm_evreq_from_event(&bad[0], &ev, 0);
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGTERM;
    pm_evreq_from_event(&bad[1], &ev, 0);
    ev.sigev_notify = SIGEV_THREAD;
    pm_evreq_from_event(&bad[2], &ev, 0);
    SIGEV_PULSE_INIT(&ev, coid, 10, -64, 1); /* dispatch_unblock()'s code */
    pm_evreq_from_event(&bad[3], &ev, 0);
    SIGEV_PULSE_INIT(&ev, coid, 10, 5, 77);
    pm_evreq_from_event(&good, &ev, 0);
    for (int i = 0; i < 4; i++)
        if (send(relay, &bad[i], sizeof bad[i], 0) != sizeof bad[i])
            return 26;
    if (send(relay, &good, sizeof good, 0) != sizeof good)
        return 27;
    char q;
    child_read_full(in, &q, 1);
    return 0;
}

TEST(a_hostile_server_can_do_no_more_than_qnx_lets_it)
{
    if (geteuid() != 0)
        SKIP("needs root: the hostile server runs as uid 65534 against a root client");
    struct target t;
    REQUIRE(target_start_ready(&t, hostile_server, NULL) >= 0);
    int mine, self, srv;
    REQUIRE(pulse_channels(t.pid, 1, 0, &mine, &self, &srv) == 0 && mine > 0);
    CHECK_EQ_LONG(MsgSend(srv, &self, sizeof self, NULL, 0), 0);
    /* Requests are handled in order: the first pulse to arrive must be the
     * only harmless one (a SIGTERM, had it been raised, ends this test). */
    struct _pulse p;
    CHECK_EQ_LONG(receive_pulse(mine, &p, 10000000000ull), 0);
    CHECK_EQ_LONG(p.code, 5);
    CHECK_EQ_LONG(p.value.sival_int, 77);
    char q = 0;
    target_write(&t, &q, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    ConnectDetach(srv);
    ConnectDetach(self);
    ChannelDestroy(mine);
}

/* ---- a rcvid outlives its reply, never its connection ---- */

struct slot_arg {
    pid_t server;
    int chid;
    int value;       /* of the pulse event it sends */
    int wait_pulse;  /* wait for a pulse and report its value */
};

/* Child: a client with a private channel that sends the server a pulse
 * event for it; then either stays until told (and exits: its connection
 * closes), or waits for a pulse and reports its value first. */
static int slot_client(int in, int out, void *arg)
{
    struct slot_arg *a = arg;
    if (geteuid() == 0 && drop_to_nobody() < 0)
        return 20;
    int mine, self, srv;
    if (pulse_channels(a->server, a->chid, 0, &mine, &self, &srv) < 0)
        return 21;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_PULSE;
    ev.sigev_coid = self;
    ev.sigev_code = 12;
    ev.sigev_priority = 10;
    ev.sigev_value.sival_int = a->value;
    if (MsgSend(srv, &ev, sizeof ev, NULL, 0) != 0)
        return 22;
    if (a->wait_pulse) {
        struct _pulse p;
        int value = receive_pulse(mine, &p, 10000000000ull) == 0 ? p.value.sival_int : -1;
        child_write_full(out, &value, sizeof value);
    }
    char q;
    child_read_full(in, &q, 1);
    return 0;
}

/* One message of a client, with a deadline; the rcvid (replied to). */
static rcvid_t receive_event(int chid, struct sigevent *ev)
{
    for (;;) {
        uint64_t t = 10000000000ull;
        if (TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL) < 0)
            return -1;
        rcvid_t r = MsgReceive(chid, ev, sizeof *ev, NULL);
        if (r == 0)
            continue; /* a pulse */
        if (r > 0)
            MsgReply(r, 0, NULL, 0);
        return r;
    }
}

TEST(a_stale_rcvid_does_not_reach_the_next_client_in_its_slot)
{
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    REQUIRE(chid > 0);
    /* Client A sends its event, is replied to, and goes. */
    struct slot_arg a = { .server = getpid(), .chid = chid, .value = 0xbad };
    struct target ta;
    REQUIRE(target_start(&ta, slot_client, &a) == 0);
    struct sigevent ev_a, ev_b;
    rcvid_t rcvid_a = receive_event(chid, &ev_a);
    REQUIRE(rcvid_a > 0);
    char q = 0;
    target_write(&ta, &q, 1);
    CHECK_EQ_LONG(target_finish(&ta, 10000), 0);
    /* Its connection is dropped (the disconnect pulse says so): the slot
     * is free for the next client. */
    struct _pulse p;
    REQUIRE(receive_pulse(chid, &p, 10000000000ull) == 0);
    CHECK_EQ_LONG(p.code, _PULSE_CODE_DISCONNECT);
    /* Client B takes the same slot. */
    struct slot_arg b = { .server = getpid(), .chid = chid, .value = 0x600d, .wait_pulse = 1 };
    struct target tb;
    REQUIRE(target_start(&tb, slot_client, &b) == 0);
    rcvid_t rcvid_b = receive_event(chid, &ev_b);
    REQUIRE(rcvid_b > 0);
    REQUIRE((rcvid_b >> 8) == (rcvid_a >> 8)); /* same scoid: the slot was reused */
    /* A's rcvid names A's connection, which is gone: not B. */
    errno = 0;
    CHECK(MsgDeliverEvent(rcvid_a, &ev_a) == -1 && errno == ESRCH);
    errno = 0;
    CHECK(MsgVerifyEvent(rcvid_a, &ev_a) == -1 && errno == ESRCH);
    struct sigevent conn;
    memset(&conn, 0, sizeof conn);
    conn.sigev_notify = SIGEV_PM_CONNECTION;
    errno = 0;
    CHECK(MsgDeliverEvent(rcvid_a, &conn) == -1 && errno == ESRCH);
    /* B's own rcvid reaches B, and B's first pulse is its own. */
    CHECK_EQ_LONG(MsgDeliverEvent(rcvid_b, &ev_b), 0);
    int value = 0;
    CHECK(target_read(&tb, &value, sizeof value, 10000) == 0);
    CHECK_EQ_LONG(value, 0x600d);
    target_write(&tb, &q, 1);
    CHECK_EQ_LONG(target_finish(&tb, 10000), 0);
    ChannelDestroy(chid);
}
