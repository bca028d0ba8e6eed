/*
 * The memory manager's connections to resource managers.
 *
 * On QNX the memory manager is procnto, and a resource manager accepts
 * _IO_MMAP only from it (sender pid 1).  Here the memory manager is the
 * library inside the client (src/memmgr/), so the boundary is drawn per
 * connection instead: a connection opened by pm_memmgr_connect() announces
 * itself with PM_WIRE_MEMMGR before anything else, the framework accepts
 * _IO_MMAP on such connections only (ENOSYS elsewhere, even for a
 * well-formed message), and an _IO_MMAP names only opens of the process at
 * the other end of the connection, as the kernel reports it (resmgr/).  A
 * client that announces itself is the memory manager for its own opens: it
 * can get nothing that pm_mmap() would not give it.
 *
 * The other way round, the client must reach the manager its descriptor
 * was opened with: (pid, chid) is only a number pair, which a manager that
 * exited leaves to whoever gets its pid next (and makes a channel; channel
 * numbers are small and predictable).  dial.c proves that the listener is
 * the live process holding pid; here it must also be the very process at
 * the other end of the descriptor's connection (their process keys,
 * trust.h), else the memory manager would send that process _IO_MMAP and
 * map what it answers - read its pages, write pages back to it.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "trust/trust.h"

/* The process key of the listener behind coid's socket: 0, or -1. */
static int server_key(int coid, uint64_t *key)
{
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return -1;
    int rc = pm_cconn_server_key(c, key);
    pm_cconn_put(c);
    return rc;
}

int pm_memmgr_connect(pid_t pid, int chid, int like)
{
    int coid = ConnectAttach(ND_LOCAL_NODE, pid, chid, _NTO_SIDE_CHANNEL, _NTO_COF_CLOEXEC);
    if (coid < 0)
        return -1;
    uint64_t was, now;
    if (like >= 0 && (server_key(like, &was) < 0 || server_key(coid, &now) < 0 || was != now)) {
        ConnectDetach(coid);
        return pm_fail(ESRCH, "memory manager: channel %d of process %d is not the "
                       "manager descriptor %d was opened with (it exited, and another "
                       "process has its pid)", chid, (int)pid, like);
    }
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return -1;
    /* pm_msg_sendv_timed() looks at its deadline whenever a wait for a reply
     * has lasted a slice: one recvmsg() per reply, no poll(). */
    struct timeval slice = { .tv_usec = PM_MEMMGR_SLICE_MS * 1000 };
    c->sliced = setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) == 0;
    struct pm_wire_send h = { .kind = PM_WIRE_MEMMGR, .coid = coid, .tid = pm_self_tid() };
    /* The datagram goes before any message on this socket, so the server has
     * marked the connection before it sees our first _IO_MMAP. */
    ssize_t r = send(c->fd, &h, sizeof h, MSG_NOSIGNAL);
    int e = errno;
    pm_cconn_put(c);
    if (r != (ssize_t)sizeof h) {
        ConnectDetach(coid);
        return pm_fail(e == EPIPE || e == ECONNRESET ? ESRCH : e,
                       "memory manager: cannot announce the connection to "
                       "channel %d of process %d", chid, (int)pid);
    }
    return coid;
}

int pm_rcvid_memmgr(rcvid_t rcvid)
{
    struct pm_channel *ch;
    struct pm_sconn *c = pm_rcvid_lookup(rcvid, &ch);
    if (!c)
        return -1;
    int m = c->memmgr;
    pm_rcvid_release(ch);
    return m;
}
