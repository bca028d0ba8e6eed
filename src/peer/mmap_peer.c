#include <unistd.h>

#include "sys/mman_peer.h"
#include "common/internal.h"
#include "peer/args.h"
#include "peer/path.h"
#include "peer/remote_map.h"
#include "peermap.h"

/*
 * Async-signal-safe (mmap_peer(3), "Signal handlers"): nothing on any route
 * allocates, uses stdio or waits for a lock this thread may hold; errno is
 * left as it was unless the call fails; the reason and the route go to the
 * call's own level (common/errmsg.c).
 */
PM_EXPORT void *mmap_peer(pid_t pid, void *addr, size_t len, int prot,
                          int flags, int fd, off_t off)
{
    struct pm_call call;
    struct pm_map_req rq;
    uintptr_t out;
    int rc;

    pm_call_enter(&call);
    pm_path_taken(PEERMAP_PATH_NONE);
    if (pid < 0) {
        pm_fail(ESRCH, "invalid PID %d", (int)pid);
        pm_call_leave(&call, 1);
        return MAP_FAILED;
    }
    int remote = !pm_is_self(pid, getpid());
    rc = pm_map_req_init(&rq, remote, addr, len, prot, flags, fd, off);
    if (rc == 0)
        rc = remote ? pm_route_map(pid, &rq, &out) : pm_local_map(&rq, &out);
    if (rc == 0 && !remote)
        pm_path_taken(PEERMAP_PATH_LOCAL);
    int e = errno;
    pm_map_req_done(&rq);
    errno = e;
    pm_call_leave(&call, rc < 0);
    return rc < 0 ? MAP_FAILED : (void *)out;
}

/* off_t is 64 bits on every target peermap builds for, so the two are one. */
_Static_assert(sizeof(off_t) == sizeof(off64_t), "off_t must be 64-bit");

PM_EXPORT void *mmap64_peer(pid_t pid, void *addr, size_t len, int prot,
                            int flags, int fd, off64_t off)
{
    return mmap_peer(pid, addr, len, prot, flags, fd, (off_t)off);
}
