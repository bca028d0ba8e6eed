/*
 * mmap and munmap inside an attached target, and the one-shot "attach, do
 * it, detach" job that mmap_peer()/munmap_peer() run on the tracer thread.
 */
#ifndef PEERMAP_REMOTE_MAP_H
#define PEERMAP_REMOTE_MAP_H

#include "peer/args.h"
#include "remote/tracee.h"

/* 0 with *out the address in the target (skew included), or -1/errno. */
int pm_tracee_map(struct pm_tracee *t, const struct pm_map_req *rq, uintptr_t *out);
int pm_tracee_unmap(struct pm_tracee *t, uintptr_t start, size_t len);

/* The same, done locally (pid is the caller). */
int pm_local_map(const struct pm_map_req *rq, uintptr_t *out);
int pm_local_unmap(uintptr_t start, size_t len);

/* Detach; if the tracee could not be released (never stopped again), retire
 * the tracer thread so that the kernel releases it. */
int pm_tracee_release(struct pm_tracee *t);

/* After a failed remote call: hand a timed-out tracee to the tracer thread to
 * finish, or release it.  Keeps errno and the reason. */
void pm_tracee_settle(struct pm_tracee *t);

/* A whole call on `pid`: attach, map or unmap, detach. */
int pm_peer_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out);
int pm_peer_unmap(pid_t pid, uintptr_t start, size_t len);

#endif
