/* QNX message passing: channels, connections, messages, pulses, identity. */
#include <fcntl.h>
#include <stddef.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "chansock.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/neutrino.h"

/* ---- a small server run by a thread of the test ---- */

struct server {
    int chid;
    pthread_t th;
    atomic_int handled;
    atomic_int pulses;
    struct _pulse last_pulse;
    struct _msg_info last_info;
};

/* Echo server: replies with the message reversed, status = its length.
 * Message "quit" ends it; "err" answers MsgError(EPERM). */
static void *echo_main(void *arg)
{
    struct server *s = arg;
    char buf[256];
    for (;;) {
        struct _msg_info info;
        rcvid_t r = MsgReceive(s->chid, buf, sizeof buf, &info);
        if (r < 0)
            return NULL;
        if (r == 0) {
            memcpy(&s->last_pulse, buf, sizeof s->last_pulse);
            atomic_fetch_add(&s->pulses, 1);
            continue;
        }
        s->last_info = info;
        int n = info.msglen;
        if (n == 4 && memcmp(buf, "quit", 4) == 0) {
            MsgReply(r, 0, NULL, 0);
            return NULL;
        }
        if (n == 3 && memcmp(buf, "err", 3) == 0) {
            MsgError(r, EPERM);
            continue;
        }
        char out[256];
        for (int i = 0; i < n; i++)
            out[i] = buf[n - 1 - i];
        atomic_fetch_add(&s->handled, 1);
        MsgReply(r, n, out, (size_t)n);
    }
}

static int server_start(struct server *s, unsigned flags)
{
    memset(s, 0, sizeof *s);
    s->chid = ChannelCreate(flags);
    if (s->chid < 0)
        return -1;
    return pthread_create(&s->th, NULL, echo_main, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid >= 0) {
        MsgSend(coid, "quit", 4, NULL, 0);
        ConnectDetach(coid);
    }
    pthread_join(s->th, NULL);
    ChannelDestroy(s->chid);
}

TEST(send_receive_reply_in_process)
{
    struct server s;
    REQUIRE(server_start(&s, 0) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    CHECK(coid & _NTO_SIDE_CHANNEL);
    char reply[16] = { 0 };
    long st = MsgSend(coid, "hello", 5, reply, sizeof reply);
    CHECK_EQ_LONG(st, 5);
    CHECK(memcmp(reply, "olleh", 5) == 0);
    CHECK_EQ_LONG(s.last_info.pid, getpid());
    CHECK_EQ_LONG(s.last_info.msglen, 5);
    CHECK_EQ_LONG(s.last_info.srcmsglen, 5);
    CHECK_EQ_LONG(s.last_info.dstmsglen, sizeof reply);
    CHECK_EQ_LONG(s.last_info.chid, s.chid);
    CHECK_EQ_LONG(s.last_info.coid, coid);
    CHECK_EQ_LONG(s.last_info.tid, gettid());
    /* Reply shorter than the buffer; a reply longer is cut to the buffer. */
    char tiny[2];
    CHECK_EQ_LONG(MsgSend(coid, "abcdef", 6, tiny, sizeof tiny), 6);
    CHECK(tiny[0] == 'f' && tiny[1] == 'e');
    errno = 0;
    CHECK_EQ_LONG(MsgSend(coid, "err", 3, NULL, 0), -1);
    CHECK_EQ_LONG(errno, EPERM);
    CHECK_EQ_LONG(ConnectDetach(coid), 0);
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == EBADF);
    server_stop(&s);
}

TEST(ordinary_coid_is_a_file_descriptor)
{
    struct server s;
    REQUIRE(server_start(&s, 0) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, 0, 0);
    REQUIRE(coid >= 0);
    CHECK(fcntl(coid, F_GETFD) >= 0);
    CHECK(!(coid & _NTO_SIDE_CHANNEL));
    int c2 = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, 100, _NTO_COF_CLOEXEC);
    CHECK(c2 >= 100);
    CHECK(fcntl(c2, F_GETFD) & FD_CLOEXEC);
    char r[8];
    CHECK_EQ_LONG(MsgSend(c2, "ab", 2, r, sizeof r), 2);
    /* A coid closed behind our back and reused by a file: refused. */
    close(coid);
    int other = open("/dev/null", O_RDONLY);
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == EBADF);
    close(other);
    ConnectDetach(c2);
    server_stop(&s);
}

