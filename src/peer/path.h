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
 * Without ptrace (peer/inband_map.c): the target does it itself, because it
 * is reply-blocked on one of our channels (route PEERMAP_PATH_INBAND) or
 * runs an agent (PEERMAP_PATH_AGENT).  0 done; -1 failed with errno (final:
 * the target may have acted, or it died, or it timed out); 1 the route is
 * not open (not reply-blocked on us / no agent, or it refused: it did
 * nothing).
 */
int pm_inband_map(pid_t pid, int route, const struct pm_map_req *rq, uintptr_t *out);
int pm_inband_unmap(pid_t pid, int route, uintptr_t start, size_t len);
/* The whole call on another process, by the chosen route (route.c): the
 * same contract as pm_peer_map()/pm_peer_unmap(). */
int pm_route_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out);
int pm_route_unmap(pid_t pid, uintptr_t start, size_t len);

/* The agent (agent.c, agent_call.c): its socket's name, and a request to
 * it, with the contract of pm_inband_call() (1: no agent, or it refused). */
struct pm_inband_req;
void pm_agent_name(pid_t pid, char *buf, size_t n, size_t *len);
int pm_agent_call(pid_t pid, struct pm_inband_req *rq, int objfd, uint64_t *out);

/* After a 1: why the route was closed, as a sentence about the target. */
const char *pm_inband_why_closed(void);

#endif
