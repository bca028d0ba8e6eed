/*
 * peermap_agent_start(): a thread in this process that takes mmap_peer()/
 * munmap_peer() requests at any time, without ptrace (peermap.h).  The same
 * requests and checks as the in-band route (msg/inband.h); who may ask is
 * decided once per connection, from the kernel's credentials: root and the
 * uids the process named.
 *
 * One connection carries one request: the agent answers and closes it, and
 * drops a caller that closes first (end-of-file, hang-up) without an answer.
 * What callers can make it hold is bounded per user: PM_AGENT_PER_USER
 * connections at a time for each allowed uid (root included; a connection
 * over the share, or from a uid not allowed, is closed at once), so the
 * agent holds at most (n + 1) * PM_AGENT_PER_USER descriptors and one user
 * idling on connections cannot shut out another.  Out of descriptors, it
 * refuses the next caller through a spare descriptor kept for that, and
 * never spins on a listening socket it cannot accept from.
 *
 * Names (agent.h): "peermap.agent.<pid>", or, when another process holds
 * it, a name with a random token that the agent thread's name publishes.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "msg/inband.h"
#include "peer/agent.h"
#include "peer/path.h"

/* How many connections one user may hold open at a time.  A legitimate
 * caller holds one per call in flight, for microseconds. */
#define PM_AGENT_PER_USER 32

/* How many connections to accept in one round before serving again: a
 * caller that connects in a loop cannot keep the agent from the others. */
#define ACCEPT_BURST 64

/* After an accept() failure other than "none pending" (out of memory):
 * leave the listening socket alone this long instead of spinning on it. */
#define ACCEPT_PAUSE_MS 10

static pthread_mutex_t agent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int running;
    pthread_t th;
    int lsn, stop;
    int self;           /* a pidfd of this process, held open: see below */
    uid_t *uids;
    size_t nuids;
} agent = { .lsn = -1, .stop = -1, .self = -1 };

/* The connections the agent holds, and what each user holds. */
struct callers {
    struct pollfd *p;   /* p[0] the stop eventfd, p[1] the listener, then callers */
    int *share;         /* the share each caller counts against (p[2 + i]) */
    size_t n, cap;
    unsigned *held;     /* per share: [0] root, [1 + i] uids[i] */
    int spare;          /* a descriptor given up to refuse a caller when out of them */
};

/* Which share a caller's uid counts against, or -1: not allowed. */
static int share_of(uid_t uid)
{
    if (uid == 0)
        return 0;
    for (size_t i = 0; i < agent.nuids; i++)
        if (agent.uids[i] == uid)
            return (int)i + 1;
    return -1;
}

/* Do one request and answer it.  The connection is closed afterwards
 * either way: a caller that sent nothing (end-of-file) is simply dropped. */
static void serve(int conn)
{
    struct pm_inband_req rq;
    int objfd;
    int got = pm_inband_recv_req(conn, &rq, &objfd);
    if (got == 0)
        return;
    struct pm_inband_ans a = { .magic = PM_INBAND_ANS };
    if (got < 0) {
        a.refused = PM_INBAND_REFUSED_BAD;
    } else {
        a.id = rq.id;
        a.refused = pm_inband_check_op(&rq, objfd >= 0, getpid(), pm_now_ns());
    }
    pm_inband_do(conn, &rq, objfd, &a);
    if (objfd >= 0)
        close(objfd);
}

static void drop(struct callers *c, size_t i)
{
    close(c->p[2 + i].fd);
    c->held[c->share[i]]--;
    c->n--;
    c->p[2 + i] = c->p[2 + c->n];
    c->share[i] = c->share[c->n];
}

static int add(struct callers *c, int fd, int share)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct pollfd *p = realloc(c->p, (2 + cap) * sizeof *p);
        if (!p)
            return -1;
        c->p = p;
        int *s = realloc(c->share, cap * sizeof *s);
        if (!s)
            return -1;
        c->share = s;
        c->cap = cap;
    }
    c->p[2 + c->n] = (struct pollfd){ .fd = fd, .events = POLLIN };
    c->share[c->n] = share;
    c->n++;
    c->held[share]++;
    return 0;
}

/* Accept what is pending (a burst at most).  0, or -1 when the listener
 * must rest a while (accept() fails for want of memory or descriptors). */
