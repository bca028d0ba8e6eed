/*
 * Message passing under attack by another local user.
 *
 * Every test runs the attack as uid 65534 against root: the test runs as
 * root, the attacker is a forked child that drops to 65534 (setgroups,
 * setresgid, setresuid) before it does anything, and the victim - a
 * manager, or a client - runs as root.  Without root there is no other
 * user to be, and each test says so (SKIP).
 *
 * The managers are forked children, so that their descriptors and CPU time
 * can be read from /proc and their limits set without touching the test;
 * the test process stays single-threaded whenever it forks.  Attackers
 * speak the wire protocol with raw sockets where the library would refuse
 * to send what they send.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

#define WAIT_MS 20000

/* ---- the attacker's side ---- */

/* Become uid/gid 65534 with no groups, after raising the descriptor limit
 * to `nofile` (0: leave it) while still allowed to. */
static int become_nobody(rlim_t nofile)
{
    if (nofile) {
        struct rlimit r = { nofile, nofile };
        if (setrlimit(RLIMIT_NOFILE, &r) < 0)
            return -1;
    }
    return drop_to_nobody();
}

struct addr {
    pid_t pid;
    int chid;
};

/* A raw connection to a channel, as an attacker makes it. */
static int raw_connect(const struct addr *a)
{
    return channel_connect(a->pid, a->chid);
}

/* sendmsg() of `len` bytes with `nfds` descriptors, split into `ncmsg`
 * control messages. */
static ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                             int ncmsg)
{
    union { struct cmsghdr align; char b[CMSG_SPACE(16 * sizeof(int)) * 2]; } cm;
    memset(&cm, 0, sizeof cm);
    struct iovec v = { (void *)buf, len };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
    if (nfds) {
        m.msg_control = cm.b;
        size_t total = 0;
        int per = ncmsg > 1 ? nfds / ncmsg : nfds;
        for (int k = 0; k < ncmsg; k++)
            total += CMSG_SPACE((size_t)(k == ncmsg - 1 ? nfds - per * k : per) * sizeof(int));
        m.msg_controllen = total;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        for (int k = 0, at = 0; k < ncmsg; k++) {
            int n = k == ncmsg - 1 ? nfds - at : per;
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
            memcpy(CMSG_DATA(c), fds + at, (size_t)n * sizeof(int));
            at += n;
            c = CMSG_NXTHDR(&m, c);
        }
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL);
}

/* Wait until the server has dealt with what we sent: its hello, then either
 * a reply (1) or it hangs up (0).  -1 if neither happens in time. */
static int await_verdict(int fd)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, WAIT_MS) != 1)
            return -1;
        struct pm_wire_reply h;
        ssize_t r = recv(fd, &h, sizeof h, MSG_TRUNC);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 0;
        if (r < 0)
            return -1;
        if (h.kind == PM_WIRE_HELLO)
            continue;
        return h.kind == PM_WIRE_REFUSED ? 0 : 1;
    }
}

/* A memfd of `size` bytes, its pages written (so they are really held). */
static int filled_memfd(size_t size)
{
    int fd = memfd_create("attacker", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
        return -1;
    char page[4096];
    memset(page, 0xa5, sizeof page);
    for (size_t at = 0; at < size; at += sizeof page)
        if (pwrite(fd, page, sizeof page, (off_t)at) != (ssize_t)sizeof page)
            return -1;
    return fd;
}

/* ---- the victim's side: a root manager in a child ---- */

struct mgr_cfg {
    rlim_t nofile;                   /* 0: inherit */
    int set_limits;
    struct peermap_client_limits lim;
    unsigned flags;                  /* ChannelCreate() */
};

/* What the manager tells the test about each pulse it receives. */
struct pulse_note {
    int32_t code;
    int32_t value;
};

/*
 * An echo server: a message is answered with its first bytes reversed;
 * "big" + a uint32_t n with n bytes (a reply in a memfd when large);
 * "quit" ends it.  Reports its chid on `out`, then every pulse.
 */
static int mgr_body(int in, int out, void *arg)
{
    (void)in;
    const struct mgr_cfg *cfg = arg;
    if (cfg->nofile) {
        struct rlimit r = { cfg->nofile, cfg->nofile };
        if (setrlimit(RLIMIT_NOFILE, &r) < 0)
            return 10;
    }
    if (cfg->set_limits && peermap_set_client_limits(&cfg->lim) < 0)
        return 11;
    int chid = ChannelCreate(cfg->flags);
    if (child_write_full(out, &chid, sizeof chid) < 0 || chid < 0)
        return 12;
    static char big[8 << 20];
    char buf[256];
    for (;;) {
        struct _msg_info info;
        rcvid_t r = MsgReceive(chid, buf, sizeof buf, &info);
        if (r < 0)
            continue; /* EINTR; the channel is ours alone */
        if (r == 0) {
            struct _pulse p;
            memcpy(&p, buf, sizeof p);
            struct pulse_note n = { p.code, p.value.sival_int };
            child_write_full(out, &n, sizeof n);
            continue;
        }
        int n = info.msglen;
        if (n == 4 && memcmp(buf, "quit", 4) == 0) {
            MsgReply(r, 0, NULL, 0);
            return 0;
        }
        if (n == 8 && memcmp(buf, "big", 3) == 0) {
            uint32_t len;
            memcpy(&len, buf + 4, sizeof len);
            if (len > sizeof big)
                len = sizeof big;
            memset(big, 'b', len);
            MsgReply(r, (long)len, big, len);
            continue;
        }
        char rev[256];
        for (int i = 0; i < n; i++)
            rev[i] = buf[n - 1 - i];
        MsgReply(r, n, rev, (size_t)n);
    }
}

struct mgr {
    struct target t;
    struct addr a;
};

static int mgr_start(struct mgr *m, const struct mgr_cfg *cfg)
{
    if (target_start(&m->t, mgr_body, (void *)cfg) < 0)
        return -1;
    m->a.pid = m->t.pid;
    if (target_read(&m->t, &m->a.chid, sizeof m->a.chid, WAIT_MS) < 0 || m->a.chid <= 0) {
        target_finish(&m->t, 1000);
        return -1;
    }
    return 0;
}

/* Stop the manager (SIGKILL if it does not answer): its exit status. */
static int mgr_stop(struct mgr *m)
{
    kill(m->t.pid, SIGTERM);
    return target_finish(&m->t, WAIT_MS);
}

/* A root client's exchange with a deadline: the coid is a socket, and a
 * receive timeout on it ends MsgSend() with EAGAIN instead of a hang. */
static long send_within(int coid, const char *msg, char *reply, size_t rlen)
{
    struct timeval tv = { WAIT_MS / 1000, 0 };
    setsockopt(coid & ~_NTO_SIDE_CHANNEL, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return MsgSend(coid, msg, strlen(msg), reply, rlen);
}

/* A fresh root connection and one exchange: its status, or -1/errno. */
static long root_exchange(const struct addr *a)
{
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return -1;
    char r[16];
    long st = send_within(coid, "ping", r, sizeof r);
    int e = errno;
    ConnectDetach(coid);
    errno = e;
    if (st == 4 && memcmp(r, "gnip", 4) != 0)
        return -2;
    return st;
}

/* Wait (up to WAIT_MS) until pid holds at most `want` descriptors: the
 * manager closes what it must as it gets to it. */
static int settles_at(pid_t pid, int want)
{
    long long end = now_ms() + WAIT_MS;
    int n;
    while ((n = count_fds(pid)) > want && now_ms() < end)
        poll(NULL, 0, 5);
    return n;
}

/* Bytes of memfds held by pid (other than peermap's own message files if
 * `ours` is 0, only those if 1). */
static long long memfd_bytes(pid_t pid, const char *prefix)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[320], link[256];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        struct stat st;
        if (strncmp(link, prefix, strlen(prefix)) == 0 && stat(p, &st) == 0)
            sum += st.st_size;
    }
    closedir(d);
    return sum;
}

