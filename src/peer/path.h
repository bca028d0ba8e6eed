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

/* A request to the target's agent (agent_call.c), with the contract of
 * pm_inband_call() (1: no agent, or it refused; then *miss says whether
 * another process holds the agent's name). */
struct pm_agent_miss {
    int squatted;   /* someone else listens on the agent's name */
    pid_t pid;      /* that socket's maker, as the kernel recorded it */
    uid_t uid;
    int exited;     /* which has exited: its socket lives on elsewhere */
    int hidden;     /* /proc hides the target's threads: no other name looked up */
};
struct pm_inband_req;
int pm_agent_call(pid_t pid, struct pm_inband_req *rq, int objfd, uint64_t *out,
                  struct pm_agent_miss *miss);

/* After a 1: why the route was closed, as a sentence about the target; and
 * whether the agent's name was held by another process (worth telling even
 * when another route's failure is the call's answer). */
const char *pm_inband_why_closed(void);
const char *pm_agent_why_closed(void);
int pm_agent_was_squatted(void);

#endif