static int accept_some(struct callers *c)
{
    for (int k = 0; k < ACCEPT_BURST; k++) {
        int fd = accept4(agent.lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && c->spare >= 0) {
                /* Out of descriptors: give up the spare one to take the
                 * caller off the queue and close it (it sees a refusal),
                 * rather than leave it there to wake us forever. */
                close(c->spare);
                fd = accept4(agent.lsn, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                c->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return -1;
        }
        struct ucred cr;
        socklen_t len = sizeof cr;
        int share = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0
                        ? share_of(cr.uid) : -1;
        /* Not allowed, or its user holds its share already: closed at once
         * (the caller sees its connection closed without an answer). */
        if (share < 0 || c->held[share] >= PM_AGENT_PER_USER || add(c, fd, share) < 0)
            close(fd);
    }
    return 0;
}

static void *agent_main(void *arg)
{
    struct callers c = *(struct callers *)arg;
    free(arg);
    int64_t rest_until = 0;
    for (;;) {
        int timeout = -1;
        c.p[0] = (struct pollfd){ .fd = agent.stop, .events = POLLIN };
        c.p[1] = (struct pollfd){ .fd = agent.lsn, .events = POLLIN };
        if (rest_until) {
            int64_t left = rest_until - pm_now_ns();
            if (left <= 0) {
                rest_until = 0;
            } else {
                c.p[1].fd = -1; /* poll() skips it */
                timeout = (int)(left / 1000000) + 1;
            }
        }
        if (poll(c.p, (nfds_t)(2 + c.n), timeout) < 0)
            continue;
        if (c.p[0].revents)
            break;
        for (size_t i = c.n; i-- > 0;) {
            short re = c.p[2 + i].revents;
            if (!re)
                continue;
            if (re & POLLIN)
                serve(c.p[2 + i].fd);
            /* Answered, or closed (POLLHUP/POLLERR, or end-of-file, which
             * poll() reports as POLLIN): either way done with. */
            drop(&c, i);
        }
        if ((c.p[1].revents & POLLIN) && accept_some(&c) < 0)
            rest_until = pm_now_ns() + (int64_t)ACCEPT_PAUSE_MS * 1000000;
    }
    for (size_t i = 0; i < c.n; i++)
        close(c.p[2 + i].fd);
    if (c.spare >= 0)
        close(c.spare);
    free(c.p);
    free(c.share);
    free(c.held);
    return NULL;
}

/* Bind the agent's name: the usual one, or, if another process holds it,
 * one with a fresh token (*token set; "" for the usual name).  0 or -1. */
static int bind_name(int lsn, char token[PM_AGENT_TOKEN_LEN + 1])
{
    struct sockaddr_un sa;
    token[0] = 0;
    socklen_t sl = pm_agent_addr(getpid(), NULL, &sa);
    if (bind(lsn, (struct sockaddr *)&sa, sl) == 0)
        return 0;
    if (errno != EADDRINUSE)
        return pm_fail(errno, "peermap_agent_start(): cannot bind peermap.agent.%d: %m",
                       (int)getpid());
    /* Someone else took the name (or a fork of ours holds our old socket).
     * A name nobody could have guessed: 66 random bits; a clash is
     * unheard of, a second one means something other than chance. */
    for (int tries = 0; tries < 3; tries++) {
        if (pm_agent_new_token(token) < 0)
            return pm_fail(EAGAIN, "peermap_agent_start(): no random bytes: %m");
        sl = pm_agent_addr(getpid(), token, &sa);
        if (bind(lsn, (struct sockaddr *)&sa, sl) == 0)
            return 0;
        if (errno != EADDRINUSE)
            break;
    }
    return pm_fail(errno == EADDRINUSE ? EBUSY : errno,
                   "peermap_agent_start(): cannot bind peermap.agent.%d (taken) nor "
                   "a name of its own: %m", (int)getpid());
}

/* fork(): the agent's thread is not in the child; neither may its socket
 * be, or the child would hold a name that callers take for its parent's
 * (they would refuse it: its maker is the parent) and could not start an
 * agent of its own. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&agent_lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&agent_lock);
}

static void atfork_child(void)
{
    if (agent.running) {
        close(agent.lsn);
        close(agent.stop);
        if (agent.self >= 0)
            close(agent.self);
        agent.self = -1;
        free(agent.uids);
        agent.uids = NULL;
        agent.lsn = agent.stop = -1;
        agent.running = 0;
    }
    pthread_mutex_unlock(&agent_lock);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

PM_EXPORT int peermap_agent_start(const uid_t *uids, size_t n)
{
    pm_begin();
    if (n && !uids)
        return pm_fail(EINVAL, "peermap_agent_start(): %zu uids but no array", n);
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&agent_lock);
    if (agent.running) {
        pthread_mutex_unlock(&agent_lock);
        return pm_fail(EBUSY, "peermap_agent_start(): the agent already runs");
    }
    size_t k = n ? n : 1;
    uid_t *list = malloc(k * sizeof *list);
    int lsn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int stop = eventfd(0, EFD_CLOEXEC);
    char token[PM_AGENT_TOKEN_LEN + 1] = "";
    /* The agent's tables, made here so that a failure is ours to report. */
    struct callers *c = calloc(1, sizeof *c);
    if (c) {
        c->held = calloc(k + 1, sizeof *c->held);
        c->p = malloc(2 * sizeof *c->p);
        c->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    int rc = 0;
    if (!c || !c->held || !c->p)
        rc = pm_fail(ENOMEM, "peermap_agent_start(): out of memory");
    else if (!list || lsn < 0 || stop < 0)
        rc = pm_fail(errno == EMFILE ? EAGAIN : ENOMEM, "peermap_agent_start(): %m");
    else if (bind_name(lsn, token) < 0)
        rc = -1;
    else if (listen(lsn, SOMAXCONN) < 0)
        rc = pm_fail(errno, "peermap_agent_start(): listen: %m");
    if (rc == 0) {
        if (n)
            memcpy(list, uids, n * sizeof *list);
        else
            list[0] = getuid();
        agent.uids = list;
        agent.nuids = k;
        agent.lsn = lsn;
        agent.stop = stop;
        /* Every caller asks the kernel for a pidfd of this process
         * (SO_PEERPIDFD) to prove who we are.  While one is open anywhere
         * the kernel keeps its record of us; with none, it builds it anew
         * for every caller (and takes it down at the caller's close):
         * holding one halves what the proof costs a caller. */
        agent.self = (int)syscall(SYS_pidfd_open, getpid(), 0);
        /* The agent takes none of the process's signals. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int e = pthread_create(&agent.th, NULL, agent_main, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e) {
            rc = pm_fail(EAGAIN, "peermap_agent_start(): no thread: %s", strerror(e));
            agent.uids = NULL;
            if (agent.self >= 0)
                close(agent.self);
            agent.self = -1;
        } else {
            c = NULL; /* the thread's now */
            /* The thread's name is where callers find a token name: only
             * this process (its user, root) can set it. */
            char name[16];
            if (token[0])
                snprintf(name, sizeof name, PM_AGENT_TOKEN_PREFIX "%s", token);
            else
                snprintf(name, sizeof name, PM_AGENT_THREAD_NAME);
            pthread_setname_np(agent.th, name);
            agent.running = 1;
        }
    }
    if (c) {
        if (c->spare >= 0)
            close(c->spare);
        free(c->held);
        free(c->p);
        free(c);
    }
    if (rc) {
        free(list);
        if (lsn >= 0)
            close(lsn);
        if (stop >= 0)
            close(stop);
        agent.lsn = agent.stop = -1;
    }
    pthread_mutex_unlock(&agent_lock);
    return rc;
}

PM_EXPORT int peermap_agent_stop(void)
{
    pm_begin();
    pthread_mutex_lock(&agent_lock);
    if (!agent.running) {
        pthread_mutex_unlock(&agent_lock);
        return pm_fail(ESRCH, "peermap_agent_stop(): no agent runs");
    }
    uint64_t one = 1;
    if (write(agent.stop, &one, sizeof one) != sizeof one) {
        pthread_mutex_unlock(&agent_lock);
        return pm_fail(EIO, "peermap_agent_stop(): cannot wake the agent: %m");
    }
    pthread_join(agent.th, NULL);
    close(agent.lsn);
    close(agent.stop);
    if (agent.self >= 0)
        close(agent.self);
    agent.self = -1;
    free(agent.uids);
    agent.uids = NULL;
    agent.lsn = agent.stop = -1;
    agent.running = 0;
    pthread_mutex_unlock(&agent_lock);
    return 0;
}