TEST(connect_errors)
{
    errno = 0;
    CHECK(ConnectAttach(ND_LOCAL_NODE, getpid(), 999, 0, 0) == -1 && errno == ESRCH);
    errno = 0;
    CHECK(ConnectAttach(7, 0, 1, 0, 0) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(ChannelDestroy(999) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(MsgReply(12345 << 8 | 1, 0, NULL, 0) == -1 && errno == ESRCH);
    errno = 0;
    CHECK(MsgSendPulse(123456, 1, 1, 1) == -1 && errno == EBADF);
}

/* ---- large messages, MsgRead/MsgWrite at offsets ---- */

#define BIG (6u << 20)

static void *big_main(void *arg)
{
    struct server *s = arg;
    char head[64];
    struct _msg_info info;
    rcvid_t r = MsgReceive(s->chid, head, sizeof head, &info);
    if (r <= 0)
        return NULL;
    /* Read the whole message from the client at several offsets. */
    unsigned char *all = malloc(BIG);
    size_t got = 0;
    while (got < (size_t)info.srcmsglen) {
        ssize_t n = MsgRead(r, all + got, 1 << 20, got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int ok = got == BIG && memcmp(all, head, sizeof head) == 0;
    for (size_t i = 0; ok && i < BIG; i += 4096)
        ok = all[i] == (unsigned char)(i / 4096);
    /* Beyond the end: nothing. */
    ok = ok && MsgRead(r, head, sizeof head, BIG) == 0;
    /* Answer with the same bytes, written back to front at offsets. */
    for (size_t off = BIG; off > 0;) {
        size_t n = off >= (1 << 20) ? (1 << 20) : off;
        off -= n;
        if (MsgWrite(r, all + off, n, off) != (ssize_t)n)
            ok = 0;
    }
    MsgReply(r, ok ? 1 : 0, NULL, 0);
    free(all);
    return NULL;
}

TEST(multi_megabyte_messages)
{
    struct server s = { 0 };
    s.chid = ChannelCreate(0);
    REQUIRE(s.chid > 0);
    REQUIRE(pthread_create(&s.th, NULL, big_main, &s) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    unsigned char *out = malloc(BIG), *back = calloc(1, BIG);
    REQUIRE(out && back);
    for (size_t i = 0; i < BIG; i++)
        out[i] = (unsigned char)(i / 4096);
    CHECK_EQ_LONG(MsgSend(coid, out, BIG, back, BIG), 1);
    CHECK(memcmp(out, back, BIG) == 0);
    pthread_join(s.th, NULL);
    ConnectDetach(coid);
    ChannelDestroy(s.chid);
    free(out);
    free(back);
}

/* ---- pulses and disconnects ---- */

TEST(pulses_and_disconnect_pulse)
{
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    REQUIRE(chid > 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    CHECK_EQ_LONG(MsgSendPulse(coid, 10, 5, 0x1234), 0);
    struct _pulse p;
    struct _msg_info info;
    CHECK_EQ_LONG(MsgReceive(chid, &p, sizeof p, &info), 0);
    CHECK_EQ_LONG(p.code, 5);
    CHECK_EQ_LONG(p.value.sival_int, 0x1234);
    CHECK_EQ_LONG(p.type, _PULSE_TYPE);
    int scoid = p.scoid;
    CHECK(scoid > 0);
    errno = 0;
    CHECK(MsgSendPulse(coid, 10, 200, 0) == -1 && errno == EINVAL);
    CHECK_EQ_LONG(ConnectDetach(coid), 0);
    CHECK_EQ_LONG(MsgReceive(chid, &p, sizeof p, NULL), 0);
    CHECK_EQ_LONG(p.code, _PULSE_CODE_DISCONNECT);
    CHECK_EQ_LONG(p.scoid, scoid);
    /* What a QNX server does next: detach the scoid.  Harmless here. */
    CHECK_EQ_LONG(ConnectDetach(p.scoid), 0);
    ChannelDestroy(chid);
}

/* ---- across processes: identity, deaths ---- */

struct chan_addr { pid_t pid; int chid; };

/* A child that sends one message to (pid, chid) and reports the result. */
static int client_body(int in, int out, void *arg)
{
    (void)in;
    struct chan_addr *a = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, 0, 0);
    if (coid < 0)
        return 10;
    child_write_full(out, "R", 1);
    char r[64];
    long st = MsgSend(coid, "ping", 4, r, sizeof r);
    long res[2] = { st, st < 0 ? errno : 0 };
    child_write_full(out, res, sizeof res);
    return 0;
}

TEST(server_death_unblocks_client_with_esrch)
{
    /* The server is a child; the client is us. */
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t srv = fork();
    REQUIRE(srv >= 0);
    if (srv == 0) {
        int chid = ChannelCreate(0);
        child_write_full(ready[1], &chid, sizeof chid);
        char buf[16];
        MsgReceive(chid, buf, sizeof buf, NULL); /* holds the client... */
        _exit(0);                               /* ...and dies unanswered */
    }
    int chid = -1;
    REQUIRE(read(ready[0], &chid, sizeof chid) == sizeof chid && chid > 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, srv, chid, 0, 0);
    REQUIRE(coid >= 0);
    errno = 0;
    CHECK_EQ_LONG(MsgSend(coid, "x", 1, NULL, 0), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    waitpid(srv, NULL, 0);
    /* Afterwards the connection leads nowhere. */
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && (errno == EBADF || errno == ESRCH));
    ConnectDetach(coid);
    errno = 0;
    CHECK(ConnectAttach(ND_LOCAL_NODE, srv, chid, 0, 0) == -1 && errno == ESRCH);
    close(ready[0]);
    close(ready[1]);
}

TEST(client_death_fails_reply_and_server_keeps_serving)
{
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    REQUIRE(chid > 0);
    struct chan_addr a = { getpid(), chid };
    struct target t;
    REQUIRE(target_start(&t, client_body, &a) == 0);
    char buf[16];
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, &info);
    while (r == 0);
    REQUIRE(r > 0);
    CHECK_EQ_LONG(info.pid, t.pid);
    kill(t.pid, SIGKILL);
    target_finish(&t, 10000);
    /* The disconnect comes first; the reply then has nobody to go to. */
    struct _pulse p;
    CHECK_EQ_LONG(MsgReceive(chid, &p, sizeof p, NULL), 0);
    CHECK_EQ_LONG(p.code, _PULSE_CODE_DISCONNECT);
    errno = 0;
    CHECK_EQ_LONG(MsgReply(r, 0, "x", 1), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    /* Still serving. */
    REQUIRE(target_start(&t, client_body, &a) == 0);
    do
        r = MsgReceive(chid, buf, sizeof buf, &info);
    while (r == 0);
    CHECK(r > 0 && MsgReply(r, 42, "pong", 4) == 0);
    long res[2] = { 0, 0 };
    char rd;
    CHECK(target_read(&t, &rd, 1, 10000) == 0);
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], 42);
    /* A second reply to the same rcvid is refused. */
    errno = 0;
    CHECK(MsgReply(r, 0, NULL, 0) == -1 && errno == ESRCH);
    target_finish(&t, 10000);
    ChannelDestroy(chid);
}

static int dropped_client_body(int in, int out, void *arg)
{
    if (drop_to_nobody() < 0)
        return 20;
    return client_body(in, out, arg);
}

TEST(client_identity_comes_from_the_kernel)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    struct chan_addr a = { getpid(), chid };
    struct target t;
    int root = geteuid() == 0;
    REQUIRE(target_start(&t, root ? dropped_client_body : client_body, &a) == 0);
    char buf[16];
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, &info);
    while (r == 0);
    REQUIRE(r > 0);
    struct _client_info ci;
    CHECK_EQ_LONG(ConnectClientInfo(info.scoid, &ci, NGROUPS_MAX_CRED), 0);
    CHECK_EQ_LONG(ci.pid, t.pid);
    uid_t want = root ? 65534 : geteuid();
    CHECK_EQ_LONG(ci.cred.euid, want);
    CHECK_EQ_LONG(ci.cred.ruid, want);
    CHECK_EQ_LONG(ci.cred.suid, want);
    CHECK_EQ_LONG(ci.cred.egid, root ? 65534 : getegid());
    if (root)
        CHECK_EQ_LONG(ci.cred.ngroups, 0);
    MsgReply(r, 0, NULL, 0);
    target_finish(&t, 10000);
    errno = 0;
    CHECK(ConnectClientInfo(0x7fffff, &ci, 0) == -1 && errno == ESRCH);
    ChannelDestroy(chid);
}

/* ---- a client that breaks the protocol ---- */

/* Whether the server closes fd (after its hello), within 10 s. */
static int hung_up(int fd)
{
    char b[64];
    for (int i = 0; i < 4; i++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 10000) != 1)
            return 0;
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r == 0)
            return 1;
        if (r < 0)
            return errno == ECONNRESET;
    }
    return 0;
}

