#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/sigsafe.h"
#include "msg/msg.h"
#include "trust/trust.h"

/* Indexed by fd.  Entries are never freed, only reused, so a pointer handed
 * out stays valid; the per-entry lock serialises senders and ConnectDetach. */
static struct pm_cconn **conns;
static int nconns;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int coid_fd(int coid)
{
    return coid & ~_NTO_SIDE_CHANNEL;
}

static struct pm_cconn *slot(int fd, int create)
{
    struct pm_cconn *c = NULL;
    pm_mutex_lock(&table_lock);
    if (fd >= nconns && create) {
        int n = nconns ? nconns : 64;
        while (n <= fd)
            n *= 2;
        struct pm_cconn **t = realloc(conns, (size_t)n * sizeof *t);
        if (t) {
            memset(t + nconns, 0, (size_t)(n - nconns) * sizeof *t);
            conns = t;
            nconns = n;
        }
    }
    if (fd >= 0 && fd < nconns) {
        if (!conns[fd] && create) {
            conns[fd] = calloc(1, sizeof **conns);
            if (conns[fd]) {
                conns[fd]->fd = -1;
                conns[fd]->body = (struct pm_bodyfile)PM_BODYFILE_INIT;
                conns[fd]->reply_view = (struct pm_bodyview)PM_BODYVIEW_INIT;
                conns[fd]->inband_side = -1;
                conns[fd]->inband_trust = -1;
                pthread_mutex_init(&conns[fd]->lock, NULL);
                pthread_mutex_init(&conns[fd]->exchange, NULL);
            }
        }
        c = conns[fd];
    }
    pm_mutex_unlock(&table_lock);
    return c;
}

struct pm_cconn *pm_cconn_get(int coid)
{
    int fd = coid_fd(coid);
    struct pm_cconn *c = coid >= 0 ? slot(fd, 0) : NULL;
    if (!c) {
        pm_fail(EBADF, "no connection %d", coid);
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    /* Like any descriptor, a coid closed with close() must not be used
     * again: checking its identity here would cost a system call per
     * message.  A coid whose fd now holds something else fails in sendmsg()
     * (ENOTSOCK: EBADF below), or reaches the new socket, as a reused fd
     * would with write(). */
    if (c->fd != fd) {
        pthread_mutex_unlock(&c->lock);
        pm_fail(EBADF, "no connection %d (detached)", coid);
        return NULL;
    }
    return c;
}

void pm_cconn_put(struct pm_cconn *c)
{
    pthread_mutex_unlock(&c->lock);
}

int pm_cconn_gone(int coid)
{
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return 0;
    /* The server's end closed: its process died or it dropped us. */
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    int gone = poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
    pm_cconn_put(c);
    return gone;
}

uint64_t pm_cconn_ino(struct pm_cconn *c)
{
    struct stat st;
    if (!c->ino && fstat(c->fd, &st) == 0)
        c->ino = (uint64_t)st.st_ino;
    return c->ino;
}

struct pm_cconn *pm_cconn_begin_exchange(int coid, int *fd)
{
    struct pm_cconn *c = coid >= 0 ? slot(coid_fd(coid), 0) : NULL;
    if (!c) {
        pm_fail(EBADF, "no connection %d", coid);
        return NULL;
    }
    /* Messages on one connection go one at a time: the socket carries one
     * reply stream.  Pulses do not wait for this lock. */
    pthread_mutex_lock(&c->exchange);
    pthread_mutex_lock(&c->lock);
    int ok = c->fd == coid_fd(coid);
    *fd = c->fd;
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        pthread_mutex_unlock(&c->exchange);
        pm_fail(EBADF, "no connection %d (detached)", coid);
        return NULL;
    }
    return c;
}

void pm_cconn_end_exchange(struct pm_cconn *c)
{
    pthread_mutex_unlock(&c->exchange);
}

PM_EXPORT int ConnectAttach(uint32_t nd, pid_t pid, int chid, unsigned index, int flags)
{

    pm_begin();
    if (nd != ND_LOCAL_NODE)
        return pm_fail(EINVAL, "node %u: peermap has no network, only "
                       "ND_LOCAL_NODE", nd);
    return pm_connect_attach_id(pid, chid, index, flags, NULL);
}

