/*
 * mmap_peer()/munmap_peer() in-band: the request as the target's library
 * receives it (msg/inband.h).  Same arguments, same result as the ptrace
 * route (remote_map.c), so the caller cannot tell but by
 * peermap_last_path().
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/inband.h"
#include "peer/path.h"
#include "peermap.h"

static const char *refusal(int why)
{
    switch (why) {
    case PM_INBAND_REFUSED_POLICY:
        return "it does not accept in-band requests from us "
               "(peermap_inband_accept(), or we are neither root nor its user)";
    case PM_INBAND_REFUSED_STALE:
        return "its pending message is not the one we hold";
    case PM_INBAND_REFUSED_PID:
        return "the reply-blocked client on that connection is another process";
    default:
        return "it does not do that request in-band";
    }
}

/* Why the route was not open, for a caller that insists on it. */
static _Thread_local char why_closed[320];

/* The reply-blocked route (needs nothing of the target but its waiting
 * thread), or the target's agent. */
static int call(pid_t pid, int route, struct pm_inband_req *rq, int objfd, uint64_t *out)
{
    if (route == PEERMAP_PATH_AGENT) {
        int rc = pm_agent_call(pid, rq, objfd, out);
        if (rc == 1) {
            /* After the reply-blocked route said why it was closed. */
            size_t at = strlen(why_closed);
            snprintf(why_closed + at, sizeof why_closed - at, "%sPID %d runs no agent "
                     "that accepts us (peermap_agent_start())", at ? "; " : "", (int)pid);
        }
        return rc;
    }
    int refused = 0;
    why_closed[0] = 0;
    int rc = pm_inband_call(pid, rq, objfd, pm_now_ns() + pm_timeout_ns(), out, &refused);
    if (rc == 1)
        snprintf(why_closed, sizeof why_closed, "PID %d %s", (int)pid,
                 refused ? refusal(refused)
                         : "is not reply-blocked on any channel of this process");
    return rc;
}

const char *pm_inband_why_closed(void)
{
    return why_closed;
}

int pm_inband_map(pid_t pid, int route, const struct pm_map_req *rq, uintptr_t *out)
{
    struct pm_inband_req r = {
        .op = PM_INBAND_MAP, .prot = rq->prot, .flags = rq->flags,
        .addr = rq->addr, .len = rq->len, .off = rq->off,
    };
    /* The target gets no more access to the object than the mapping needs:
     * a read-only mapping of our read-write descriptor travels as a fresh
     * read-only open of the same object (as the ptrace route opens it). */
    int objfd = rq->fd, own = -1;
    if (objfd >= 0) {
        int fl = fcntl(objfd, F_GETFL);
        if (fl >= 0 && (fl & O_ACCMODE) != (rq->fd_oflags & O_ACCMODE)) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", objfd);
            own = open(path, (rq->fd_oflags & O_ACCMODE) | O_CLOEXEC);
            if (own >= 0)
                objfd = own;
        }
    }
    uint64_t addr = 0;
    int rc = call(pid, route, &r, objfd, &addr);
    if (own >= 0)
        close(own);
    if (rc == 0)
        *out = (uintptr_t)addr + rq->skew;
    return rc;
}

int pm_inband_unmap(pid_t pid, int route, uintptr_t start, size_t len)
{
    struct pm_inband_req r = { .op = PM_INBAND_UNMAP, .addr = start, .len = len };
    uint64_t ignored;
    return call(pid, route, &r, -1, &ignored);
}