TEST(forged_and_truncated_datagrams_cost_the_sender_its_connection)
{
    struct server s;
    REQUIRE(server_start(&s, 0) == 0);
    struct sockaddr_un sa;
    socklen_t len = channel_addr(getpid(), s.chid, &sa);
    const char *junk[] = { "", "short", "MSG1 but not really a header at all......" };
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sa, len) == 0);
        CHECK(send(fd, junk[i], strlen(junk[i]), 0) >= 0);
        /* The server hangs up on it rather than serve garbage. */
        CHECK(hung_up(fd));
        close(fd);
    }
    /* A header whose length lies about the body. */
    uint32_t lie[14] = { 0x4d534731, 1, 0, 0, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sa, len) == 0);
    CHECK(send(fd, lie, sizeof lie, 0) == sizeof lie);
    CHECK(hung_up(fd));
    close(fd);
    CHECK_EQ_LONG(atomic_load(&s.handled), 0);
    /* Honest clients are still served. */
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    char r[8];
    CHECK_EQ_LONG(MsgSend(coid, "ok", 2, r, sizeof r), 2);
    ConnectDetach(coid);
    server_stop(&s);
}

/* ---- several server threads on one channel ---- */

/* How many pool threads have received a message; `two_served` (an eventfd)
 * becomes readable, and stays so, when a second one has. */
