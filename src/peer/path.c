/*
 * Which way mmap_peer()/munmap_peer() reach a target (peermap.h): the
 * caller's choice, process-wide, and what the calling thread's last call
 * did - kept per level (common/internal.h), so that a call a signal
 * handler makes inside another leaves that one's record alone.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "peermap.h"
#include "common/internal.h"
#include "peer/path.h"

/* -2: not set yet; $PEERMAP_PATH decides. */
static atomic_int chosen = -2;
static _Thread_local int last[PM_LEVELS] = { PEERMAP_PATH_NONE, PEERMAP_PATH_NONE,
                                             PEERMAP_PATH_NONE, PEERMAP_PATH_NONE };

PM_EXPORT int peermap_set_path(int path)
{
    pm_begin();
    if (path != PEERMAP_PATH_AUTO && path != PEERMAP_PATH_PTRACE && path != PEERMAP_PATH_INBAND)
        return pm_fail(EINVAL, "peermap_set_path(%d): not AUTO, PTRACE or INBAND", path);
    atomic_store(&chosen, path);
    return 0;
}

PM_EXPORT int peermap_path(void)
{
    int p = atomic_load(&chosen);
    if (p != -2)
        return p;
    const char *e = getenv("PEERMAP_PATH");
    if (e && !strcmp(e, "ptrace"))
        return PEERMAP_PATH_PTRACE;
    if (e && !strcmp(e, "inband"))
        return PEERMAP_PATH_INBAND;
    return PEERMAP_PATH_AUTO;
}

PM_EXPORT int peermap_last_path(void)
{
    return last[pm_read_level()];
}

void pm_path_taken(int path)
{
    last[pm_level()] = path;
}
