/*
 * Who is at the other end: identity as the kernel records it.
 *
 * peermap replaces a kernel that guards message passing and the path space
 * itself, so every decision about another process rests on facts only the
 * kernel can vouch for: a socket's peer credentials (taken when the peer
 * called connect() or listen()), a pidfd (a reference to one process that a
 * reused pid number can never redirect), and /proc's start time.  Nothing a
 * peer writes, and no name another user could bind first, is identity.
 *
 * This module is shared by every part that must know "is that really
 * process P?": the path-space resolver, channels and connections, the
 * agent, shared-memory handles.  It depends on nothing else in the library.
 * Functions return -1 with errno on failure and record no reason (pm_fail):
 * the caller knows what was being attempted and says it.
 */
#ifndef PEERMAP_TRUST_H
#define PEERMAP_TRUST_H

#include <stdint.h>
#include <sys/types.h>

/* --- processes (proc.c) ---------------------------------------------- */

/* Read /proc/PID/<what> ("stat", "task/TID/status"...) into buf, at most
 * size - 1 bytes in one read(), terminated: its length, or -1 with errno.
 * Async-signal-safe, as are the process, pidfd and socket-peer checks
 * below (not the policy, policy.h): mmap_peer() relies on them. */
ssize_t pm_proc_read(pid_t pid, const char *what, char *buf, size_t size);

/* The start time (field 22 of /proc/PID/stat, clock ticks since boot) of a
 * live, non-zombie process: 0, or -1 with ESRCH when it is gone (a zombie
 * whose other threads are gone too counts as gone) or EACCES when /proc
 * hides it (hidepid: alive, start unknown).  Two processes that had the same
 * pid differ in start time unless they started in the same clock tick. */
int pm_proc_start(pid_t pid, uint64_t *start);

/* Does process `pid` hold `uid` as its real, effective, saved or filesystem
 * uid?  1, 0, or -1 with errno when /proc does not say (gone or hidden). */
int pm_proc_holds_uid(pid_t pid, uid_t uid);

/* The real and effective uid of process `pid` from /proc/PID/status:
 * 0, or -1 with errno (ESRCH gone, EACCES hidden). */
int pm_proc_uids(pid_t pid, uid_t *ruid, uid_t *euid);

/* A process's user and group ids, all read at one moment. */
struct pm_proc_creds {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
};

/* The ids of process `pid` from one read of /proc/PID/status: 0, or -1
 * with errno (ESRCH gone, EACCES hidden).  Says nothing about *which*
 * process held `pid` during the read: see pm_pidfd_creds(). */
int pm_proc_creds(pid_t pid, struct pm_proc_creds *c);

/* --- pidfds (pidfd.c) ------------------------------------------------- */

/* The pid a pidfd refers to, in our pid namespace, read from the kernel's
 * fdinfo: the pid (> 0), or -1 with ESRCH when that process has exited
 * (the number may already belong to someone else), EBADF when fd is no
 * pidfd. */
pid_t pm_pidfd_pid(int pidfd);

/* Is the process behind `pidfd` still alive?  1 or 0. */
int pm_pidfd_alive(int pidfd);

/* Does the process behind `pidfd` hold `uid` as its real, effective, saved
 * or filesystem uid, as the kernel says through the pidfd (creds.c)?  1, 0,
 * or -1 with errno: ESRCH (it has exited), ENOTSUP (a kernel before 6.13:
 * ask /proc with pm_proc_holds_uid() instead). */
int pm_pidfd_holds_uid(int pidfd, uid_t uid);

/* --- one process among all that ever held a pid (proc_key.c) --------- */

/*
 * A process key: a number that names one process and is never given to
 * another while this system runs, so that "is the process at pid P now the
 * one I met earlier?" is a comparison.  Where pidfds live in pidfs (Linux
 * >= 6.9) it is the pidfd's inode number (64 bits, never reused); before,
 * the start time (pm_proc_start()), which two holders of one pid share only
 * if both started in the same clock tick.  One process always uses one kind
 * (the kernel decides), so keys compare.  Never 0.
 *
 *   pm_pidfd_key()  the key of the process behind `pidfd`, even after it
 *                   exited (pidfs); 0, or -1 with ESRCH when it has exited
 *                   and the kernel has no pidfs (the start time is gone).
 *   pm_proc_key()   the key of the process holding `pid` now: 0, or -1
 *                   with ESRCH (none), EACCES (hidden by hidepid, before
 *                   pidfs).
 */