static atomic_int pool_served;
static int two_served = -1;

static void *pool_main(void *arg)
{
    int chid = *(int *)arg;
    char buf[64];
    int first = 1;
    for (;;) {
        rcvid_t r = MsgReceive(chid, buf, sizeof buf, NULL);
        if (r < 0)
            return NULL;
        if (r == 0)
            continue;
        if (first) {
            /* Hold the first message until another thread has received
             * one: with clients sending at once, that must happen while
             * this thread is busy - unless only one thread can receive,
             * which the deadline then shows as one thread taking part. */
            first = 0;
            if (atomic_fetch_add(&pool_served, 1) + 1 == 2) {
                uint64_t one = 1;
                if (write(two_served, &one, sizeof one) != sizeof one)
                    abort();
            }
            struct pollfd p = { .fd = two_served, .events = POLLIN };
            poll(&p, 1, 10000);
        }
        long self = gettid();
        MsgReply(r, self, NULL, 0);
    }
}

TEST(several_threads_receive_on_one_channel)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    atomic_store(&pool_served, 0);
    two_served = eventfd(0, EFD_CLOEXEC);
    REQUIRE(two_served >= 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, pool_main, &chid) == 0);
    /* 8 client processes, 200 messages each; every reply names the server
     * thread; more than one thread must have served (each holds its first
     * message until a second thread has one: see pool_main()). */
    int fds[8][2];
    pid_t kids[8];
    for (int k = 0; k < 8; k++) {
        REQUIRE(pipe(fds[k]) == 0);
        kids[k] = test_fork();
        REQUIRE(kids[k] >= 0);
        if (kids[k] == 0) {
            int coid = ConnectAttach(ND_LOCAL_NODE, getppid(), chid, 0, 0);
            long tids[4] = { 0 };
            int ntids = 0, bad = 0;
            for (int i = 0; i < 200; i++) {
                long st = MsgSend(coid, "work", 4, NULL, 0);
                if (st <= 0) {
                    bad++;
                    continue;
                }
                int seen = 0;
                for (int j = 0; j < ntids; j++)
                    seen |= tids[j] == st;
                if (!seen && ntids < 4)
                    tids[ntids++] = st;
            }
            long res[6] = { bad, ntids, tids[0], tids[1], tids[2], tids[3] };
            child_write_full(fds[k][1], res, sizeof res);
            _exit(0);
        }
    }
    long all[4] = { 0 };
    int nall = 0;
    for (int k = 0; k < 8; k++) {
        long res[6];
        CHECK(child_read_full(fds[k][0], res, sizeof res) == 0);
        CHECK_EQ_LONG(res[0], 0);
        for (int j = 0; j < res[1]; j++) {
            int seen = 0;
            for (int m = 0; m < nall; m++)
                seen |= all[m] == res[2 + j];
            if (!seen && nall < 4)
                all[nall++] = res[2 + j];
        }
        waitpid(kids[k], NULL, 0);
        close(fds[k][0]);
        close(fds[k][1]);
    }
    CHECK(nall > 1);
    fprintf(stderr, "  %d server threads took part\n", nall);
    /* Destroying the channel wakes every receiver. */
    CHECK_EQ_LONG(ChannelDestroy(chid), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    close(two_served);
}

