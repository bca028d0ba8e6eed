/*
 * The ability table behind procmgr_ability(3), as the rest of the library
 * consults it.  Internal: hidden from the shared library's symbol table.
 */
#ifndef PEERMAP_PEER_ABILITY_H
#define PEERMAP_PEER_ABILITY_H

/* 0 if the calling process holds ability `aid` (a PROCMGR_AID_* value) in
 * the domain in force right now (root domain while geteuid() == 0, non-root
 * domain otherwise), EPERM if not or if peermap does not know `aid`.
 * Thread-safe and async-signal-safe (one atomic load: the table is set up
 * at load); records no reason and leaves errno alone, so the caller can
 * say which operation needed the ability. */
int pm_ability_check(unsigned aid);

/* Record why `what` ("changing another process's memory") was refused for
 * lack of ability `aid`, naming PEERMAP_ABILITIES when it was ignored;
 * errno EPERM, returns -1. */
int pm_ability_fail(unsigned aid, const char *what);

/* Why PEERMAP_ABILITIES granted nothing (it names an ability peermap does
 * not know), or NULL when it was used or is not set.  The text names the
 * variable and the unknown name. */
const char *pm_ability_env_problem(void);

#endif