/* CPU time (ms) pid has used so far. */
static long long cpu_ms(pid_t pid)
{
    unsigned long long ut, st;
    if (proc_stat_field(pid, 14, &ut) < 0 || proc_stat_field(pid, 15, &st) < 0)
        return -1;
    return (long long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* The CPU a process uses over one second of wall time (ms): a measure, not
 * a synchronisation - an idle server uses none, a spinning one most. */
static long long cpu_over_a_second(pid_t pid)
{
    long long a = cpu_ms(pid);
    poll(NULL, 0, 1000);
    long long b = cpu_ms(pid);
    return a < 0 || b < 0 ? -1 : b - a;
}

#define NEED_ROOT()                                                         \
    do {                                                                    \
        if (geteuid() != 0)                                                 \
            SKIP("needs root: the attacker is another user (uid 65534)");   \
    } while (0)

/* ---- descriptors that come with datagrams ---- */

static int fd_attack(int in, int out, void *arg)
{
    (void)in;
    const struct addr *a = arg;
    if (become_nobody(0) < 0)
        return 20;
    int bad = 0;
    for (int round = 0; round < 40; round++) {
        for (int kind = 0; kind < 5; kind++) {
            int s = raw_connect(a);
            if (s < 0)
                return 21;
            int fds[10];
            int nfds = kind == 2 ? 10 : kind == 3 ? 1 : 2;
            for (int i = 0; i < nfds; i++)
                if ((fds[i] = filled_memfd(100000)) < 0)
                    return 22;
            /* A message whose body is "in a memfd": the header says
             * 100000 bytes, and two files come with it. */
            struct pm_wire_send h = { .kind = PM_WIRE_MSG, .seq = 1, .srclen = 100000 };
            if (kind == 3) {
                h.kind = PM_WIRE_PULSE; /* a pulse, with a file */
                h.srclen = 0;
            } else if (kind == 4) {
                h.kind = PM_WIRE_REPLY; /* a kind no client sends */
            }
            ssize_t w = send_with_fds(s, &h, sizeof h, fds, nfds, kind == 1 ? 2 : 1);
            if (w != (ssize_t)sizeof h)
                return 23;
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            if (await_verdict(s) != 0)
                bad++; /* served, or no answer at all */
            close(s);
            if (bad > 3)
                break; /* the manager is stuck: no need to wait out more */
        }
    }
    return child_write_full(out, &bad, sizeof bad) < 0 ? 24 : 0;
}

TEST(descriptors_that_come_with_any_datagram_are_closed)
{
    NEED_ROOT();
    struct mgr_cfg cfg = { .nofile = 256 };
    struct mgr m;
    REQUIRE(mgr_start(&m, &cfg) == 0);
    int before = count_fds(m.t.pid);
    REQUIRE(before > 0);
    CHECK_EQ_LONG(root_exchange(&m.a), 4);
    struct target att;
    REQUIRE(target_start(&att, fd_attack, &m.a) == 0);
    int bad = -1;
    CHECK(target_read(&att, &bad, sizeof bad, 120000) == 0);
    CHECK_EQ_LONG(bad, 0);
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    /* 200 datagrams, 520 descriptors: none stays with the manager, nor
     * the memory behind them. */
    CHECK_EQ_LONG(settles_at(m.t.pid, before), before);
    CHECK_EQ_LONG(memfd_bytes(m.t.pid, "/memfd:attacker"), 0);
    CHECK_EQ_LONG(root_exchange(&m.a), 4);
    mgr_stop(&m);
}

/* ---- an endpoint is checked for each client that brings it ---- */

/* A manager keeps one descriptor per client relay, found by inode, and
 * does not look again at a socket it already holds for the same client.
 * Another client that brings that very socket (passed to it) as its own
 * must still be refused: the manager would otherwise deliver its events
 * into the first client's relay, in the manager's name. */
struct relay_pass {
    struct addr a;
    int sp[2];      /* the owner passes its endpoint to the thief over it */
};

/* Hand over an endpoint on a raw connection and send one message: 1 when
 * the manager answered it. */
static int hand_over(const struct addr *a, int endpoint, int *conn)
{
    int s = raw_connect(a);
    if (s < 0)
        return -1;
    struct pm_wire_send ev = { .kind = PM_WIRE_EVSOCK };
    struct pm_wire_send h = { .kind = PM_WIRE_MSG, .seq = 1 };
    int ok = send_with_fds(s, &ev, sizeof ev, &endpoint, 1, 1) == (ssize_t)sizeof ev &&
             send(s, &h, sizeof h, MSG_NOSIGNAL) == (ssize_t)sizeof h;
    *conn = s;
    return ok ? await_verdict(s) : -1;
}

/* The owner: a relay of its own (the kernel names it the socketpair's
 * maker), handed over; then the endpoint goes to the thief.  Both ends
 * and the connection stay until told, so the manager holds the endpoint
 * and a delivery into it would succeed. */
static int relay_owner_body(int in, int out, void *arg)
{
    struct relay_pass *p = arg;
    close(p->sp[1]);
    if (become_nobody(0) < 0)
        return 20;
    int sv[2], s = -1;
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 21;
    if (hand_over(&p->a, sv[1], &s) != 1)
        return 22;
    if (send_with_fds(p->sp[0], "e", 1, &sv[1], 1, 1) != 1)
        return 23;
    char q = 1;
    if (child_write_full(out, &q, 1) < 0)
        return 24;
    child_read_full(in, &q, 1);
    return 0;
}

/* The thief: the owner's endpoint, handed over as its own. */
static int relay_thief_body(int in, int out, void *arg)
{
    struct relay_pass *p = arg;
    close(p->sp[0]);
    if (become_nobody(0) < 0)
        return 20;
    char c;
    union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(int))]; } cm;
    struct iovec v = { &c, 1 };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cm.b,
                        .msg_controllen = sizeof cm.b };
    struct cmsghdr *h;
    if (recvmsg(p->sp[1], &m, MSG_CMSG_CLOEXEC) != 1 || !(h = CMSG_FIRSTHDR(&m)) ||
        h->cmsg_type != SCM_RIGHTS)
        return 21;
    int endpoint, s = -1;
    memcpy(&endpoint, CMSG_DATA(h), sizeof endpoint);
    int verdict = hand_over(&p->a, endpoint, &s);
    if (child_write_full(out, &verdict, sizeof verdict) < 0)
        return 22;
    char q;
    child_read_full(in, &q, 1);
    return 0;
}

/* One message on chid, within the test's deadline: its rcvid (pulses are
 * skipped), or -1. */
static rcvid_t receive_one(int chid)
{
    for (;;) {
        uint64_t t = (uint64_t)WAIT_MS * 1000000ull;
        char buf[64];
        if (TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &t, NULL) < 0)
            return -1;
        rcvid_t r = MsgReceive(chid, buf, sizeof buf, NULL);
        if (r != 0)
            return r;
    }
}