int pm_pidfd_key(int pidfd, uint64_t *key);
int pm_proc_key(pid_t pid, uint64_t *key);

/* The ids of the process behind `pidfd`, all from one moment: one
 * PIDFD_GET_INFO ioctl (Linux >= 6.13), else one read of /proc/PID/status
 * with the pidfd checked to name that pid before and after the read (so the
 * file read was that process's).  0, or -1 with errno: ESRCH (exited),
 * EACCES (/proc hidden). */
int pm_pidfd_creds(int pidfd, struct pm_proc_creds *c);

/* --- socket peers (peer_id.c) ----------------------------------------- */

/* The process at the other end of a connected AF_UNIX socket, as the kernel
 * recorded it when that process called connect() (or listen(), for the
 * listening side we connected to). */
struct pm_peer_id {
    pid_t pid;     /* SO_PEERCRED: the pid at connect/listen time; after that
                      process exits the number may name someone else */
    uid_t uid;     /* SO_PEERCRED: the effective ids at that moment */
    gid_t gid;
    int pidfd;     /* SO_PEERPIDFD (Linux >= 6.5): that very process, or -1
                      where the kernel does not offer it; owned by the
                      struct (pm_peer_release) */
};

/* Fill *id for socket `sock`.  0, or -1 with errno: ESRCH when the kernel
 * already knows the peer has exited, or getsockopt's error.  A kernel
 * without SO_PEERPIDFD is not an error: id->pidfd is -1. */
int pm_peer_get(int sock, struct pm_peer_id *id);

/* Close id->pidfd (if any) and mark it -1.  Safe to call twice. */
void pm_peer_release(struct pm_peer_id *id);

/* Is the socket's peer the live process `pid` that `pidfd` (opened by the
 * caller beforehand, e.g. with pidfd_open) refers to - the same process,
 * not just the same pid number?
 *   1   proven: both pidfds name the same live pid
 *   0   disproved: another pid, or the peer (or the target) has exited
 *  -1   errno ENOTSUP: this kernel gives no pidfd for socket peers; the
 *       pid number matches but a process that held this pid earlier and
 *       passed the socket on cannot be told apart.  Callers then fall back
 *       to a weaker rule (e.g. the peer's uid must be the target's) and
 *       document it.
 * Ordering makes the proof sound: a live process keeps its pid number for
 * life, so if the peer holds pid P at time t1 and the target - alive since
 * before t1 - still holds P at t2 > t1, they are one process. */
int pm_peer_is_process(const struct pm_peer_id *id, pid_t pid, int pidfd);

/* Is the socket's peer the process that holds `pid` now?  The cheap form
 * of pm_peer_is_process() when the caller has no pidfd of its own: the
 * peer held `pid` when it called connect()/listen(), and a process keeps
 * its pid for life, so if it is still alive it is the one holding `pid`.
 *   1   proven (the peer's pidfd says it is alive and its pid was `pid`)
 *   0   disproved: another pid, or the peer has exited
 *  -1   errno ENOTSUP: no SO_PEERPIDFD on this kernel (see above). */
int pm_peer_is_pid(const struct pm_peer_id *id, pid_t pid);

/* The process key (see above) of the socket's peer: from its pidfd, or,
 * without SO_PEERPIDFD, the start time of whoever holds id->pid now (a
 * window the size of the time since connect() in which a reused pid is not
 * told apart).  0, or -1 with ESRCH. */
int pm_peer_key(const struct pm_peer_id *id, uint64_t *key);

/* Whether this kernel offers SO_PEERPIDFD (probed once). */
int pm_peer_pidfd_supported(void);

#endif