/* ---- a signalled client: unblock ---- */

static void on_usr1(int sig)
{
    (void)sig;
}

struct unblock_ctx { int chid; pid_t tid; atomic_int sent; atomic_int coid; long st; int err; };

static void *unblock_client(void *arg)
{
    struct unblock_ctx *u = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, u->chid, _NTO_SIDE_CHANNEL, 0);
    atomic_store(&u->coid, coid);
    atomic_store(&u->sent, 1);
    errno = 0;
    u->st = MsgSend(coid, "block", 5, NULL, 0);
    u->err = errno;
    ConnectDetach(coid);
    return NULL;
}


/* What a thread of ours is doing, for a test that waited for it in vain. */
static void show_thread(int tid)
{
    static const char *const files[] = { "syscall", "wchan", "stat" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/self/task/%d/%s", tid, files[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(line, sizeof line, f))
            fprintf(stderr, "    %s: %s%s", files[i], line, strchr(line, '\n') ? "" : "\n");
        fclose(f);
    }
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    FILE *f = fopen(path, "re");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Sig", 3) == 0 || strncmp(line, "ShdPnd", 6) == 0 ||
            strncmp(line, "State", 5) == 0)
            fprintf(stderr, "    %s", line);
    if (f)
        fclose(f);
}

/* Nothing waits to be read on socket `fd` (its owner took it all).  0, or
 * -1 after `ms`. */
static int nothing_queued(int fd, int ms)
{
    long long end = now_ms() + ms;
    for (;;) {
        int n = -1;
        if (ioctl(fd, FIONREAD, &n) == 0 && n == 0)
            return 0;
        if (now_ms() >= end)
            return -1;
        poll(NULL, 0, 1);
    }
}