TEST(another_clients_relay_endpoint_is_refused_though_the_manager_holds_it)
{
    NEED_ROOT();
    struct relay_pass p;
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    p.a = (struct addr){ getpid(), chid };
    REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p.sp) == 0);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_PULSE;
    ev.sigev_coid = 1;
    ev.sigev_code = 5;
    ev.sigev_priority = 10;

    struct target owner, thief;
    REQUIRE(target_start(&owner, relay_owner_body, &p) == 0);
    rcvid_t r = receive_one(chid);
    CHECK(r > 0);
    /* The owner's own endpoint takes its events: the manager holds it. */
    CHECK_EQ_LONG(MsgDeliverEvent(r, &ev), 0);
    MsgReply(r, 0, NULL, 0);
    char q;
    CHECK(target_read(&owner, &q, 1, WAIT_MS) == 0);

    REQUIRE(target_start(&thief, relay_thief_body, &p) == 0);
    r = receive_one(chid);
    CHECK(r > 0);
    /* The same socket, brought by another process: not its relay. */
    errno = 0;
    CHECK_EQ_LONG(MsgDeliverEvent(r, &ev), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    MsgReply(r, 0, NULL, 0);
    int verdict = -1;
    CHECK(target_read(&thief, &verdict, sizeof verdict, WAIT_MS) == 0);
    CHECK_EQ_LONG(verdict, 1);

    q = 0;
    target_write(&thief, &q, 1);
    target_write(&owner, &q, 1);
    CHECK_EQ_LONG(target_finish(&thief, WAIT_MS), 0);
    CHECK_EQ_LONG(target_finish(&owner, WAIT_MS), 0);
    close(p.sp[0]);
    close(p.sp[1]);
    ChannelDestroy(chid);
}

/* ---- event relay endpoints are descriptors the manager holds ---- */

/* Open connections until the manager refuses one.  On each, hand over an
 * event relay endpoint of our own (a fresh socketpair: the kernel names us
 * as its maker, so the manager keeps it), then send a message.  Report how
 * many were served; hold them all until told. */
static int relay_hoard_body(int in, int out, void *arg)
{
    const struct addr *a = arg;
    if (become_nobody(0) < 0)
        return 20;
    int served = 0;
    for (int i = 0; i < 200; i++) {
        int s = raw_connect(a);
        if (s < 0)
            return 21;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
            return 22;
        struct pm_wire_send ev = { .kind = PM_WIRE_EVSOCK };
        struct pm_wire_send h = { .kind = PM_WIRE_MSG, .seq = 1 };
        int sent = send_with_fds(s, &ev, sizeof ev, &sv[1], 1, 1) == (ssize_t)sizeof ev &&
                   send(s, &h, sizeof h, MSG_NOSIGNAL) == (ssize_t)sizeof h;
        close(sv[0]);
        close(sv[1]);
        if (!sent || await_verdict(s) != 1) {
            close(s); /* refused: this user holds its share */
            break;
        }
        served++;
    }
    if (child_write_full(out, &served, sizeof served) < 0)
        return 23;
    char q;
    child_read_full(in, &q, 1);
    return 0;
}

TEST(a_clients_event_relays_count_against_its_users_descriptors)
{
    NEED_ROOT();
    struct mgr_cfg cfg = { .set_limits = 1, .lim = { .fds = 16 } };
    struct mgr m;
    REQUIRE(mgr_start(&m, &cfg) == 0);
    int before = count_fds(m.t.pid);
    REQUIRE(before > 0);
    struct target att;
    REQUIRE(target_start(&att, relay_hoard_body, &m.a) == 0);
    int served = -1;
    CHECK(target_read(&att, &served, sizeof served, WAIT_MS * 3) == 0);
    /* A socket and a relay each: half the share in connections. */
    CHECK_EQ_LONG(served, 8);
    /* The refused connection's socket (and its pidfd) may still be
     * closing when the attacker hears the refusal: what is held for good
     * is what it settles at. */
    int held = settles_at(m.t.pid, before + 16) - before;
    CHECK(held <= 16);
    CHECK_EQ_LONG(root_exchange(&m.a), 4);
    char q = 0;
    target_write(&att, &q, 1);
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    /* The attacker gone, everything it made the manager hold is let go. */
    CHECK(settles_at(m.t.pid, before) <= before);
    mgr_stop(&m);
}

/* ---- a manager out of descriptors ---- */

struct flood {
    struct addr a;
    int n;            /* connections to open */
    rlim_t nofile;
};

/* Open f->n connections; wait until the server has greeted or refused each
 * (or WAIT_MS passed); report {greeted, refused}; hold them until told. */
static int flood_body(int in, int out, void *arg)
{
    const struct flood *f = arg;
    if (become_nobody(f->nofile) < 0)
        return 20;
    int *fds = calloc((size_t)f->n, sizeof *fds);
    char *seen = calloc((size_t)f->n, 1);
    if (!fds || !seen)
        return 21;
    int open_ok = 0, maxfd = 0;
    for (int i = 0; i < f->n; i++) {
        fds[i] = raw_connect(&f->a);
        if (fds[i] >= 0)
            open_ok++;
        if (fds[i] > maxfd)
            maxfd = fds[i];
    }
    int *index = calloc((size_t)maxfd + 1, sizeof *index);
    struct pollfd *p = calloc((size_t)f->n, sizeof *p);
    if (!index || !p)
        return 22;
    for (int i = 0; i < f->n; i++)
        if (fds[i] >= 0)
            index[fds[i]] = i;
    int counts[3] = { 0, 0, open_ok };
    long long end = now_ms() + WAIT_MS;
    int left = open_ok;
    while (left > 0 && now_ms() < end) {
        int np = 0;
        for (int i = 0; i < f->n; i++)
            if (fds[i] >= 0 && !seen[i])
                p[np++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
        if (poll(p, (nfds_t)np, 200) <= 0)
            continue;
        for (int k = 0; k < np; k++) {
            if (!p[k].revents)
                continue;
            int i = index[p[k].fd];
            struct pm_wire_reply h;
            ssize_t r = recv(fds[i], &h, sizeof h, MSG_DONTWAIT);
            seen[i] = 1;
            left--;
            if (r == (ssize_t)sizeof h && h.kind == PM_WIRE_HELLO)
                counts[0]++;
            else
                counts[1]++; /* refused, or hung up on */
        }
    }
    free(index);
    free(p);
    if (child_write_full(out, counts, sizeof counts) < 0)
        return 23;
    char c;
    child_read_full(in, &c, 1); /* hold them until the test is done */
    return 0;
}

TEST(a_manager_out_of_descriptors_refuses_cleanly_and_does_not_spin)
{
    NEED_ROOT();
    /* No per-user share: the attacker may use every descriptor there is. */
    struct mgr_cfg cfg = { .nofile = 64, .set_limits = 1,
                           .lim = { .conns = PEERMAP_UNLIMITED, .fds = PEERMAP_UNLIMITED,
                                    .others = 100 } };
    struct mgr m;
    REQUIRE(mgr_start(&m, &cfg) == 0);
    /* A root client already served before the flood. */
    int coid = ConnectAttach(ND_LOCAL_NODE, m.a.pid, m.a.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    char r[16];
    CHECK_EQ_LONG(send_within(coid, "abc", r, sizeof r), 3);

    struct flood f = { .a = m.a, .n = 200 };
    struct target att;
    REQUIRE(target_start(&att, flood_body, &f) == 0);
    int counts[3] = { -1, -1, -1 };
    CHECK(target_read(&att, counts, sizeof counts, WAIT_MS * 4) == 0);
    /* Every connection got an answer: accepted while descriptors lasted,
     * refused after - none left waiting. */
    CHECK_EQ_LONG(counts[2], 200);
    CHECK(counts[0] > 0 && counts[0] < 64);
    CHECK_EQ_LONG(counts[0] + counts[1], 200);
    /* Out of descriptors, and not spinning. */
    long long cpu = cpu_over_a_second(m.t.pid);
    CHECK(cpu >= 0 && cpu < 100);
    /* The client it had is still served; a new one is told no at once. */
    CHECK_EQ_LONG(send_within(coid, "abcd", r, sizeof r), 4);
    long long t0 = now_ms();
    errno = 0;
    long st = root_exchange(&m.a);
    CHECK(st == -1 && errno == EAGAIN);
    CHECK(now_ms() - t0 < WAIT_MS / 2);
    /* Once the flood is gone, new clients are taken again. */
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    long long end = now_ms() + WAIT_MS;
    while ((st = root_exchange(&m.a)) != 4 && now_ms() < end)
        poll(NULL, 0, 10);
    CHECK_EQ_LONG(st, 4);
    ConnectDetach(coid);
    mgr_stop(&m);
}

/* ---- per-user shares ---- */

TEST(another_users_flood_of_connections_leaves_room_for_root)
{
    NEED_ROOT();
    struct rlimit hard;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &hard) == 0);
    rlim_t nofile = 20000;
    if (hard.rlim_max != RLIM_INFINITY && hard.rlim_max < nofile) {
        /* Root may raise its own hard limit. */
        struct rlimit r = { hard.rlim_cur, nofile };
        if (setrlimit(RLIMIT_NOFILE, &r) < 0)
            SKIP("cannot allow 20000 descriptors: %s", strerror(errno));
    }
    /* The defaults: a quarter of the slots per user. */
    struct mgr_cfg cfg = { .nofile = nofile };
    struct mgr m;
    REQUIRE(mgr_start(&m, &cfg) == 0);
    struct flood f = { .a = m.a, .n = 9000, .nofile = nofile };
    struct target att;
    REQUIRE(target_start(&att, flood_body, &f) == 0);
    int counts[3] = { -1, -1, -1 };
    CHECK(target_read(&att, counts, sizeof counts, WAIT_MS * 6) == 0);
    CHECK_EQ_LONG(counts[2], 9000);
    CHECK(counts[0] > 0 && counts[0] <= 2047);
    CHECK_EQ_LONG(counts[0] + counts[1], 9000);
    /* While uid 65534 holds its share, root still gets through, and the
     * manager idles. */
    CHECK_EQ_LONG(root_exchange(&m.a), 4);
    long long cpu = cpu_over_a_second(m.t.pid);
    CHECK(cpu >= 0 && cpu < 100);
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    mgr_stop(&m);
}

