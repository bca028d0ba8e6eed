/*
 * The two routes into another process (peermap.h, "which way mmap_peer()
 * reaches the target"), and the record of which one a call took.
 */
#ifndef PEERMAP_PEER_PATH_H
#define PEERMAP_PEER_PATH_H

#include <stdint.h>
#include <sys/types.h>

#include "peer/args.h"

/* Record the route of the current call (peermap_last_path()). */
void pm_path_taken(int path);

/*
 * In-band (peer/inband_map.c): the target does it itself, because it is
 * reply-blocked on one of our channels.  0 done; -1 failed with errno (final:
 * the client may have acted, or it died, or it timed out); 1 the route is
 * not open (not reply-blocked on us, or the client refused: it did nothing).
 */
int pm_inband_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out);
int pm_inband_unmap(pid_t pid, uintptr_t start, size_t len);
/* The whole call on another process, by the chosen route (route.c): the
 * same contract as pm_peer_map()/pm_peer_unmap(). */
int pm_route_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out);
int pm_route_unmap(pid_t pid, uintptr_t start, size_t len);

/* After a 1: why the route was closed, as a sentence about the target. */
const char *pm_inband_why_closed(void);

#endif
