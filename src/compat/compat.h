/*
 * What the QNX C-library extras (src/compat/) share.
 */
#ifndef PEERMAP_COMPAT_H
#define PEERMAP_COMPAT_H

/* The rate of ClockCycles(): it counts nanoseconds. */
#define PM_CYCLES_PER_SEC 1000000000ull

#endif