struct bigs {
    struct addr a;
    int n;
};

/* n connections, each asks one 4 MiB reply, and all stay open. */
static int big_replies_body(int in, int out, void *arg)
{
    const struct bigs *b = arg;
    if (become_nobody(0) < 0)
        return 20;
    static char buf[4 << 20];
    int ok = 0;
    for (int i = 0; i < b->n; i++) {
        int coid = ConnectAttach(ND_LOCAL_NODE, b->a.pid, b->a.chid, _NTO_SIDE_CHANNEL, 0);
        char msg[8] = "big";
        uint32_t len = sizeof buf;
        memcpy(msg + 4, &len, sizeof len);
        if (coid >= 0 && MsgSend(coid, msg, sizeof msg, buf, sizeof buf) == (long)sizeof buf &&
            buf[0] == 'b' && buf[sizeof buf - 1] == 'b')
            ok++;
    }
    if (child_write_full(out, &ok, sizeof ok) < 0)
        return 21;
    char c;
    child_read_full(in, &c, 1);
    return 0;
}

TEST(reply_memory_kept_for_another_user_is_bounded)
{
    NEED_ROOT();
    struct mgr_cfg cfg = { .set_limits = 1, .lim = { .cache = 8 << 20 } };
    struct mgr m;
    REQUIRE(mgr_start(&m, &cfg) == 0);
    struct bigs b = { .a = m.a, .n = 20 };
    struct target att;
    REQUIRE(target_start(&att, big_replies_body, &b) == 0);
    int ok = -1;
    CHECK(target_read(&att, &ok, sizeof ok, WAIT_MS * 3) == 0);
    /* Every reply arrived... */
    CHECK_EQ_LONG(ok, 20);
    /* ...but the manager keeps at most 8 MiB of them for uid 65534 (20
     * connections would keep 80 MiB).  (Once it has answered root, it is
     * done with the last of them: it serves one message at a time.) */
    CHECK_EQ_LONG(root_exchange(&m.a), 4);
    long long kept = memfd_bytes(m.t.pid, "/memfd:peermap-msg");
    if (kept > (8 << 20))
        fprintf(stderr, "  the manager keeps %lld bytes of reply files\n", kept);
    CHECK(kept >= 0 && kept <= (8 << 20));
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    mgr_stop(&m);
}

/* ---- forged system pulses ---- */

static int pulse_forger(int in, int out, void *arg)
{
    (void)in;
    const struct addr *a = arg;
    if (become_nobody(0) < 0)
        return 20;
    /* 224 and -288 are -32 (_PULSE_CODE_UNBLOCK) in 8 bits, 223 is -33
     * (_PULSE_CODE_DISCONNECT); then the system codes themselves and the
     * lowest.  Each on a connection of its own: a forger loses it. */
    const int32_t forged[] = { 224, 223, -288, -32, -33, -1, -128, 1000 };
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
        int s = raw_connect(a);
        if (s < 0)
            return 21;
        struct pm_wire_send h = { .kind = PM_WIRE_PULSE, .code = forged[i], .value = 7 };
        if (send(s, &h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h)
            return 22;
        if (await_verdict(s) != 0)
            return 23; /* the server must hang up on a forger */
        close(s);
    }
    /* Through the library: refused at the source, with a reason. */
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 24;
    errno = 0;
    int rc = MsgSendPulse(coid, 10, _PULSE_CODE_UNBLOCK, 7);
    int refused = rc == -1 && errno == EPERM;
    /* The honest pulse the test waits for. */
    if (MsgSendPulse(coid, 10, 5, 55) < 0)
        return 25;
    ConnectDetach(coid);
    return child_write_full(out, &refused, sizeof refused) < 0 ? 26 : 0;
}

TEST(forged_system_pulse_codes_never_reach_the_server)
{
    NEED_ROOT();
    struct mgr_cfg cfg = { .flags = _NTO_CHF_UNBLOCK };
    struct mgr m;
    REQUIRE(mgr_start(&m, &cfg) == 0);
    struct target att;
    REQUIRE(target_start(&att, pulse_forger, &m.a) == 0);
    int refused = 0;
    CHECK(target_read(&att, &refused, sizeof refused, WAIT_MS) == 0);
    CHECK(refused);
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    /* The manager saw exactly one pulse: the honest one. */
    struct pulse_note n = { 0, 0 };
    CHECK(target_read(&m.t, &n, sizeof n, WAIT_MS) == 0);
    CHECK_EQ_LONG(n.code, 5);
    CHECK_EQ_LONG(n.value, 55);
    mgr_stop(&m);
}

/* ---- a client's pid reused by a root process ---- */

/* A process with exactly pid `want` (free when called): the kernel hands
 * out ns_last_pid + 1 to the next fork.  Another process forking in
 * between takes it; then try again (the child that got another pid leaves
 * at once).  -1 when it cannot be done here. */
static struct {
    pid_t want;
    int (*body)(int, int, void *);
    void *arg;
} at;

static int at_body(int in, int out, void *arg)
{
    (void)arg;
    if (getpid() != at.want)
        return 30;
    return at.body(in, out, at.arg);
}

