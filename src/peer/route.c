/*
 * Choosing the route for a call on another process (peermap.h):
 *   AUTO    in-band if the target is reply-blocked on us; else ptrace; and
 *           if ptrace is refused (EPERM: Yama, a container, a non-dumpable
 *           target), the target's agent if it runs one.
 *   INBAND  in-band, else the agent: never ptrace.
 *   PTRACE  ptrace only.
 * The agent comes after ptrace in AUTO because looking for one costs a
 * connect() (3 us here, a quarter of a whole ptrace call) on every call to
 * the many processes that run none; it exists for the processes ptrace
 * cannot reach.  Only a route that is not open falls through: a failure
 * after the target accepted the request is the call's result.
 */
#include <string.h>

#include "peermap.h"
#include "common/internal.h"
#include "msg/clients.h"
#include "peer/path.h"
#include "peer/remote_map.h"

static int closed_route(void)
{
    return pm_fail(ESRCH, "without ptrace only (peermap_set_path()): %s",
                   pm_inband_why_closed());
}

/* One call, generic over map and unmap. */
struct call {
    pid_t pid;
    const struct pm_map_req *rq; /* NULL: unmap */
    uintptr_t start;
    size_t len;
    uintptr_t *out;
};

static int by(const struct call *c, int route)
{
    if (route == PEERMAP_PATH_PTRACE)
        return c->rq ? pm_peer_map(c->pid, c->rq, c->out) : pm_peer_unmap(c->pid, c->start, c->len);
    return c->rq ? pm_inband_map(c->pid, route, c->rq, c->out)
                 : pm_inband_unmap(c->pid, route, c->start, c->len);
}

static int route(const struct call *c)
{
    int path = peermap_path();
    int rc;
    if (path != PEERMAP_PATH_PTRACE) {
        rc = by(c, PEERMAP_PATH_INBAND);
        if (rc != 1) {
            pm_path_taken(PEERMAP_PATH_INBAND);
            return rc;
        }
    }
    /* The in-band route reaches a client through its own connection; the
     * others reach a pid, which a client that has exited leaves to
     * whoever comes next (src/msg/clients.c). */
    int gone = pm_msg_client_gone(c->pid);
    if (gone < 0 && errno == EDEADLK)
        return pm_fail(EAGAIN, "this thread was recording a client's connection "
                       "when the signal came: a handler cannot tell now whether "
                       "PID %d is still that client", (int)c->pid);
    if (gone < 0)
        return pm_fail(ETIMEDOUT, "the record of this process's clients stayed "
                       "busy past the deadline");
    if (gone)
        return pm_fail(ESRCH, "PID %d was a client of this process that has "
                       "exited: the number may name another process now",
                       (int)c->pid);
    if (path == PEERMAP_PATH_INBAND) {
        rc = by(c, PEERMAP_PATH_AGENT);
        if (rc != 1) {
            pm_path_taken(PEERMAP_PATH_AGENT);
            return rc;
        }
        pm_path_taken(PEERMAP_PATH_NONE);
        return closed_route();
    }
    pm_path_taken(PEERMAP_PATH_PTRACE);
    rc = by(c, PEERMAP_PATH_PTRACE);
    if (rc == 0 || errno != EPERM || path == PEERMAP_PATH_PTRACE)
        return rc;
    /* ptrace refused: the agent, if any, else that refusal - telling as
     * well of a process that holds the target's agent name (nothing was
     * sent to it).  This is the failure path: copying the reason is free. */
    int e = errno;
    char why[PM_REASON_MAX];
    size_t wl = strnlen(pm_reason(), sizeof why - 1);
    memcpy(why, pm_reason(), wl);
    why[wl] = 0;
    int arc = by(c, PEERMAP_PATH_AGENT);
    if (arc != 1) {
        pm_path_taken(PEERMAP_PATH_AGENT);
        if (arc == 0)
            pm_begin(); /* the ptrace reason no longer applies */
        return arc;
    }
    if (pm_agent_was_squatted())
        return pm_fail_over(e, "%s; %s", why, pm_agent_why_closed());
    errno = e;
    return -1;
}

int pm_route_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out)
{
    struct call c = { .pid = pid, .rq = rq, .out = out };
    return route(&c);
}

int pm_route_unmap(pid_t pid, uintptr_t start, size_t len)
{
    struct call c = { .pid = pid, .start = start, .len = len };
    return route(&c);
}
