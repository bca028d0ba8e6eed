/*
 * The server's side of event delivery to another process: the relay
 * endpoints clients handed over (PM_WIRE_EVSOCK), and sending a request
 * to one.
 *
 * Decisions:
 *  - An endpoint is accepted only if it is an AF_UNIX datagram socket made
 *    by the very process at the other end of the connection (its peer
 *    credentials, set by socketpair(), name that pid while the connection
 *    is alive).  A client cannot so make the server write into somebody
 *    else's relay or socket, with the server's name on it.
 *  - One descriptor per client process, however many connections it has
 *    (every connection brings the same endpoint: kept once, counted), so
 *    that events cost a server one descriptor per client process.  That
 *    descriptor counts against the user's share of the server's
 *    descriptors (limits.c), as a message body does: a client that hands
 *    over an endpoint of its own on each connection holds one more
 *    descriptor each, and its user's share says when that stops.  An
 *    endpoint over the share is closed (events to that client then fail
 *    with ESRCH); the connection stays.
 *  - Requests go with MSG_DONTWAIT: a client that does not read its relay
 *    fills it (the kernel's datagram queue, a few hundred requests) and the
 *    server gets EAGAIN, as QNX's MsgDeliverEvent() says when it is out of
 *    pulse buffers; the server never waits for a client.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/event.h"
#include "msg/msg.h"

struct endpoint {
    int fd;        /* -1 when free */
    uint64_t ino;  /* the socket's identity */
    int refs;      /* connections that brought it */
    uid_t share;   /* whose descriptor share it counts against */
    pid_t pid;     /* the client it was checked for (its peer) */
};

static struct endpoint *tab;
static int ntab;
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;

/* Is the socket fd (st: its fstat()) an AF_UNIX datagram socket whose
 * peer the kernel says is `client`? */
static int endpoint_ok(int fd, const struct stat *st, pid_t client)
{
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (!S_ISSOCK(st->st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_DGRAM)
        return 0;
    len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.pid != client)
        return 0;
    return 1;
}

/* Do we hold this very socket already, checked for `client`?  A socket we
 * hold open keeps its inode number, and its type, domain and peer are what
 * they were when we checked them, so another connection of the same client
 * bringing it needs no new look (the common case: a client with an open
 * to us that opens again).  Our fd keeps the socket alive from the
 * moment we received it, so an inode number equal to a held one's is that
 * socket even if the table lets go of it meanwhile. */
static int held_for(const struct stat *st, pid_t client)
{
    int held = 0;
    if (!S_ISSOCK(st->st_mode))
        return 0;
    pthread_mutex_lock(&tab_lock);
    for (int i = 0; i < ntab && !held; i++)
        held = tab[i].fd >= 0 && tab[i].ino == (uint64_t)st->st_ino && tab[i].pid == client;
    pthread_mutex_unlock(&tab_lock);
    return held;
}

static void put_locked(int evs)
{
    struct endpoint *e = &tab[evs - 1];
    if (--e->refs == 0) {
        close(e->fd);
        pm_limits_fd_put(e->share);
        e->fd = -1;
        e->ino = 0;
    }
}

void pm_evsock_take(struct pm_sconn *c, int fd, int32_t flags)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || (!held_for(&st, c->pid) && !endpoint_ok(fd, &st, c->pid))) {
        close(fd); /* not the client's own relay: ignored */
        return;
    }
    uint64_t ino = (uint64_t)st.st_ino;
    pthread_mutex_lock(&tab_lock);
    int idx = -1, spare = -1;
    for (int i = 0; i < ntab; i++) {
        if (tab[i].fd >= 0 && tab[i].ino == ino) {
            idx = i;
            break;
        }
        if (tab[i].fd < 0 && spare < 0)
            spare = i;
    }
    if (idx >= 0) {
        close(fd);
        tab[idx].refs++;
    } else {
        if (pm_limits_fd(c->share) < 0) {
            pthread_mutex_unlock(&tab_lock);
            close(fd); /* over its user's share: no events for this one */
            return;
        }
        if (spare < 0) {
            struct endpoint *t = realloc(tab, (size_t)(ntab ? ntab * 2 : 16) * sizeof *t);
            if (!t) {
                pthread_mutex_unlock(&tab_lock);
                close(fd); /* events to this client will fail with ESRCH */
                pm_limits_fd_put(c->share);
                return;
            }
            int n = ntab ? ntab * 2 : 16;
            for (int i = ntab; i < n; i++)
                t[i] = (struct endpoint){ .fd = -1 };
            spare = ntab;
            tab = t;
            ntab = n;
        }
        idx = spare;
        tab[idx] = (struct endpoint){ .fd = fd, .ino = ino, .refs = 1, .share = c->share,
                                      .pid = c->pid };
    }
    if (c->evs)
        put_locked(c->evs);
    c->evs = idx + 1;
    c->evflags = flags & (PM_EVSOCK_REG_EVENTS | PM_EVSOCK_NOEVENT);
    pthread_mutex_unlock(&tab_lock);
}

void pm_evsock_release(struct pm_sconn *c)
{
    if (!c->evs)
        return;
    pthread_mutex_lock(&tab_lock);
    put_locked(c->evs);
    pthread_mutex_unlock(&tab_lock);
    c->evs = 0;
    c->evflags = 0;
}