static int start_at(struct target *t, pid_t want, int (*body)(int, int, void *), void *arg)
{
    at.want = want;
    at.body = body;
    at.arg = arg;
    for (int attempt = 0; attempt < 200; attempt++) {
        int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        char b[16];
        int n = snprintf(b, sizeof b, "%d", (int)want - 1);
        int ok = write(fd, b, (size_t)n) == n;
        close(fd);
        if (!ok)
            return -1;
        if (target_start(t, at_body, NULL) < 0)
            return -1;
        if (t->pid == want)
            return 0;
        target_finish(t, WAIT_MS);
    }
    return -1;
}

/* A pid that was just free: a child's, once reaped.  Pids are handed out in
 * increasing order, so it stays free until they wrap. */
static pid_t free_pid(void)
{
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    if (c > 0)
        waitpid(c, NULL, 0);
    return c;
}

static int sleeper_body(int in, int out, void *arg)
{
    (void)arg;
    char c = 'r';
    child_write_full(out, &c, 1);
    child_read_full(in, &c, 1);
    return 0;
}

static int nobody_client_body(int in, int out, void *arg)
{
    (void)in;
    (void)out;
    const struct addr *a = arg;
    if (become_nobody(0) < 0)
        return 20;
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 21;
    char r[8];
    return MsgSend(coid, "hi", 2, r, sizeof r) == 0 ? 0 : 22;
}

TEST(a_departed_clients_pid_taken_by_root_is_not_that_client)
{
    NEED_ROOT();
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    REQUIRE(chid > 0);
    struct addr a = { getpid(), chid };
    struct target client;
    REQUIRE(target_start(&client, nobody_client_body, &a) == 0);
    pid_t p = client.pid;
    char buf[16];
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, &info);
    while (r == 0);
    REQUIRE(r > 0);
    CHECK_EQ_LONG(info.pid, p);
    int scoid = info.scoid;
    CHECK_EQ_LONG(MsgReply(r, 0, NULL, 0), 0);
    CHECK_EQ_LONG(target_finish(&client, WAIT_MS), 0); /* exited, reaped */

    /* Its pid goes to a root process, before the server has noticed the
     * client is gone. */
    struct target root;
    if (start_at(&root, p, sleeper_body, NULL) < 0) {
        ChannelDestroy(chid);
        SKIP("cannot start a process with pid %d (ns_last_pid)", (int)p);
    }
    char c;
    REQUIRE(target_read(&root, &c, 1, WAIT_MS) == 0);

    /* The identity is the client's, as the kernel recorded it, every field
     * of it - not the root process's. */
    struct _client_info ci;
    CHECK_EQ_LONG(ConnectClientInfo(scoid, &ci, NGROUPS_MAX_CRED), 0);
    CHECK_EQ_LONG(ci.pid, p);
    CHECK_EQ_LONG(ci.cred.euid, NOBODY);
    CHECK_EQ_LONG(ci.cred.ruid, NOBODY);
    CHECK_EQ_LONG(ci.cred.suid, NOBODY);
    CHECK_EQ_LONG(ci.cred.rgid, NOBODY);

    /* mmap_peer() on its behalf reaches nobody: not the root process. */
    errno = 0;
    void *m = mmap_peer(p, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
    CHECK(m == MAP_FAILED && errno == ESRCH);
    if (m != MAP_FAILED)
        CHECK_EQ_LONG(maps_has(p, (uintptr_t)m, 4096, NULL), 0);

    /* Nor once the server has seen the disconnect (a departed client). */
    struct _pulse pl;
    do
        r = MsgReceive(chid, &pl, sizeof pl, NULL);
    while (r != 0 || pl.code != _PULSE_CODE_DISCONNECT);
    errno = 0;
    m = mmap_peer(p, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
    CHECK(m == MAP_FAILED && errno == ESRCH);

    target_finish(&root, WAIT_MS);
    ChannelDestroy(chid);
}

/* A client still there is reached by pid as before: only a departed
 * client's pid is refused. */
static int live_client_body(int in, int out, void *arg)
{
    const struct addr *a = arg;
    if (become_nobody(0) < 0)
        return 20;
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, _NTO_SIDE_CHANNEL, 0);
    char r[8];
    if (coid < 0 || MsgSend(coid, "hi", 2, r, sizeof r) != 0)
        return 21;
    char c = 'r';
    child_write_full(out, &c, 1);
    child_read_full(in, &c, 1); /* connected, not reply-blocked */
    return 0;
}

TEST(a_live_clients_pid_is_still_reached)
{
    NEED_ROOT();
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    struct addr a = { getpid(), chid };
    struct target client;
    REQUIRE(target_start(&client, live_client_body, &a) == 0);
    char buf[16];
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, &info);
    while (r == 0);
    REQUIRE(r > 0);
    CHECK_EQ_LONG(MsgReply(r, 0, NULL, 0), 0);
    char c;
    REQUIRE(target_read(&client, &c, 1, WAIT_MS) == 0);
    void *m = mmap_peer(client.pid, NULL, 4096, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANON, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        CHECK_EQ_LONG(maps_has(client.pid, (uintptr_t)m, 4096, NULL), 1);
        CHECK_EQ_LONG(munmap_peer(client.pid, m, 4096), 0);
    }
    CHECK_EQ_LONG(target_finish(&client, WAIT_MS), 0);
    ChannelDestroy(chid);
}

/* ---- channel names bound by another user ---- */

struct squat {
    pid_t pid;        /* whose channel names to take */
    int leave;        /* 1: the binder exits, leaving its listeners to a
                       * child (a listener made while holding `pid`) */
};

/* Bind peermap.ch.<pid>.1 .. .8 and listen; accept whatever comes and
 * count the bytes that arrive; report the count when told to stop. */
