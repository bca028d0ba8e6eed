/*
 * The client's side of event delivery (event.h): the relay.
 *
 * Each process that sends messages to other processes has one relay: a
 * datagram socketpair whose reading end (SO_PASSCRED: the kernel stamps
 * every request with the writer's pid and uid) a service thread reads,
 * and whose writing end goes, once per connection, to the server before
 * the first message on that connection (PM_WIRE_EVSOCK).  The thread and
 * the socketpair are made by the first such message; a process that only
 * talks to itself has neither.
 *
 * What the relay delivers, for a request from process S:
 *  - nothing unless S is one of our servers: we hold a live connection
 *    whose peer the kernel says is S (the one the endpoint was handed over
 *    on, or any other to S) - S the very process, not only its pid: a
 *    server that exits leaves our connection (and its pid) behind until we
 *    next use it, and whoever gets the pid next may hold our endpoint too
 *    (every server of ours does; it passes on like any descriptor).  So a
 *    request counts only when the key (trust.h) of the process that wrote
 *    it - from the pidfd the kernel attaches to it (SO_PASSPIDFD, Linux >=
 *    6.5), else of the process holding the stamped pid when we look (if
 *    that is the server, it has held the pid since before the connection,
 *    so it wrote the request) - is the key of the process our connection
 *    leads to: from the connection's SO_PEERPIDFD, asked at the first
 *    request from that pid (nothing per connection: opens cost what they
 *    did), or, on kernels without it, from the pid when the endpoint is
 *    handed over (dial.c has just proved who holds it);
 *  - a registered event (SIGEV_FLAG_HANDLE): our own copy, if S may deliver
 *    it (event_register.c) - whatever else S wrote is ignored, but for
 *    sigev_value when we made the event updateable;
 *  - an unregistered one only if no connection of ours to S was made with
 *    _NTO_COF_REG_EVENTS or _NTO_COF_NOEVENT, and then:
 *      SIGEV_PULSE   on our coid sigev_coid, as QNX's kernel would - so it
 *                    reaches only channels we can reach ourselves (ours,
 *                    private ones included, or those we connected to) -
 *                    but never with a system pulse code (-32..-64: a fake
 *                    disconnect, unblock or dispatch_unblock());
 *      SIGEV_SIGNAL* only if S could have sent us that signal with kill():
 *                    S's real uid or effective uid is root, or our real or
 *                    saved uid (QNX's kernel delivers signals from any
 *                    server; on Linux another user's server does not get to
 *                    signal us by relaying it);
 *      SIGEV_NONE    nothing to do;
 *      SIGEV_THREAD  never: S's bytes would choose the code we run (QNX 7.1
 *                    made registration exist for this).  Register it.
 *  Refused requests are dropped; the server was already told what it could
 *  know (MsgDeliverEvent() returns EPERM/EACCES for what it can see).
 *
 * The thread is a service thread (common/service.h): it takes no signals.
 * After fork() the child has no relay; its first message to another
 * process makes a new one.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/service.h"
#include "msg/cmsg.h"
#include "msg/event.h"
#include "msg/msg.h"
#include "trust/trust.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76 /* asm-generic and x86; glibc 2.36 lacks the name */
#endif