/* The connection rcvid was given out on, if it is still there (lock
 * held): not a later client's that took the same slot - the rcvid's
 * generation must be one this connection was given. */
static struct pm_sconn *conn_of(struct pm_channel *ch, rcvid_t rcvid)
{
    int slot = PM_SCOID_SLOT((int)(rcvid >> 8));
    struct pm_sconn *c = slot > 0 && slot < ch->nconns ? &ch->conns[slot] : NULL;
    return c && c->fd >= 0 && pm_sconn_gen_ours(c, (uint8_t)(rcvid & 0xff)) ? c : NULL;
}

static struct pm_channel *channel_of(rcvid_t rcvid)
{
    int scoid = (int)(rcvid >> 8);
    return rcvid > 0 && rcvid <= 0x7fffffff && scoid > 0
               ? pm_channel_get(PM_SCOID_CHID(scoid))
               : NULL;
}

/* Copy what we need of the connection behind rcvid. */
static int client_of(rcvid_t rcvid, pid_t *pid, uid_t *uid, pid_t *tid, int *evs, int *flags)
{
    int found = 0;
    struct pm_channel *ch = channel_of(rcvid);
    if (!ch)
        return pm_fail_over(ESRCH, "rcvid %ld: no such client", (long)rcvid);
    pthread_mutex_lock(&ch->lock);
    struct pm_sconn *c = conn_of(ch, rcvid);
    if (c) {
        *pid = c->pid;
        if (uid)
            *uid = c->uid;
        if (tid)
            *tid = c->tid;
        if (evs)
            *evs = c->evs;
        if (flags)
            *flags = c->evflags;
        found = 1;
    }
    pthread_mutex_unlock(&ch->lock);
    pm_channel_put(ch);
    return found ? 0 : pm_fail_over(ESRCH, "rcvid %ld: no such client (its connection "
                                    "has closed)", (long)rcvid);
}

int pm_evsock_client(rcvid_t rcvid, pid_t *pid, uid_t *uid, pid_t *tid)
{
    return client_of(rcvid, pid, uid, tid, NULL, NULL);
}

static int may_deliver(int evs, int flags, int handle, pid_t pid)
{
    if (!evs)
        return pm_fail(ESRCH, "client PID %d never gave us a way to deliver events "
                       "to it (it has sent no message on this connection)", (int)pid);
    if (flags & PM_EVSOCK_NOEVENT)
        return pm_fail(EACCES, "client PID %d connected with _NTO_COF_NOEVENT",
                       (int)pid);
    if ((flags & PM_EVSOCK_REG_EVENTS) && !handle)
        return pm_fail(EACCES, "client PID %d takes registered events only "
                       "(_NTO_COF_REG_EVENTS)", (int)pid);
    return 0;
}

int pm_evsock_send(rcvid_t rcvid, const struct pm_evreq *r)
{
    pid_t pid;
    int evs, flags;
    if (client_of(rcvid, &pid, NULL, NULL, &evs, &flags) < 0)
        return -1;
    if (may_deliver(evs, flags, !!(r->notify & SIGEV_FLAG_HANDLE), pid) < 0)
        return -1;
    pthread_mutex_lock(&tab_lock);
    ssize_t n = tab[evs - 1].fd >= 0
                    ? send(tab[evs - 1].fd, r, sizeof *r, MSG_DONTWAIT | MSG_NOSIGNAL)
                    : -1;
    int e = tab[evs - 1].fd >= 0 ? errno : ECONNREFUSED;
    pthread_mutex_unlock(&tab_lock);
    if (n == (ssize_t)sizeof *r)
        return 0;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
        return pm_fail(EAGAIN, "client PID %d does not take its events (its queue "
                       "is full)", (int)pid);
    return pm_fail(ESRCH, "client PID %d is gone, or exec'd (its event relay is "
                   "closed): %s", (int)pid, strerror(e));
}

int pm_evsock_verify(rcvid_t rcvid, const struct sigevent *ev)
{
    pid_t pid;
    int evs, flags;
    if (client_of(rcvid, &pid, NULL, NULL, &evs, &flags) < 0)
        return -1;
    if (may_deliver(evs, flags, !!(ev->sigev_notify & SIGEV_FLAG_HANDLE), pid) < 0)
        return -1;
    pm_begin();
    return EOK;
}

int pm_evsock_notify(rcvid_t rcvid, int conds)
{
    int found = 0;
    struct pm_channel *ch = channel_of(rcvid);
    if (!ch)
        return pm_fail_over(ESRCH, "rcvid %ld: no such client", (long)rcvid);
    pthread_mutex_lock(&ch->lock);
    struct pm_sconn *c = conn_of(ch, rcvid);
    if (c) {
        struct pm_wire_reply h = { .kind = PM_WIRE_NOTIFY, .status = conds };
        send(c->fd, &h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL);
        found = 1;
    }
    pthread_mutex_unlock(&ch->lock);
    pm_channel_put(ch);
    if (!found)
        return pm_fail_over(ESRCH, "rcvid %ld: no such client (its connection has "
                            "closed)", (long)rcvid);
    pm_begin();
    return 0;
}