static int squat_body(int in, int out, void *arg)
{
    const struct squat *q = arg;
    if (become_nobody(0) < 0)
        return 20;
    int lsn[8];
    for (int i = 0; i < 8; i++) {
        struct sockaddr_un sa;
        socklen_t len = channel_addr(q->pid, i + 1, &sa);
        lsn[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (lsn[i] < 0 || bind(lsn[i], (struct sockaddr *)&sa, len) < 0 ||
            listen(lsn[i], 64) < 0)
            return 21;
    }
    if (q->leave) {
        pid_t c = fork();
        if (c < 0)
            return 22;
        if (c > 0)
            _exit(0); /* the listeners live on in the child */
    }
    char ready = 'r';
    if (child_write_full(out, &ready, 1) < 0)
        return 23;
    long long got = 0;
    struct pollfd p[64];
    int np = 0;
    p[np++] = (struct pollfd){ .fd = in, .events = POLLIN };
    for (int i = 0; i < 8; i++)
        p[np++] = (struct pollfd){ .fd = lsn[i], .events = POLLIN };
    for (;;) {
        if (poll(p, (nfds_t)np, -1) < 0)
            continue;
        if (p[0].revents)
            break;
        for (int i = 1; i < np; i++) {
            if (!p[i].revents)
                continue;
            if (i <= 8) {
                int s = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
                if (s >= 0 && np < 64)
                    p[np++] = (struct pollfd){ .fd = s, .events = POLLIN };
                else if (s >= 0)
                    close(s);
            } else {
                char b[4096];
                ssize_t r = recv(p[i].fd, b, sizeof b, MSG_DONTWAIT);
                if (r > 0)
                    got += r;
                else if (r == 0 || errno != EAGAIN)
                    p[i].events = 0;
            }
        }
    }
    return child_write_full(out, &got, sizeof got) < 0 ? 24 : 0;
}

/* The squatter's report: bytes it received. */
static long long squat_report(struct target *t)
{
    long long got = -1;
    char c = 'q';
    target_write(t, &c, 1);
    if (target_read(t, &got, sizeof got, WAIT_MS) < 0)
        got = -1;
    if (t->pid > 0) {
        target_finish(t, WAIT_MS);
    } else {
        /* Its listeners' holder is not our child: it leaves by itself. */
        close(t->to_child);
        close(t->from_child);
    }
    return got;
}

/* The last part of the tests below: a root manager started at pid p (the
 * test is skipped when p cannot be had) makes its channel, a root client
 * of (p, chid) reaches it, and the squatter sq was sent nothing. */
static void manager_beats_squatter(struct target *sq, pid_t p)
{
    struct mgr_cfg cfg = { 0 };
    struct mgr m;
    if (start_at(&m.t, p, mgr_body, &cfg) < 0) {
        squat_report(sq);
        SKIP("cannot start a process with pid %d (ns_last_pid)", (int)p);
    }
    m.a.pid = p;
    CHECK(target_read(&m.t, &m.a.chid, sizeof m.a.chid, WAIT_MS) == 0);
    CHECK(m.a.chid > 0);
    if (m.a.chid <= 0)
        m.a.chid = 1;
    CHECK_EQ_LONG(root_exchange(&m.a), 4);
    mgr_stop(&m);
    CHECK_EQ_LONG(squat_report(sq), 0);
}

TEST(channel_names_bound_first_by_another_user_neither_block_nor_listen)
{
    NEED_ROOT();
    pid_t p = free_pid();
    REQUIRE(p > 0);
    struct squat q = { .pid = p };
    struct target sq;
    REQUIRE(target_start(&sq, squat_body, &q) == 0);
    char c;
    REQUIRE(target_read(&sq, &c, 1, WAIT_MS) == 0);

    /* The root manager that gets pid p still makes its channel, and a root
     * client of (p, chid) reaches it, and sends the squatter nothing. */
    manager_beats_squatter(&sq, p);
}

TEST(a_listener_left_behind_by_a_pids_previous_owner_is_not_that_process)
{
    NEED_ROOT();
    pid_t p = free_pid();
    REQUIRE(p > 0);
    /* uid 65534 gets pid p, binds p's channel names, and leaves its
     * listeners to a child as it exits: SO_PEERCRED of those listeners
     * says pid p. */
    struct squat q = { .pid = p, .leave = 1 };
    struct target sq;
    if (start_at(&sq, p, squat_body, &q) < 0)
        SKIP("cannot start a process with pid %d (ns_last_pid)", (int)p);
    char c;
    REQUIRE(target_read(&sq, &c, 1, WAIT_MS) == 0);
    /* p is free again (its holder exited and was reaped): give it to root. */
    int st;
    REQUIRE((st = reap_ms(p, 20000)) != -1);
    sq.pid = -1; /* the listeners' holder is a grandchild, not ours */
    /* The listener that says "pid p" is not process p: the root client
     * reaches the manager, and the listener gets nothing. */
    manager_beats_squatter(&sq, p);
}

/* ---- a departed server's pid taken by another user, at the event relay ---- */

/*
 * A root client's event relay delivers what its servers ask: a signal only
 * from a server that could have sent it with kill() (root's, or the
 * client's own user's).  The relay knows a request's writer by the pid the
 * kernel stamps on it.  Here the client talks to a root server S and to a
 * server A1 of uid 65534 (which thereby holds the client's relay
 * endpoint).  S exits; the client still has its connection to S (nothing
 * told it yet).  A process of uid 65534 that now holds S's pid, with the
 * endpoint A1 passed it, must not be taken for S: neither its SIGUSR1
 * nor the event the client registered for S may reach the root client.  A1 then asks for a pulse (which a 65534 server
 * may): its arrival says the relay has read the forged request before.
 */
struct relay_case {
    int sp[2];       /* A1 -> A2: the relay endpoint */
    int handle;      /* the client's event registered for its root server */
};

static int relay_root_server_body(int in, int out, void *arg)
{
    (void)arg;
    int chid = ChannelCreate(0);
    if (chid < 0)
        return 40;
    child_write_full(out, &chid, sizeof chid);
    char buf[16];
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, NULL);
    while (r == 0);
    if (r < 0 || MsgReply(r, 0, NULL, 0) < 0)
        return 41;
    char c;
    child_read_full(in, &c, 1); /* then exit */
    return 0;
}

/* Our descriptor of a datagram socket made by process `maker`: the relay
 * endpoint the library took from that client. */
static int find_endpoint(pid_t maker)
{
    DIR *d = opendir("/proc/self/fd");
    int found = -1;
    struct dirent *e;
    while (d && (e = readdir(d)) && found < 0) {
        int fd = atoi(e->d_name);
        int type = 0;
        socklen_t tl = sizeof type;
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (fd > 2 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
            type == SOCK_DGRAM &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.pid == maker)
            found = fd;
    }
    if (d)
        closedir(d);
    return found;
}

static int send_evreq(int fd, int notify, int signo, int code)
{
    struct pm_evreq q;
    memset(&q, 0, sizeof q);
    q.magic = PM_EVREQ_MAGIC;
    q.notify = notify;
    q.signo = signo;
    q.code = code;
    return send(fd, &q, sizeof q, MSG_NOSIGNAL) == (ssize_t)sizeof q ? 0 : -1;
}

static int relay_a1_body(int in, int out, void *arg)
{
    struct relay_case *rc = arg;
    close(rc->sp[1]);
    if (become_nobody(0) < 0)
        return 50;
    int chid = ChannelCreate(0);
    if (chid < 0)
        return 51;
    child_write_full(out, &chid, sizeof chid);
    int self_coid = 0;
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(chid, &self_coid, sizeof self_coid, &info);
    while (r == 0);
    if (r < 0 || MsgReply(r, 0, NULL, 0) < 0)
        return 52;
    int ep = find_endpoint(info.pid);
    if (ep < 0)
        return 53;
    /* To the process that will hold the root server's pid. */
    iov_t v = { &ep, sizeof ep };
    union { struct cmsghdr a; char b[CMSG_SPACE(sizeof(int))]; } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cm.b,
                        .msg_controllen = sizeof cm.b };
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &ep, sizeof ep);
    if (sendmsg(rc->sp[0], &m, 0) < 0)
        return 54;
    char c = 'e';
    child_write_full(out, &c, 1);
    /* Told that the forged request went: the sentinel, a pulse on the
     * client's connection to its own channel (code 7). */
    child_read_full(in, &c, 1);
    if (send_evreq(ep, SIGEV_PULSE, self_coid, 7) < 0)
        return 55;
    child_read_full(in, &c, 1);
    return 0;
}

static int relay_a2_body(int in, int out, void *arg)
{
    (void)in;
    struct relay_case *rc = arg;
    close(rc->sp[0]);
    if (become_nobody(0) < 0)
        return 60;
    int tmp;
    iov_t v = { &tmp, sizeof tmp };
    union { struct cmsghdr a; char b[CMSG_SPACE(sizeof(int))]; } cm;
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cm.b,
                        .msg_controllen = sizeof cm.b };
    if (recvmsg(rc->sp[1], &m, 0) <= 0)
        return 61;
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    if (!h || h->cmsg_type != SCM_RIGHTS)
        return 62;
    int ep;
    memcpy(&ep, CMSG_DATA(h), sizeof ep);
    if (send_evreq(ep, SIGEV_SIGNAL, SIGUSR1, 0) < 0 ||
        send_evreq(ep, SIGEV_SIGNAL | SIGEV_FLAG_HANDLE, rc->handle, 0) < 0)
        return 63;
    char c = 'f';
    child_write_full(out, &c, 1);
    return 0;
}

