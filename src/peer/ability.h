/*
 * The ability table behind procmgr_ability(3), as the rest of the library
 * consults it.  Internal: hidden from the shared library's symbol table.
 */
#ifndef PEERMAP_PEER_ABILITY_H
#define PEERMAP_PEER_ABILITY_H

/* 0 if the calling process holds ability `aid` (a PROCMGR_AID_* value) in
 * the domain in force right now (root domain while geteuid() == 0, non-root
 * domain otherwise), EPERM if not or if peermap does not know `aid`.
 * Thread-safe; records no reason and leaves errno alone, so the caller can
 * say which operation needed the ability. */
int pm_ability_check(unsigned aid);

#endif