static void unblock_case(unsigned flags)
{
    struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    struct unblock_ctx u = { .chid = ChannelCreate(flags) };
    REQUIRE(u.chid > 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, unblock_client, &u) == 0);
    char buf[16];
    struct _msg_info info;
    rcvid_t r = MsgReceive(u.chid, buf, sizeof buf, &info);
    REQUIRE(r > 0);
    u.tid = info.tid;
    /* Signal the client once it waits for the reply (in recvmsg): a signal
     * in the instant between its send and its wait, or between two of its
     * waits, does not unblock it (see ARCHITECTURE.md, "Message passing").
     * The server's hello (sent when it accepted the connection, before it
     * took the message) may wake the client's first wait: until the client
     * has taken it, a recvmsg() seen in /proc may be that wait, woken but
     * not yet run (the kernel shows a waking task where it slept), which
     * then returns the hello before the client waits again.  So first the
     * hello is gone, then the client is seen waiting: nothing but the
     * signal can end that wait. */
    int cfd = atomic_load(&u.coid) & ~_NTO_SIDE_CHANNEL;
    CHECK(nothing_queued(cfd, 10000) == 0);
    CHECK(thread_in_syscall(&u.tid, SYS_recvmsg, 10000) == 0);
    syscall(SYS_tgkill, getpid(), u.tid, SIGUSR1);
    if (flags & _NTO_CHF_UNBLOCK) {
        struct _pulse p = { 0 };
        uint64_t limit = 20ull * 1000000000;
        TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &limit, NULL);
        long got = MsgReceive(u.chid, &p, sizeof p, NULL);
        CHECK_EQ_LONG(got, 0);
        if (got != 0)
            show_thread(u.tid);
        CHECK_EQ_LONG(p.code, _PULSE_CODE_UNBLOCK);
        CHECK_EQ_LONG(p.value.sival_int, r);
        /* The server decides: here it lets the client go. */
        CHECK_EQ_LONG(MsgError(r, EINTR), 0);
    }
    int joined = thread_join_ms(th, 20000) == 0;
    CHECK(joined);
    if (!joined) {
        show_thread(u.tid);
        ChannelDestroy(u.chid); /* the client's send ends (ESRCH) */
        u.chid = -1;
        REQUIRE(thread_join_ms(th, 20000) == 0);
    }
    CHECK_EQ_LONG(u.st, -1);
    CHECK_EQ_LONG(u.err, EINTR);
    if (!(flags & _NTO_CHF_UNBLOCK)) {
        /* Already let go: a late reply finds nobody. */
        errno = 0;
        CHECK(MsgReply(r, 0, NULL, 0) == -1 && errno == ESRCH);
    }
    if (u.chid > 0)
        ChannelDestroy(u.chid);
    signal(SIGUSR1, SIG_DFL);
}

TEST(signalled_client_without_unblock_flag_returns_eintr)
{
    unblock_case(0);
}

TEST(signalled_client_with_unblock_flag_asks_the_server)
{
    unblock_case(_NTO_CHF_UNBLOCK);
}

/* ---- events ---- */

/* Receives one sigevent in a message, replies, then delivers it. */
static void *event_server(void *arg)
{
    int chid = *(int *)arg;
    struct sigevent ev;
    rcvid_t r;
    do
        r = MsgReceive(chid, &ev, sizeof ev, NULL);
    while (r == 0);
    if (r < 0)
        return NULL;
    MsgReply(r, 0, NULL, 0);
    /* After the reply, as servers do: the connection still names the client. */
    MsgDeliverEvent(r, &ev);
    return NULL;
}

static int send_event(const struct sigevent *ev)
{
    int chid = ChannelCreate(0);
    pthread_t th;
    if (chid < 0 || pthread_create(&th, NULL, event_server, &chid) != 0)
        return -1;
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    long st = MsgSend(coid, ev, sizeof *ev, NULL, 0);
    pthread_join(th, NULL);
    ConnectDetach(coid);
    ChannelDestroy(chid);
    return st == 0 ? 0 : -1;
}

TEST(deliver_event_pulse)
{
    int notify = ChannelCreate(0);
    REQUIRE(notify > 0);
    int self = ConnectAttach(ND_LOCAL_NODE, 0, notify, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(self >= 0);
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, self, 10, 7, 0xbeef);
    CHECK_EQ_LONG(send_event(&ev), 0);
    struct _pulse p;
    CHECK_EQ_LONG(MsgReceive(notify, &p, sizeof p, NULL), 0);
    CHECK_EQ_LONG(p.code, 7);
    CHECK_EQ_LONG(p.value.sival_int, 0xbeef);
    ConnectDetach(self);
    ChannelDestroy(notify);
}

TEST(deliver_event_signal)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old); /* inherited by the server thread */
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2,
                           .sigev_value.sival_int = 99 };
    CHECK_EQ_LONG(send_event(&ev), 0);
    struct timespec ts = { 10, 0 };
    siginfo_t si;
    CHECK_EQ_LONG(sigtimedwait(&set, &si, &ts), SIGUSR2);
    CHECK_EQ_LONG(si.si_value.sival_int, 99);
    CHECK_EQ_LONG(si.si_pid, getpid());
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- a descriptor handed over with a reply ---- */

#include "msg/msg.h"