static volatile sig_atomic_t relay_usr1, relay_usr2;
static void relay_on_usr1(int s)
{
    if (s == SIGUSR1)
        relay_usr1++;
    else
        relay_usr2++;
}

struct relay_victim {
    pid_t s_pid, a1_pid;
    int s_chid, a1_chid;
};

/* The root client: reports its registered event's handle when both
 * servers hold its relay, then the pulse code it got on its own channel and
 * how many SIGUSR1 and SIGUSR2 arrived. */
static int relay_victim_body(int in, int out, void *arg)
{
    (void)in;
    struct relay_victim *rv = arg;
    struct sigaction sa = { .sa_handler = relay_on_usr1 };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    int mine = ChannelCreate(0);
    int self = mine > 0 ? ConnectAttach(ND_LOCAL_NODE, 0, mine, _NTO_SIDE_CHANNEL, 0) : -1;
    int cs = ConnectAttach(ND_LOCAL_NODE, rv->s_pid, rv->s_chid, _NTO_SIDE_CHANNEL, 0);
    int ca = ConnectAttach(ND_LOCAL_NODE, rv->a1_pid, rv->a1_chid, _NTO_SIDE_CHANNEL, 0);
    if (self < 0 || cs < 0 || ca < 0)
        return 70;
    if (MsgSend(cs, "s", 1, NULL, 0) < 0 || MsgSend(ca, &self, sizeof self, NULL, 0) < 0)
        return 71;
    /* SIGUSR2, for the root server only (QNX 7.1's secure events). */
    struct sigevent ev;
    SIGEV_SIGNAL_INIT(&ev, SIGUSR2);
    if (MsgRegisterEvent(&ev, cs) != EOK)
        return 73;
    int handle = ev.sigev_handle;
    child_write_full(out, &handle, sizeof handle);
    /* cs stays: nothing has told us the root server is gone. */
    struct _pulse p = { 0 };
    uint64_t ns = (uint64_t)WAIT_MS * 1000000;
    rcvid_t r;
    do {
        if (TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ns, NULL) < 0)
            return 72;
        r = MsgReceive(mine, &p, sizeof p, NULL);
    } while (r < 0 && errno == EINTR);
    int res[3] = { r == 0 ? p.code : -1, (int)relay_usr1, (int)relay_usr2 };
    child_write_full(out, res, sizeof res);
    return 0;
}

TEST(a_departed_servers_pid_taken_by_another_user_cannot_signal_through_the_relay)
{
    NEED_ROOT();
    struct relay_case rc;
    REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, rc.sp) == 0);
    struct target s, a1, a2, v;
    REQUIRE(target_start(&s, relay_root_server_body, NULL) == 0);
    REQUIRE(target_start(&a1, relay_a1_body, &rc) == 0);
    struct relay_victim rv = { .s_pid = s.pid, .a1_pid = a1.pid };
    REQUIRE(target_read(&s, &rv.s_chid, sizeof rv.s_chid, WAIT_MS) == 0);
    REQUIRE(target_read(&a1, &rv.a1_chid, sizeof rv.a1_chid, WAIT_MS) == 0);
    REQUIRE(target_start(&v, relay_victim_body, &rv) == 0);
    char c;
    REQUIRE(target_read(&v, &rc.handle, sizeof rc.handle, WAIT_MS) == 0);
    REQUIRE(target_read(&a1, &c, 1, WAIT_MS) == 0); /* endpoint passed on */

    /* The root server exits; its pid goes to uid 65534. */
    pid_t p = s.pid;
    REQUIRE(target_write(&s, "x", 1) == 0);
    CHECK_EQ_LONG(target_finish(&s, WAIT_MS), 0);
    if (start_at(&a2, p, relay_a2_body, &rc) < 0) {
        target_finish(&a1, WAIT_MS);
        target_finish(&v, WAIT_MS);
        SKIP("cannot start a process with pid %d (ns_last_pid)", (int)p);
    }
    CHECK(target_read(&a2, &c, 1, WAIT_MS) == 0); /* forged request sent */
    CHECK(target_write(&a1, "g", 1) == 0);        /* the sentinel pulse */
    int res[3] = { -1, -1, -1 };
    CHECK(target_read(&v, res, sizeof res, WAIT_MS) == 0);
    CHECK_EQ_LONG(res[0], 7);   /* the relay read the forged requests first */
    CHECK_EQ_LONG(res[1], 0);   /* and did not signal the root client */
    CHECK_EQ_LONG(res[2], 0);   /* nor deliver the root server's event */
    target_write(&a1, "q", 1);
    CHECK_EQ_LONG(target_finish(&a2, WAIT_MS), 0);
    CHECK_EQ_LONG(target_finish(&a1, WAIT_MS), 0);
    CHECK_EQ_LONG(target_finish(&v, WAIT_MS), 0);
    close(rc.sp[0]);
    close(rc.sp[1]);
}

/* ---- a departed manager's pid and channel taken by another user, at pm_mmap() ---- */

/*
 * A root client holds a connection to a root manager M (an open file,
 * say) when M exits.  uid 65534 gets M's pid and makes a channel with M's
 * number, answering _IO_MMAP with a memory object of its own.  The root
 * client's pm_mmap() of its descriptor must not map that object (nor read
 * pages from, or write them back to, the attacker): the memory manager's
 * connection must reach the process the descriptor was connected to, or
 * nobody.
 */
#include "sys/iomsg.h"
#include "msg/msg.h"

static int mm_root_manager_body(int in, int out, void *arg)
{
    (void)arg;
    int chid = ChannelCreate(0);
    if (chid < 0)
        return 40;
    child_write_full(out, &chid, sizeof chid);
    char c;
    child_read_full(in, &c, 1); /* then exit */
    return 0;
}

struct mm_case {
    int chid;        /* the channel number to take */
};

static int mm_attacker_body(int in, int out, void *arg)
{
    (void)in;
    const struct mm_case *mc = arg;
    if (become_nobody(0) < 0)
        return 50;
    int chid;
    do
        chid = ChannelCreate(0);
    while (chid > 0 && chid < mc->chid);
    if (chid != mc->chid)
        return 51;
    int obj = memfd_create("evil", MFD_CLOEXEC);
    if (obj < 0 || ftruncate(obj, 4096) < 0 || pwrite(obj, "EVIL", 4, 0) != 4)
        return 52;
    char c = 'r';
    child_write_full(out, &c, 1);
    /* Serve whatever comes for a while. */
    for (int i = 0; i < 16; i++) {
        uint64_t ns = 3000000000ull;
        union { struct _io_mmap m; char b[512]; } msg;
        TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ns, NULL);
        rcvid_t r = MsgReceive(chid, &msg, sizeof msg, NULL);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        if (msg.m.type != _IO_MMAP) {
            MsgError(r, ENOSYS);
            continue;
        }
        struct _io_mmap_reply_ext rep;
        memset(&rep, 0, sizeof rep);
        rep.base.allowed_prot = PROT_READ | PROT_WRITE;
        rep.extended.flags = _IO_MMAP_REPLY_FLAGS_USE_EXTENDED |
                             _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT;
        iov_t v = { &rep, sizeof rep };
        pm_msg_reply_fd(r, 0, &v, 1, obj);
    }
    return 0;
}

/* The root client: connects, says 'r'; on 'g' maps and reports what it
 * got: { mapped, first 4 bytes }. */
static int mm_victim_body(int in, int out, void *arg)
{
    const struct addr *a = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 70;
    char c = 'r';
    child_write_full(out, &c, 1);
    child_read_full(in, &c, 1);
    char res[8] = { 0 };
    void *p = pm_mmap(NULL, 4096, PROT_READ, MAP_SHARED, coid, 0);
    if (p != MAP_FAILED) {
        res[0] = 1;
        memcpy(res + 1, p, 4);
    }
    child_write_full(out, res, sizeof res);
    return 0;
}