/* One connection of ours to another process, as handed over. */
struct server_conn {
    int coid;
    uint64_t ino;   /* our socket's inode: the coid still is this connection */
    pid_t pid;      /* the server, as the kernel says (SO_PEERCRED) */
    uid_t uid;      /* its effective uid when it made its channel */
    uint64_t key;   /* that very process (trust.h); 0: unknown, never matches */
    int keyed;      /* key looked up (else at the first request from pid) */
    int coflags;    /* ConnectAttach()'s flags */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int rx = -1, tx = -1;        /* the relay, in the generation below */
static unsigned relay_gen;          /* fork generation it was made in */
static struct server_conn *conns;
static int nconns, cap_conns;

/* fork() generations: a child must not use its parent's relay. */
static atomic_uint fork_gen = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void after_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* The connection is still the one recorded (coid not detached and reused). */
static int conn_live(const struct server_conn *s)
{
    struct pm_cconn *c = pm_cconn_get(s->coid);
    if (!c)
        return 0;
    int same = pm_cconn_ino(c) == s->ino;
    pm_cconn_put(c);
    return same;
}

/* Drop records of connections that are gone (lock held). */
static void prune_locked(void)
{
    for (int i = 0; i < nconns;) {
        if (conn_live(&conns[i]))
            i++;
        else
            conns[i] = conns[--nconns];
    }
}

/* The key of the process at the other end of coid (lock held): 0 when it
 * cannot be told (it exited and the kernel has forgotten it). */
static uint64_t server_key(int coid)
{
    uint64_t key = 0;
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return 0;
    if (pm_cconn_server_key(c, &key) < 0)
        key = 0;
    pm_cconn_put(c);
    return key;
}

/* Is S (pid, and process key) one of our servers?  Its uid and whether it
 * may deliver only registered events (or none).  Lock held. */
static int server_locked(pid_t pid, uint64_t key, uid_t *uid, int *reg_only)
{
    int found = 0;
    *reg_only = 0;
    for (int i = 0; i < nconns;) {
        if (conns[i].pid != pid) {
            i++;
            continue;
        }
        if (!conn_live(&conns[i])) {
            conns[i] = conns[--nconns];
            continue;
        }
        if (!conns[i].keyed) {
            conns[i].key = server_key(conns[i].coid);
            conns[i].keyed = 1;
        }
        if (conns[i].key != key) {
            i++;
            continue;
        }
        found = 1;
        *uid = conns[i].uid;
        if (conns[i].coflags & (_NTO_COF_REG_EVENTS | _NTO_COF_NOEVENT))
            *reg_only = 1;
        i++;
    }
    return found;
}

/* May a process with real uid `ruid` and effective uid `euid` signal us,
 * as kill() decides it? */
static int may_signal(uid_t ruid, uid_t euid)
{
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    return ruid == 0 || euid == 0 || ruid == r || ruid == s || euid == r || euid == s;
}

static void handle(const struct pm_evreq *req, pid_t pid, uint64_t key, uid_t ruid)
{
    uid_t euid = (uid_t)-1;
    int reg_only;
    pthread_mutex_lock(&lock);
    int ours = server_locked(pid, key, &euid, &reg_only);
    pthread_mutex_unlock(&lock);
    if (!ours)
        return; /* not (or no longer) one of our servers */
    struct pm_event_origin from = { .pid = pid, .uid = euid, .tid = req->tid,
                                    .foreign = 1, .key = key };
    if (req->notify & SIGEV_FLAG_HANDLE) {
        pm_event_registered_deliver((unsigned)req->signo, req->value, &from);
        return;
    }
    if (reg_only)
        return;
    struct sigevent ev;
    pm_evreq_to_event(req, &ev);
    switch (SIGEV_GET_TYPE(&ev)) {
    case SIGEV_NONE:
        return;
    case SIGEV_PULSE:
        if (PM_EVENT_SYSTEM_CODE(ev.sigev_code))
            return;
        break;
    case SIGEV_SIGNAL:
    case SIGEV_SIGNAL_CODE:
    case SIGEV_SIGNAL_THREAD:
        if (!may_signal(ruid, euid))
            return;
        break;
    default:
        return; /* SIGEV_THREAD, SIGEV_THREAD_ID and the rest: register them */
    }
    pm_event_deliver(&ev, &from);
}

static void *relay_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, -1) < 0)
            continue;
        struct pm_evreq req;
        char extra;
        struct iovec v[2] = { { &req, sizeof req }, { &extra, 1 } };
        /* Room for the credentials, and for descriptors a server might
         * attach (closed at once). */
        union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(struct ucred)) +
                                             CMSG_SPACE(sizeof(int)) +
                                             CMSG_SPACE(8 * sizeof(int))]; } cm;
        struct msghdr m = { .msg_iov = v, .msg_iovlen = 2, .msg_control = cm.b,
                            .msg_controllen = sizeof cm.b };
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
            continue;
        struct ucred cr = { .pid = 0 };
        int have_cred = pm_cmsg_cred(&m, &cr);
        int pidfd = pm_cmsg_pidfd(&m);
        pm_cmsg_fds(&m, NULL, 0, NULL); /* a request brings none: closed */
        /* The writer as a process: a pid number alone may be a departed
         * server's, now someone else's. */
        uint64_t key = 0;
        if (have_cred && cr.pid > 0 &&
            (pidfd >= 0 ? pm_pidfd_key(pidfd, &key) : pm_proc_key(cr.pid, &key)) < 0)
            key = 0;
        if (pidfd >= 0)
            close(pidfd);
        if (!have_cred || cr.pid <= 0 || !key || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
            pm_evreq_check(&req, (size_t)n) < 0)
            continue;
        handle(&req, cr.pid, key, cr.uid);
    }
    return NULL;
}

