/*
 * Internal conventions shared by every part of the library.
 *
 * Errors: a failing internal function returns -1 (or MAP_FAILED/NULL) with
 * errno set, after recording a human reason with pm_fail().  The public entry
 * points clear the reason on entry (pm_begin()), so peermap_errmsg() always
 * speaks of the last public call of this thread.
 */
#ifndef PEERMAP_INTERNAL_H
#define PEERMAP_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PM_EXPORT __attribute__((visibility("default")))

/* Record `reason` (printf format) for this thread, set errno = err, return -1.
 * A reason already recorded by a deeper layer is kept: the deepest layer knows
 * most.  err == 0 keeps errno as it is. */
int pm_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like pm_fail but replaces any earlier reason. */
int pm_fail_over(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Start of a public call: forget the previous reason. */
void pm_begin(void);

/* Whether a reason is recorded, and the reason itself (to carry it from
 * the tracer thread back to the caller's thread). */
int pm_has_reason(void);
const char *pm_reason(void);

/* Monotonic clock in nanoseconds. */
static inline int64_t pm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* pagesize.c: the kernel's page size (sysconf, cached), and its default
 * huge page size (/proc/meminfo; 0 when it has none). */
size_t pm_page_size(void);
size_t pm_huge_page_size(void);

/* The deadline, in ns from now, a call allows for the target (peermap.h). */
int64_t pm_timeout_ns(void);

/* The deadline, in ns from now, for the target's own library to answer a
 * request made without ptrace (in-band, agent; peermap.h). */
int64_t pm_inband_timeout_ns(void);

#endif