TEST(a_departed_managers_pid_and_channel_taken_by_another_user_get_no_pm_mmap)
{
    NEED_ROOT();
    struct target m, v, a;
    REQUIRE(target_start(&m, mm_root_manager_body, NULL) == 0);
    struct addr ad = { m.pid, 0 };
    REQUIRE(target_read(&m, &ad.chid, sizeof ad.chid, WAIT_MS) == 0);
    REQUIRE(target_start(&v, mm_victim_body, &ad) == 0);
    char c;
    REQUIRE(target_read(&v, &c, 1, WAIT_MS) == 0);

    /* The manager exits; its pid and channel number go to uid 65534. */
    pid_t p = m.pid;
    REQUIRE(target_write(&m, "x", 1) == 0);
    CHECK_EQ_LONG(target_finish(&m, WAIT_MS), 0);
    struct mm_case mc = { ad.chid };
    if (start_at(&a, p, mm_attacker_body, &mc) < 0) {
        target_finish(&v, WAIT_MS);
        SKIP("cannot start a process with pid %d (ns_last_pid)", (int)p);
    }
    REQUIRE(target_read(&a, &c, 1, WAIT_MS) == 0);

    REQUIRE(target_write(&v, "g", 1) == 0);
    char res[8] = { 9 };
    CHECK(target_read(&v, res, sizeof res, 30000) == 0);
    CHECK_EQ_LONG(res[0], 0);                   /* no mapping */
    CHECK(memcmp(res + 1, "EVIL", 4) != 0);     /* of the attacker's object */
    CHECK_EQ_LONG(target_finish(&v, WAIT_MS), 0);
    target_finish(&a, WAIT_MS);
}

/* ---- a delegated caller's pid taken by root ---- */

/*
 * A root export speaks for the program behind each open (delegate.c):
 * ConnectClientInfo() names that program, and a manager may pass its pid
 * to mmap_peer() (or munmap_peer() when the open closes - which, through
 * the export, comes after the program has gone).  The program here is
 * uid 65534's; once it has exited and a root process holds its pid,
 * mmap_peer() for it must fail (ESRCH), as for a direct client: never
 * change the root process's memory.
 */
static int delegating_body(int in, int out, void *arg)
{
    const struct addr *a = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, a->pid, a->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 80;
    pid_t q;
    if (child_read_full(in, &q, sizeof q) < 0)
        return 81;
    struct pm_wire_delegate w;
    memset(&w, 0, sizeof w);
    w.version = PM_WIRE_DELEGATE_VERSION;
    w.pid = q;
    w.ruid = w.euid = w.suid = NOBODY;
    w.rgid = w.egid = w.sgid = NOBODY;
    char r[4];
    if (pm_delegate_announce(coid, &w) < 0 || MsgSend(coid, "open", 4, r, sizeof r) < 0)
        return 82;
    char c = 'd';
    child_write_full(out, &c, 1);
    child_read_full(in, &c, 1); /* the connection stays until then */
    return 0;
}

static int nobody_sleeper_body(int in, int out, void *arg)
{
    (void)arg;
    if (become_nobody(0) < 0)
        return 20;
    return sleeper_body(in, out, NULL);
}

TEST(a_delegated_callers_pid_taken_by_root_is_not_that_caller)
{
    NEED_ROOT();
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    struct addr a = { getpid(), chid };
    struct target caller, exporter;
    REQUIRE(target_start(&caller, nobody_sleeper_body, NULL) == 0);
    char c;
    REQUIRE(target_read(&caller, &c, 1, WAIT_MS) == 0);
    pid_t q = caller.pid;
    REQUIRE(target_start(&exporter, delegating_body, &a) == 0);
    REQUIRE(target_write(&exporter, &q, sizeof q) == 0);
    char buf[16];
    struct _msg_info info;
    rcvid_t r;
    do
        r = MsgReceive(chid, buf, sizeof buf, &info);
    while (r == 0);
    REQUIRE(r > 0);
    struct _client_info ci;
    CHECK_EQ_LONG(ConnectClientInfo(info.scoid, &ci, 0), 0);
    CHECK_EQ_LONG(ci.pid, q);       /* the program, not the export */
    CHECK_EQ_LONG(MsgReply(r, 0, "ok", 2), 0);
    REQUIRE(target_read(&exporter, &c, 1, WAIT_MS) == 0);

    /* The program exits; its pid goes to a root process while the
     * export's connection for it is still open. */
    REQUIRE(target_write(&caller, "x", 1) == 0);
    CHECK_EQ_LONG(target_finish(&caller, WAIT_MS), 0);
    struct target root;
    if (start_at(&root, q, sleeper_body, NULL) < 0) {
        target_finish(&exporter, WAIT_MS);
        ChannelDestroy(chid);
        SKIP("cannot start a process with pid %d (ns_last_pid)", (int)q);
    }
    REQUIRE(target_read(&root, &c, 1, WAIT_MS) == 0);
    errno = 0;
    void *m = mmap_peer(q, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
    CHECK(m == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    if (m != MAP_FAILED)
        munmap_peer(q, m, 4096);
    target_write(&root, "x", 1);
    target_finish(&root, WAIT_MS);
    target_write(&exporter, "x", 1);
    CHECK_EQ_LONG(target_finish(&exporter, WAIT_MS), 0);
    ChannelDestroy(chid);
}

/* ---- a copy of the server's own connection to itself ---- */

/* A fork child of the server that kept the server's connection to its
 * own channel, became nobody, and sends a system pulse code on it by hand
 * (the library would refuse it at the source). */
static int self_copy_forger(int in, int out, void *arg)
{
    (void)in;
    int coid = *(const int *)arg;
    if (become_nobody(0) < 0)
        return 20;
    struct pm_wire_send h = { .kind = PM_WIRE_PULSE, .code = _PULSE_CODE_DISCONNECT,
                              .value = 7 };
    if (send(coid, &h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h)
        return 21;
    char c = 's';
    return child_write_full(out, &c, 1) < 0 ? 22 : 0;
}

TEST(a_system_pulse_on_a_copy_of_the_servers_own_connection_is_forged)
{
    /* System codes are believed from the server's own process only; a
     * copy of a connection that process made, held by another process,
     * does not make its sender the server. */
    NEED_ROOT();
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, getpid(), chid, 0, 0);
    REQUIRE(coid >= 0);
    struct target att;
    REQUIRE(target_start(&att, self_copy_forger, &coid) == 0);
    char c = 0;
    CHECK(target_read(&att, &c, 1, WAIT_MS) == 0 && c == 's');
    CHECK_EQ_LONG(target_finish(&att, WAIT_MS), 0);
    /* The forged pulse is not delivered; the connection it came on is
     * dropped.  A deadline, not a sleep: nothing else is coming. */
    struct _pulse p;
    struct sigevent ev;
    SIGEV_UNBLOCK_INIT(&ev);
    uint64_t ns = 1000000000ull;
    REQUIRE(TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, &ev, &ns, NULL) != -1);
    errno = 0;
    rcvid_t r = MsgReceive(chid, &p, sizeof p, NULL);
    CHECK(r == -1 && errno == ETIMEDOUT);
    if (r == 0)
        CHECK_EQ_LONG(p.code, 0); /* says which code got through */
    CHECK(MsgSendPulse(coid, 10, 1, 1) == -1);
    ConnectDetach(coid);
    ChannelDestroy(chid);
}