/* The relay of this process, made on first use (lock held).  The writing
 * end, or -1. */
static int relay_locked(void)
{
    unsigned gen = atomic_load(&fork_gen);
    if (tx >= 0 && relay_gen == gen)
        return tx;
    if (tx >= 0) {
        /* Inherited from the parent: its thread is not ours. */
        close(rx);
        close(tx);
        rx = tx = -1;
        nconns = 0;
    }
    int sv[2], on = 1;
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    /* SO_PASSPIDFD where the kernel has it; else the writer's key is
     * looked up by pid (see the top). */
    setsockopt(sv[0], SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on);
    if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0 ||
        shutdown(sv[1], SHUT_RD) < 0 ||
        pm_service_start(relay_main, (void *)(intptr_t)sv[0]) != 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    rx = sv[0];
    tx = sv[1];
    relay_gen = gen;
    return tx;
}

void pm_relay_offer(struct pm_cconn *c, int fd, int coid)
{
    pthread_once(&once, install_atfork);
    unsigned gen = atomic_load(&fork_gen);
    if (c->ev_gen == gen)
        return;
    if (c->pid == getpid()) {
        c->ev_gen = gen; /* ourselves: events are function calls */
        return;
    }
    struct ucred cr;
    socklen_t cl = sizeof cr;
    struct stat st;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || fstat(fd, &st) < 0)
        return;
    /* The server's key: at its first request (SO_PEERPIDFD of this
     * connection), or now where the kernel gives no pidfd of a peer - dial.c
     * has just proved that the listener is the process holding its pid. */
    uint64_t key = 0;
    int keyed = 0;
    if (pm_peer_pidfd_supported() != 1) {
        if (pm_proc_key(cr.pid, &key) < 0)
            key = 0;
        keyed = 1;
    }
    pthread_mutex_lock(&lock);
    int end = relay_locked();
    if (end < 0) {
        pthread_mutex_unlock(&lock);
        return;
    }
    if (nconns == cap_conns) {
        prune_locked();
        if (nconns == cap_conns) {
            int n = cap_conns ? cap_conns * 2 : 16;
            struct server_conn *t = realloc(conns, (size_t)n * sizeof *t);
            if (!t) {
                pthread_mutex_unlock(&lock);
                return;
            }
            conns = t;
            cap_conns = n;
        }
    }
    conns[nconns++] = (struct server_conn){ .coid = coid, .ino = (uint64_t)st.st_ino,
                                            .pid = cr.pid, .uid = cr.uid, .key = key,
                                            .keyed = keyed,
                                            .coflags = c->coflags };
    int flags = 0;
    if (c->coflags & _NTO_COF_REG_EVENTS)
        flags |= PM_EVSOCK_REG_EVENTS;
    if (c->coflags & _NTO_COF_NOEVENT)
        flags |= PM_EVSOCK_NOEVENT;
    struct pm_wire_send h = { .kind = PM_WIRE_EVSOCK, .coid = coid, .tid = pm_self_tid(),
                              .code = flags };
    iov_t v = { &h, sizeof h };
    ssize_t r = pm_sendmsg_fds(fd, &v, 1, &end, 1, 0);
    pthread_mutex_unlock(&lock);
    if (r == (ssize_t)sizeof h)
        c->ev_gen = gen;
}
