/*
 * <sys/procmgr.h> - process abilities (QNX Neutrino API), as peermap keeps them.
 *
 * On QNX the process manager enforces abilities.  On Linux the real security
 * boundary for mmap_peer() is the kernel's ptrace permission check (same uid or
 * CAP_SYS_PTRACE, Yama, LSMs): peermap cannot widen it.  Abilities are the QNX
 * policy layer on top: a process that lacks PROCMGR_AID_MEM_PEER gets EPERM
 * from mmap_peer() even where the kernel would allow it, so code ported from
 * QNX keeps its least-privilege design.  See procmgr_ability(3).
 */
#ifndef PEERMAP_SYS_PROCMGR_H
#define PEERMAP_SYS_PROCMGR_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ability identifiers (QNX's numbers). */
#define PROCMGR_AID_MEM_PEER             19u /* mmap_peer()/munmap_peer() on another process */
#define PROCMGR_AID_PROT_EXEC            23u /* PROT_EXEC in a peer mapping */
#define PROCMGR_AID_PROT_WRITE_AND_EXEC  53u /* PROT_WRITE together with PROT_EXEC */
#define PROCMGR_AID_MASK                 0x0000ffffu
#define PROCMGR_AID_EOL                  PROCMGR_AID_MASK /* ends the argument list */

/* Operations: OR one or more into an ability id. */
#define PROCMGR_AOP_DENY         0x00010000u /* take the ability away */
#define PROCMGR_AOP_ALLOW        0x00020000u /* grant it (root only, see below) */
#define PROCMGR_AOP_SUBRANGE     0x00040000u /* accepted; peermap's abilities have no ranges */
#define PROCMGR_AOP_LOCK         0x00080000u /* no later change to this ability */
#define PROCMGR_AOP_INHERIT_YES  0x00100000u /* keep across fork() (the default) */
#define PROCMGR_AOP_INHERIT_NO   0x00200000u /* drop to the default in fork() children */
#define PROCMGR_AOP_MASK         0x00ff0000u

/* Domains: which credentials the change applies to.  The root domain is in
 * force while the effective uid is 0, the non-root domain otherwise. */
#define PROCMGR_ADN_ROOT         0x40000000u
#define PROCMGR_ADN_NONROOT      0x80000000u
#define PROCMGR_ADN_MASK         0xc0000000u

/*
 * Change abilities of process `pid` (0 or getpid(): the caller; peermap keeps
 * abilities per process, so any other pid is ESRCH if it does not exist and
 * EPERM otherwise).  Each variadic argument is an ability id ORed with
 * operations and domains; the list ends with PROCMGR_AID_EOL.  With no domain
 * bit, both domains are meant.
 *
 * Returns EOK (0) or an error number (it does not set errno, as on QNX):
 * EINVAL for an unknown ability or operation, EPERM for a change to a locked
 * ability, or an ALLOW by a process whose effective uid is not 0.
 */
int procmgr_ability(pid_t pid, unsigned ability, ...);

#ifdef __cplusplus
}
#endif

#endif
