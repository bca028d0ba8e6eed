/*
 * Choosing the route for a call on another process (peermap.h): in-band
 * when the target is reply-blocked on us, else through its agent if it runs
 * one that accepts us, else ptrace - as far as the caller allows.  A failure after the in-band request reached the
 * target is final: only a closed route falls back.
 */
#include "peermap.h"
#include "common/internal.h"
#include "peer/path.h"
#include "peer/remote_map.h"

static int closed_route(void)
{
    return pm_fail(ESRCH, "in-band only (peermap_set_path()): %s", pm_inband_why_closed());
}

int pm_route_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out)
{
    int path = peermap_path();
    if (path != PEERMAP_PATH_PTRACE) {
        int rc = pm_inband_map(pid, rq, out);
        if (rc != 1) {
            pm_path_taken(pm_inband_via());
            return rc;
        }
        if (path == PEERMAP_PATH_INBAND) {
            pm_path_taken(PEERMAP_PATH_NONE);
            return closed_route();
        }
    }
    pm_path_taken(PEERMAP_PATH_PTRACE);
    return pm_peer_map(pid, rq, out);
}

int pm_route_unmap(pid_t pid, uintptr_t start, size_t len)
{
    int path = peermap_path();
    if (path != PEERMAP_PATH_PTRACE) {
        int rc = pm_inband_unmap(pid, start, len);
        if (rc != 1) {
            pm_path_taken(pm_inband_via());
            return rc;
        }
        if (path == PEERMAP_PATH_INBAND) {
            pm_path_taken(PEERMAP_PATH_NONE);
            return closed_route();
        }
    }
    pm_path_taken(PEERMAP_PATH_PTRACE);
    return pm_peer_unmap(pid, start, len);
}
