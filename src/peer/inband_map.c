/*
 * mmap_peer()/munmap_peer() in-band: the request as the target's library
 * receives it (msg/inband.h).  Same arguments, same result as the ptrace
 * route (remote_map.c), so the caller cannot tell but by
 * peermap_last_path().
 */
#include <fcntl.h>
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
    case PM_INBAND_REFUSED_SELF:
        return "may be reply-blocked on a channel this thread was using when the "
               "signal came (its lock, or a request on that connection): a "
               "signal handler's call cannot wait for the call it interrupted";
    default:
        return "it does not do that request in-band";
    }
}

/* Why the routes were closed, for a caller that insists on them: kept as
 * facts and put into words only when asked (a call that goes on by ptrace
 * never asks, and formatting would cost it every time).  One record per
 * call level (common/internal.h): a signal handler's call inside another
 * must not change the interrupted call's. */
struct closed {
    pid_t pid;
    int refused;        /* the reply-blocked route: pm_inband_refusal, -1
                         * when the target was not reply-blocked on us, or
                         * PM_INBAND_REFUSED_SELF */
    int agent_tried;    /* and no agent accepted */
    struct pm_agent_miss miss; /* and why */
};
static _Thread_local struct closed closed_at[PM_LEVELS];
static _Thread_local char why_at[PM_LEVELS][512];
#define closed (closed_at[pm_level()])
#define why_closed (why_at[pm_level()])

/* The reply-blocked route (needs nothing of the target but its waiting
 * thread), or the target's agent. */
static int call(pid_t pid, int route, struct pm_inband_req *rq, int objfd, uint64_t *out)
{
    if (route == PEERMAP_PATH_AGENT) {
        struct pm_agent_miss miss;
        int rc = pm_agent_call(pid, rq, objfd, out, &miss);
        if (rc == 1) {
            closed.pid = pid;
            closed.agent_tried = 1;
            closed.miss = miss;
        }
        return rc;
    }
    int refused = 0;
    int rc = pm_inband_call(pid, rq, objfd, pm_now_ns() + pm_inband_timeout_ns(), out,
                            &refused);
    if (rc == 1) {
        closed.pid = pid;
        closed.refused = refused ? refused : -1;
        closed.agent_tried = 0;
    }
    return rc;
}

/* The agent's part of the reason, at why_closed + n. */
static void agent_words(int n)
{
    const struct pm_agent_miss *m = &closed.miss;
    if (n < 0 || (size_t)n >= sizeof why_closed)
        return;
    if (m->squatted)
        pm_fmt(why_closed + n, sizeof why_closed - (size_t)n,
               "%sits agent name is held by PID %d (uid %u%s), not by it: nothing was "
               "sent there, and no other agent of PID %d was found", n ? "; " : "",
               (int)m->pid, (unsigned)m->uid, m->exited ? ", now exited" : "",
               (int)closed.pid);
    else
        pm_fmt(why_closed + n, sizeof why_closed - (size_t)n, "%sPID %d runs no "
               "agent that accepts us (peermap_agent_start())%s", n ? "; " : "",
               (int)closed.pid, m->hidden ? " that /proc lets us see" : "");
}

const char *pm_inband_why_closed(void)
{
    int n = 0;
    why_closed[0] = 0;
    if (closed.refused)
        n = pm_fmt(why_closed, sizeof why_closed, "PID %d %s", (int)closed.pid,
                   closed.refused > 0 ? refusal(closed.refused)
                                      : "is not reply-blocked on any channel of this "
                                        "process");
    if (closed.agent_tried)
        agent_words(n);
    return why_closed;
}

const char *pm_agent_why_closed(void)
{
    why_closed[0] = 0;
    if (closed.agent_tried)
        agent_words(0);
    return why_closed;
}

int pm_agent_was_squatted(void)
{
    return closed.agent_tried && closed.miss.squatted;
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
            pm_fmt(path, sizeof path, "/proc/self/fd/%d", objfd);
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
