/*
 * The reason behind a failure (peermap_errmsg()), kept per thread, and the
 * bracket around the calls that may run in a signal handler.
 *
 * mmap_peer(), mmap64_peer() and munmap_peer() are async-signal-safe, so a
 * handler may call one while the thread it interrupted is inside another
 * (mmap_peer(3), "Signal handlers").  Each of those calls therefore runs at
 * a level: the outermost at 0, a call made by a handler that interrupted a
 * call at 1, and so on.  A call writes its reason (and its route, path.c)
 * at its own level, and peermap_errmsg() reads the level of the calls still
 * in progress: inside the handler, after its call, that is the handler's
 * call; once the handler has returned and the interrupted call has
 * finished, it is the interrupted call's, untouched.  Levels beyond the
 * last share it.
 */
#include <pthread.h>
#include <stdarg.h>

#include "peermap.h"
#include "common/internal.h"

#define LEVELS PM_LEVELS

static _Thread_local char reason[LEVELS][PM_REASON_MAX];
/* The level the running call writes at, and how many bracketed calls are
 * in progress on this thread (the level the next one takes). */
static _Thread_local int level, depth;

static int clamp(int l)
{
    return l < LEVELS ? l : LEVELS - 1;
}

static void record(int keep, const char *fmt, va_list ap)
{
    char *r = reason[level];
    if (keep && r[0])
        return;
    pm_vfmt(r, PM_REASON_MAX, fmt, ap);
}

int pm_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(1, fmt, ap);
    va_end(ap);
    if (err)
        errno = err;
    return -1;
}

int pm_fail_over(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(0, fmt, ap);
    va_end(ap);
    if (err)
        errno = err;
    return -1;
}

void pm_begin(void)
{
    reason[level][0] = 0;
}

int pm_has_reason(void)
{
    return reason[level][0] != 0;
}

const char *pm_reason(void)
{
    return reason[level];
}

int pm_level(void)
{
    return level;
}

int pm_read_level(void)
{
    return clamp(depth);
}

void pm_call_enter(struct pm_call *c)
{
    c->err = errno;
    /* Not a cancellation point (QNX's table): cancelled in the middle, a
     * call would leave its claims and the target's state half done. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &c->cancel);
    c->level = level;
    level = clamp(depth);
    depth++;
    reason[level][0] = 0;
}

void pm_call_leave(const struct pm_call *c, int failed)
{
    int e = errno;
    int ignored;
    depth--;
    level = c->level;
    pthread_setcancelstate(c->cancel, &ignored);
    /* errno is the call's answer when it failed, and otherwise what the
     * interrupted code had. */
    errno = failed ? e : c->err;
}

PM_EXPORT const char *peermap_errmsg(void)
{
    return reason[clamp(depth)];
}
