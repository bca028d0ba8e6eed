/*
 * Doing an in-band request (inband.h), for both places that take them: the
 * thread of a client that waits for its reply (inband_client.c) and a
 * process's agent (peer/agent.c).  The checks here are the ones that do not
 * depend on who asks: the request's own shape.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/cmsg.h"
#include "msg/inband.h"

#ifndef MAP_32BIT
#define MAP_32BIT 0 /* x86_64 only: elsewhere no such flag, and its bit unknown */
#endif

/* The mmap flags a server may ask for: sharing, placement and population
 * hints.  Not MAP_GROWSDOWN/MAP_STACK tricks, not huge-page sizes. */
#define ALLOWED_FLAGS (MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE | MAP_FIXED | \
                       MAP_FIXED_NOREPLACE | MAP_ANONYMOUS | MAP_NORESERVE |        \
                       MAP_POPULATE | MAP_LOCKED | MAP_32BIT | MAP_HUGETLB)

int pm_inband_check_op(const struct pm_inband_req *rq, int has_obj, pid_t self,
                       int64_t now_ns)
{
    if (now_ns > rq->deadline_ns)
        return PM_INBAND_REFUSED_STALE;
    if (rq->pid != self)
        return PM_INBAND_REFUSED_PID;
    long page = sysconf(_SC_PAGESIZE);
    if (rq->len == 0 || rq->len > (1ull << 56) || (rq->addr & (uint64_t)(page - 1)))
        return PM_INBAND_REFUSED_BAD;
    if (rq->op == PM_INBAND_UNMAP)
        return has_obj || rq->has_fd ? PM_INBAND_REFUSED_BAD : PM_INBAND_DONE;
    if (rq->op != PM_INBAND_MAP)
        return PM_INBAND_REFUSED_BAD;
    if ((rq->flags & ~ALLOWED_FLAGS) || (rq->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
        return PM_INBAND_REFUSED_BAD;
    int anon = (rq->flags & MAP_ANONYMOUS) != 0;
    if (anon == has_obj || (rq->has_fd != 0) != has_obj || rq->off < 0 ||
        (rq->off & (page - 1)))
        return PM_INBAND_REFUSED_BAD;
    return PM_INBAND_DONE;
}

/* Is this a believable answer to rq?  (The server's judge of a client.) */
int pm_inband_answer_sane(const struct pm_inband_req *rq, const struct pm_inband_ans *a)
{
    if (a->refused)
        return a->refused > 0 && a->refused <= PM_INBAND_REFUSED_BAD;
    if (a->err)
        return a->err > 0 && a->err < 4096;
    if (rq->op == PM_INBAND_UNMAP)
        return a->addr == 0;
    long page = sysconf(_SC_PAGESIZE);
    /* A user-space, page-aligned, non-null address; the one asked for with
     * MAP_FIXED.  (The address is only ever told to the caller, never
     * dereferenced here: a lie hurts only the liar.) */
    if (a->addr == 0 || (a->addr & (uint64_t)(page - 1)) || a->addr >= (1ull << 57) ||
        a->addr + rq->len < a->addr)
        return 0;
    if ((rq->flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && a->addr != rq->addr)
        return 0;
    return 1;
}

int pm_inband_recv_req(int sock, struct pm_inband_req *rq, int *objfd)
{
    struct iovec v = { rq, sizeof *rq };
    union { struct cmsghdr align; char b[CMSG_SPACE(2 * sizeof(int))]; } cm;
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
                        .msg_control = cm.b, .msg_controllen = sizeof cm.b };
    *objfd = -1;
    ssize_t r = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    /* At most one descriptor is the request's; any other is closed here
     * (msg/cmsg.h), whatever else is wrong with the datagram. */
    int n = r >= 0 ? pm_cmsg_fds(&m, objfd, 1, NULL) : 0;
    if (r <= 0) {
        if (*objfd >= 0)
            close(*objfd);
        *objfd = -1;
        return 0;
    }
    if (n > 1 || r != (ssize_t)sizeof *rq || rq->magic != PM_INBAND_REQ ||
        (m.msg_flags & MSG_CTRUNC))
        return -1;
    return 1;
}

void pm_inband_do(int sock, const struct pm_inband_req *rq, int objfd,
                  struct pm_inband_ans *a)
{
    void *made = MAP_FAILED;
    if (!a->refused) {
        int e = 0;
        if (rq->op == PM_INBAND_MAP) {
            made = mmap((void *)(uintptr_t)rq->addr, (size_t)rq->len, rq->prot, rq->flags,
                        objfd, (off_t)rq->off);
            if (made == MAP_FAILED)
                e = errno;
            else
                a->addr = (uint64_t)(uintptr_t)made;
        } else if (munmap((void *)(uintptr_t)rq->addr, (size_t)rq->len) < 0) {
            e = errno;
            /* A huge-page mapping (MAP_PHYS|MAP_ANON) unmaps only in whole
             * 2 MiB pages; the server knows the length it asked for.  (As
             * the ptrace route does.) */
            uint64_t huge = (uint64_t)2 << 20, hlen = (rq->len + huge - 1) & ~(huge - 1);
            if (e == EINVAL && !(rq->addr & (huge - 1)) && hlen != rq->len &&
                munmap((void *)(uintptr_t)rq->addr, (size_t)hlen) == 0)
                e = 0;
        }
        a->err = e;
    }
    ssize_t w;
    do
        w = send(sock, a, sizeof *a, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    /* The server is gone (or gave up its socket): it will never use the
     * mapping, so it must not stay half-made here. */
    if (w != (ssize_t)sizeof *a && made != MAP_FAILED)
        munmap(made, (size_t)rq->len);
}
