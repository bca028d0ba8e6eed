#include <sys/mman.h>
#include <unistd.h>

#include "sys/mman_peer.h"
#include "common/internal.h"
#include "peer/ability.h"
#include "peer/args.h"
#include "peer/path.h"
#include "peer/remote_map.h"
#include "peermap.h"
#include "sys/procmgr.h"

static int unmap(pid_t pid, void *addr, size_t len)
{
    uintptr_t start;
    size_t plen;

    pm_path_taken(PEERMAP_PATH_NONE);
    if (pid < 0)
        return pm_fail(ESRCH, "invalid PID %d", (int)pid);
    if (pm_unmap_range(addr, len, &start, &plen) < 0)
        return -1;
    if (pm_is_self(pid, getpid())) {
        pm_path_taken(PEERMAP_PATH_LOCAL);
        return pm_local_unmap(start, plen);
    }
    if (pm_ability_check(PROCMGR_AID_MEM_PEER))
        return pm_ability_fail(PROCMGR_AID_MEM_PEER, "changing another process's memory");
    return pm_route_unmap(pid, start, plen);
}

/* Async-signal-safe, as mmap_peer() (mmap_peer.c). */
PM_EXPORT int munmap_peer(pid_t pid, void *addr, size_t len)
{
    struct pm_call call;
    pm_call_enter(&call);
    int rc = unmap(pid, addr, len);
    pm_call_leave(&call, rc < 0);
    return rc;
}