int pm_connect_attach_id(pid_t pid, int chid, unsigned index, int flags,
                         struct pm_peer_id *keep)
{
    if (pid == 0)
        pid = getpid();
    if (pid < 0 || chid <= 0)
        return pm_fail(ESRCH, "no channel %d in process %d", chid, (int)pid);
    int side = (index & _NTO_SIDE_CHANNEL) != 0;
    int cloexec = side || (flags & _NTO_COF_CLOEXEC);
    int fd = pm_channel_dial_id(pid, chid, cloexec, keep);
    if (fd < 0)
        return -1;
    /* An ordinary coid is the lowest free fd >= index, as on QNX. */
    unsigned want = index & ~(unsigned)_NTO_SIDE_CHANNEL;
    if (!side && want > (unsigned)fd) {
        int nfd = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, (int)want);
        close(fd);
        if (nfd < 0) {
            if (keep)
                pm_peer_release(keep);
            return pm_fail(errno == EMFILE ? EAGAIN : errno, "no coid >= %u: %m", want);
        }
        fd = nfd;
    }
    struct pm_cconn *c = slot(fd, 1);
    if (!c) {
        close(fd);
        if (keep)
            pm_peer_release(keep);
        return pm_fail(ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&c->lock);
    c->fd = fd;
    c->pid = pid;
    c->chid = chid;
    c->seq = 0;
    c->hello = 0;
    c->chflags = 0;
    c->ino = 0;
    if (c->inband_side >= 0) /* the fd was closed with close(), not detached */
        close(c->inband_side);
    c->inband_side = -1;
    /* Never another server's files: the old one may keep its mapping. */
    pm_bodyfile_drop(&c->body);
    pm_bodyview_drop(&c->reply_view);
    c->inband_trust = -1;
    c->coflags = flags;
    /* Without SO_PEERPIDFD nothing can name the listener's process later
     * (after it exited, its pid may be another's): its key now, while
     * dial.c's proof holds (memmgr_conn.c compares it). */
    c->srv_key = 0;
    if (pid != getpid() && !pm_peer_pidfd_supported() && pm_proc_key(pid, &c->srv_key) < 0)
        c->srv_key = 0;
    c->ev_gen = 0;
    c->notified = 0;
    c->sliced = 0; /* a new socket: no SO_RCVTIMEO yet (send.c) */
    pthread_mutex_unlock(&c->lock);
    return side ? fd | _NTO_SIDE_CHANNEL : fd;
}

PM_EXPORT int ConnectDetach(int coid)
{
    pm_begin();
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c) {
        /* QNX servers detach the scoid of a _PULSE_CODE_DISCONNECT; here the
         * library has already dropped that connection, so there is nothing
         * left to do for a scoid of one of our channels. */
        struct pm_channel *ch = coid > 0 ? pm_channel_get(PM_SCOID_CHID(coid)) : NULL;
        if (ch) {
            pm_channel_put(ch);
            pm_begin();
            return 0;
        }
        return pm_fail_over(EINVAL, "no connection %d", coid);
    }
    /* Shut down first: a thread blocked on the connection in MsgSend()
     * wakes (with an error) instead of holding the descriptor. */
    shutdown(c->fd, SHUT_RDWR);
    int fd = c->fd;
    c->fd = -1;
    pm_cconn_put(c);
    pthread_mutex_lock(&c->exchange);
    close(fd);
    pm_bodyfile_drop(&c->body);
    pm_bodyview_drop(&c->reply_view);
    if (c->inband_side >= 0)
        close(c->inband_side);
    c->inband_side = -1;
    pthread_mutex_unlock(&c->exchange);
    return 0;
}

int pm_cconn_server_key(const struct pm_cconn *c, uint64_t *key)
{
    if (c->pid == getpid()) {
        *key = 0; /* our own channel: no other process to tell apart */
        return pm_proc_key(c->pid, key);
    }
    if (!pm_peer_pidfd_supported()) {
        *key = c->srv_key;
        return c->srv_key ? 0 : -1;
    }
    struct pm_peer_id id = { .pidfd = -1 };
    int rc = pm_peer_get(c->fd, &id) == 0 && id.pidfd >= 0 &&
             pm_pidfd_key(id.pidfd, key) == 0 ? 0 : -1;
    pm_peer_release(&id);
    return rc;
}
