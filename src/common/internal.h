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
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PM_EXPORT __attribute__((visibility("default")))

/* The longest reason kept (peermap_errmsg()), terminator included. */
#define PM_REASON_MAX 256

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

/* The level of the running call (errmsg.c): 0 for an outermost call, 1 for
 * a call a signal handler made while the thread was inside another one, and
 * so on.  Per-call state
 * of this thread (the route taken, why a route was closed) is kept per
 * level, so that a handler's call leaves the interrupted call's alone.
 * pm_read_level() is the level peermap_errmsg() and peermap_last_path()
 * read: that of the calls in progress. */
int pm_level(void);
int pm_read_level(void);
#define PM_LEVELS 4

/*
 * The bracket around a call that may run in a signal handler (mmap_peer(),
 * munmap_peer()): enter saves errno and the cancellation state (disabled
 * for the call) and opens the next level with an empty reason; leave
 * closes it and leaves errno as the interrupted code had it, unless the
 * call failed (then errno is the call's answer).
 */
struct pm_call {
    int err, level, cancel;
};
void pm_call_enter(struct pm_call *c);
void pm_call_leave(const struct pm_call *c, int failed);

/*
 * printf into buf, safe in a signal handler (fmt.c): no allocation, lock
 * or locale; errno kept.  d i u o x X c s p m %, flags - 0 # + space,
 * width, precision, lengths hh h l ll z j t.  Returns the length the whole
 * text would have had; buf is always terminated (n > 0).
 */
int pm_vfmt(char *buf, size_t n, const char *fmt, va_list ap);
int pm_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* strerror() without the locale (glibc's strerrordesc_np()): safe anywhere. */
const char *pm_strerror(int e);

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
