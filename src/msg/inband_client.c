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
#include <sys/mman.h>
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

/* The mmap flags a server may ask for: sharing, placement and population
 * hints.  Not MAP_GROWSDOWN/MAP_STACK tricks, not huge-page sizes. */
#define ALLOWED_FLAGS (MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE | MAP_FIXED | \
                       MAP_FIXED_NOREPLACE | MAP_ANONYMOUS | MAP_NORESERVE |        \
                       MAP_POPULATE | MAP_LOCKED | MAP_32BIT | MAP_HUGETLB)

/* Would we let the server on our connection ptrace us? */
static int server_trusted(const struct pm_cconn *cc)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(cc->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return 0;
    if (cr.pid != cc->pid)
        return 0;
    return cr.uid == 0 || cr.uid == getuid() || cr.uid == geteuid();
}

static int check(const struct pm_cconn *cc, const struct pm_inband_req *rq, int objfd,
                 uint32_t want_id, uint32_t seq)
{
    if (rq->id != want_id || rq->seq != seq || pm_now_ns() > rq->deadline_ns)
        return PM_INBAND_REFUSED_STALE;
    if (!pm_inband_accepting() || !server_trusted(cc))
        return PM_INBAND_REFUSED_POLICY;
    if (rq->pid != getpid())
        return PM_INBAND_REFUSED_PID;
    long page = sysconf(_SC_PAGESIZE);
    if (rq->len == 0 || (rq->addr & (uint64_t)(page - 1)))
        return PM_INBAND_REFUSED_BAD;
    if (rq->op == PM_INBAND_UNMAP)
        return objfd < 0 ? PM_INBAND_DONE : PM_INBAND_REFUSED_BAD;
    if (rq->op != PM_INBAND_MAP)
        return PM_INBAND_REFUSED_BAD;
    if ((rq->flags & ~ALLOWED_FLAGS) || (rq->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
        return PM_INBAND_REFUSED_BAD;
    int anon = (rq->flags & MAP_ANONYMOUS) != 0;
    if (anon == (objfd >= 0) || (rq->has_fd != 0) != (objfd >= 0) || rq->off < 0 ||
        (rq->off & (page - 1)))
        return PM_INBAND_REFUSED_BAD;
    return PM_INBAND_DONE;
}

/* One request from the in-band socket: 1 when one was read. */
static int serve_one(struct pm_cconn *cc, int side, uint32_t want_id, uint32_t seq)
{
    struct pm_inband_req rq;
    struct iovec v = { &rq, sizeof rq };
    union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(int))]; } cm;
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
                        .msg_control = cm.b, .msg_controllen = sizeof cm.b };
    ssize_t r = recvmsg(side, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (r <= 0)
        return 0;
    int objfd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&objfd, CMSG_DATA(c), sizeof objfd);
    struct pm_inband_ans a = { .magic = PM_INBAND_ANS };
    if (r != (ssize_t)sizeof rq || rq.magic != PM_INBAND_REQ || (m.msg_flags & MSG_CTRUNC)) {
        a.refused = PM_INBAND_REFUSED_BAD;
    } else {
        a.id = rq.id;
        a.refused = check(cc, &rq, objfd, want_id, seq);
    }
    void *made = MAP_FAILED;
    if (!a.refused) {
        int e = 0;
        if (rq.op == PM_INBAND_MAP) {
            made = mmap((void *)(uintptr_t)rq.addr, (size_t)rq.len, rq.prot, rq.flags,
                        objfd, (off_t)rq.off);
            if (made == MAP_FAILED)
                e = errno;
            else
                a.addr = (uint64_t)(uintptr_t)made;
        } else if (munmap((void *)(uintptr_t)rq.addr, (size_t)rq.len) < 0) {
            e = errno;
        }
        a.err = e;
    }
    if (objfd >= 0)
        close(objfd);
    ssize_t w;
    do
        w = send(side, &a, sizeof a, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    /* The server is gone (or gave up its socket): it will never use the
     * mapping, so it must not stay half-made here. */
    if (w != (ssize_t)sizeof a && made != MAP_FAILED)
        munmap(made, (size_t)rq.len);
    return 1;
}

void pm_inband_serve(struct pm_cconn *cc, const struct pm_wire_reply *h, int side,
                     uint32_t seq)
{
    int e = errno;
    if (side >= 0) {
        /* A new in-band socket replaces the old one (the server made a new
         * one after a failed first doorbell). */
        if (cc->inband_side >= 0)
            close(cc->inband_side);
        cc->inband_side = side;
    }
    if (cc->inband_side < 0) {
        errno = e;
        return; /* nowhere to answer: the server's deadline ends it */
    }
    /* Drain: the request this doorbell names, and any stale ones before it
     * (refused).  A doorbell for an exchange we gave up names none. */
    uint32_t want = h->seq == seq ? (uint32_t)h->status : 0;
    while (serve_one(cc, cc->inband_side, want, seq))
        ;
    errno = e;
}