static void *fd_server(void *arg)
{
    int chid = *(int *)arg;
    char buf[16];
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, NULL);
    while (r == 0);
    if (r < 0)
        return NULL;
    int obj = memfd_create("peermap-object", MFD_CLOEXEC);
    if (obj < 0 || ftruncate(obj, 4096) < 0 || pwrite(obj, "shared!", 7, 0) != 7)
        return NULL;
    iov_t v = { "meta", 4 };
    pm_msg_reply_fd(r, 7, &v, 1, obj);
    close(obj); /* the client got its own */
    return NULL;
}

TEST(reply_hands_over_a_descriptor)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, fd_server, &chid) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    char meta[8] = { 0 };
    CHECK_EQ_LONG(MsgSend(coid, "give", 4, meta, sizeof meta), 7);
    CHECK(memcmp(meta, "meta", 4) == 0);
    int obj = pm_msg_take_fd();
    CHECK(obj >= 0);
    if (obj >= 0) {
        CHECK(fcntl(obj, F_GETFD) & FD_CLOEXEC);
        char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, obj, 0);
        CHECK(p != MAP_FAILED && memcmp(p, "shared!", 7) == 0);
        if (p != MAP_FAILED)
            munmap(p, 4096);
        close(obj);
    }
    CHECK_EQ_LONG(pm_msg_take_fd(), -1); /* taken once */
    pthread_join(th, NULL);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

/* ---- system pulse codes cannot be forged by another process ---- */

static int forger_body(int in, int out, void *arg)
{
    (void)in; (void)out;
    struct chan_addr *a = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, 0, 0);
    if (coid < 0)
        return 10;
    /* "Unblock rcvid 12345 for me" and "this connection is gone": both lies. */
    MsgSendPulse(coid, 10, _PULSE_CODE_UNBLOCK, 12345);
    MsgSendPulse(coid, 10, _PULSE_CODE_DISCONNECT, 0);
    MsgSendPulse(coid, 10, 5, 55); /* an honest one */
    return 0;
}

/* ---- a connection that wakes every slice (SO_RCVTIMEO), without a deadline ---- */

struct slow_ctx { int chid; int tid; long long held_ms; };

/* Takes one message and answers it only once its sender has waited in
 * recvmsg() for five slices: each slice ends that recvmsg() with EAGAIN. */
static void *slow_server(void *arg)
{
    struct slow_ctx *s = arg;
    char buf[16];
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(s->chid, buf, sizeof buf, &info);
    while (r == 0);
    if (r < 0)
        return NULL;
    __atomic_store_n(&s->tid, info.tid, __ATOMIC_SEQ_CST);
    if (thread_in_syscall(&s->tid, SYS_recvmsg, 10000) == 0) {
        /* Five slices going by is what is tested, not a synchronisation:
         * the wait is to that deadline (TIMER_ABSTIME), and held_ms says
         * how long it really was. */
        long long t0 = now_ms();
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long long ns = until.tv_nsec + 5LL * PM_MEMMGR_SLICE_MS * 1000000;
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
            ;
        s->held_ms = now_ms() - t0;
    }
    MsgReply(r, 42, "late", 4);
    return NULL;
}

TEST(a_send_without_deadline_on_a_slice_connection_waits_for_the_reply)
{
    /* The memory manager's connections wake their sender every slice so
     * that pm_msg_sendv_timed() can look at its deadline.  A plain
     * MsgSend() on one has no deadline: a slice going by must not end it
     * (it once did, with EAGAIN, whenever a server took longer than one
     * slice to answer). */
    struct slow_ctx s = { .chid = ChannelCreate(0) };
    REQUIRE(s.chid > 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, slow_server, &s) == 0);
    int coid = pm_memmgr_connect(getpid(), s.chid, -1);
    REQUIRE(coid >= 0);
    char reply[8] = { 0 };
    errno = 0;
    long st = MsgSend(coid, "slow", 4, reply, sizeof reply);
    if (st < 0)
        fprintf(stderr, "  %s\n", peermap_errmsg());
    CHECK_EQ_LONG(st, 42);
    CHECK(memcmp(reply, "late", 4) == 0);
    CHECK(thread_join_ms(th, 20000) == 0);
    CHECK(s.held_ms >= 5 * PM_MEMMGR_SLICE_MS);
    ConnectDetach(coid);
    ChannelDestroy(s.chid);
}

