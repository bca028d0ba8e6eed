/*
 * The client's side of an in-band request (inband.h): the thread waiting in
 * MsgSend() for its reply does what its server asked, if the request passes
 * every check below, and answers.  Nothing else of the process is touched,
 * and no other thread is involved.
 *
 * What a server can make us do is exactly what mmap_peer()/munmap_peer()
 * could do through ptrace - and only if it could ptrace us by the classic
 * rule anyway (root, or our own user), only while our message is pending
 * (its seq), only for the request its doorbell names (a stale request left
 * in the socket is refused), before the server's deadline, for this very
 * process (a child that inherited the connection refuses), and only mmap
 * with flags we know or munmap.  An fd-backed mapping maps the object that
 * came with the request: we never open anything by name.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "msg/inband.h"
#include "msg/msg.h"

/* -1: not decided yet (look at $PEERMAP_INBAND). */
static atomic_int accepting = -1;

int pm_inband_accepting(void)
{
    int a = atomic_load(&accepting);
    if (a < 0) {
        const char *e = getenv("PEERMAP_INBAND");
        a = !(e && (!strcmp(e, "0") || !strcmp(e, "off") || !strcmp(e, "no")));
    }
    return a;
}

PM_EXPORT int peermap_inband_accept(int on)
{
    int old = pm_inband_accepting();
    atomic_store(&accepting, on ? 1 : 0);
    return old;
}

/* Would we let the server on our connection ptrace us?  What the kernel
 * recorded when we connected does not change: asked once per connection. */
static int server_trusted(struct pm_cconn *cc)
{
    if (cc->inband_trust >= 0)
        return cc->inband_trust;
    struct ucred cr;
    socklen_t len = sizeof cr;
    int t = getsockopt(cc->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
            cr.pid == cc->pid &&
            (cr.uid == 0 || cr.uid == getuid() || cr.uid == geteuid());
    cc->inband_trust = t;
    return t;
}

/* Judge and do one request; answer on `side`. */
static void judge(struct pm_cconn *cc, int side, int got, const struct pm_inband_req *rq,
                 int objfd, uint32_t want_id, uint32_t seq)
{
    struct pm_inband_ans a = { .magic = PM_INBAND_ANS };
    int mine = got > 0 && want_id && rq->id == want_id;
    if (got < 0) {
        a.refused = PM_INBAND_REFUSED_BAD;
    } else {
        a.id = rq->id;
        if (!mine || rq->seq != seq)
            a.refused = PM_INBAND_REFUSED_STALE;
        else if (!pm_inband_accepting() || !server_trusted(cc))
            a.refused = PM_INBAND_REFUSED_POLICY;
        else
            a.refused = pm_inband_check_op(rq, objfd >= 0, getpid(), pm_now_ns());
    }
    pm_inband_do(side, rq, objfd, &a);
}

void pm_inband_serve(struct pm_cconn *cc, const struct pm_wire_reply *h,
                     const int *fds, int nfds, uint32_t seq)
{
    int e = errno;
    int k = 0, objfd = -1;
    if (h->status & PM_WIRE_INBAND_SIDE) {
        /* A new in-band socket replaces the old one (the server made a new
         * one after a failed first doorbell). */
        if (cc->inband_side >= 0)
            close(cc->inband_side);
        cc->inband_side = k < nfds ? fds[k] : -1;
        k++;
    }
    if ((h->status & PM_WIRE_INBAND_OBJ) && k < nfds)
        objfd = fds[k];
    /* Nowhere to answer: the server's deadline ends it. */
    if (cc->inband_side >= 0) {
        struct pm_inband_req rq;
        memcpy(&rq, h->inband, sizeof rq);
        /* A doorbell for an exchange we gave up names nothing of ours. */
        uint32_t want = h->seq == seq ? (uint32_t)h->status : 0;
        judge(cc, cc->inband_side, rq.magic == PM_INBAND_REQ ? 1 : -1, &rq, objfd, want, seq);
    }
    if (objfd >= 0)
        close(objfd);
    errno = e;
}