TEST(forged_system_pulses_are_dropped)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    struct chan_addr a = { getpid(), chid };
    struct target t;
    REQUIRE(target_start(&t, forger_body, &a) == 0);
    struct _pulse p;
    CHECK_EQ_LONG(MsgReceive(chid, &p, sizeof p, NULL), 0);
    CHECK_EQ_LONG(p.code, 5);
    CHECK_EQ_LONG(p.value.sival_int, 55);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    ChannelDestroy(chid);
}

/* A fork child gets a copy of its parent's channel table but not its
 * channels: its "own" chid is not there (as on QNX), its parent's is. */
static int fork_child_body(int in, int out, void *arg)
{
    (void)in;
    (void)out;
    int chid = *(int *)arg;
    errno = 0;
    if (ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0) != -1 || errno != ESRCH)
        return 10;
    int coid = ConnectAttach(ND_LOCAL_NODE, getppid(), chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 11;
    ConnectDetach(coid);
    return 0;
}

TEST(a_fork_child_does_not_own_its_parents_channels)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    struct target t;
    REQUIRE(target_start(&t, fork_child_body, &chid) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    ChannelDestroy(chid);
}

/* ---- fairness between connections ---- */

TEST(a_busy_connection_does_not_starve_another)
{
    /* One client fills its connection with pulses, then another sends
     * one.  The channel looks at its ready connections in turn (one
     * datagram from one, then the next): the second client's pulse comes
     * among the first few, never after all of the first's. */
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    int busy = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    int other = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(busy >= 0 && other >= 0);
    int queued = 0;
    while (queued < 64 && MsgSendPulse(busy, 10, 1, queued) == 0)
        queued++;
    CHECK(queued >= 8); /* the socket's queue holds at least that many */
    CHECK_EQ_LONG(MsgSendPulse(other, 10, 2, 0), 0);
    int at = 0, seen_busy = 0;
    for (int i = 1; i <= queued + 1 && !at; i++) {
        struct _pulse p;
        /* Everything is queued already: a wait would be a bug, not a hang. */
        uint64_t ns = 5000000000ull;
        REQUIRE(TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ns, NULL) == 0);
        REQUIRE(MsgReceive(chid, &p, sizeof p, NULL) == 0);
        if (p.code == 2)
            at = i;
        else
            CHECK_EQ_LONG(p.value.sival_int, seen_busy++); /* in order */
    }
    CHECK(at >= 1 && at <= 3);
    ConnectDetach(busy);
    ConnectDetach(other);
    ChannelDestroy(chid);
}

/* ---- a hard deadline on a connection that reuses a sliced one's slot ---- */

struct timed_ctx { int coid; long st; int err; };

static void *timed_send(void *arg)
{
    struct timed_ctx *t = arg;
    char r[8];
    iov_t s = { "stall", 5 }, rv = { r, sizeof r };
    errno = 0;
    t->st = pm_msg_sendv_timed(t->coid, &s, 1, &rv, 1, 200);
    t->err = errno;
    return NULL;
}

TEST(a_timed_send_on_a_reused_connection_slot_keeps_its_deadline)
{
    /* A sliced connection (memory manager: its recvmsg() wakes every
     * PM_MEMMGR_SLICE_MS) waits for a deadline without ppoll().  A plain
     * connection that later gets the same descriptor number has no slices:
     * it must not be taken for one, or a server that never answers would
     * hold its timed sender forever.  Nobody receives on this channel. */
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    int sliced = pm_memmgr_connect(getpid(), chid, -1);
    REQUIRE(sliced >= 0);
    REQUIRE(ConnectDetach(sliced) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    if (coid != sliced) {
        ConnectDetach(coid);
        ChannelDestroy(chid);
        SKIP("the new connection got another descriptor (%d, not %d)", coid, sliced);
    }
    struct timed_ctx t = { .coid = coid };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, timed_send, &t) == 0);
    REQUIRE(thread_join_ms(th, 20000) == 0);
    CHECK_EQ_LONG(t.st, -1);
    CHECK_EQ_LONG(t.err, ETIMEDOUT);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}
