#include <stdarg.h>
#include <stdio.h>

#include "peermap.h"
#include "common/internal.h"

/* One reason per thread: callers in different threads never see each
 * other's failures, and the string needs no locking. */
static _Thread_local char reason[256];

static void record(int keep, const char *fmt, va_list ap)
{
    if (keep && reason[0])
        return;
    vsnprintf(reason, sizeof reason, fmt, ap);
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
    reason[0] = 0;
}

int pm_has_reason(void)
{
    return reason[0] != 0;
}

const char *pm_reason(void)
{
    return reason;
}

PM_EXPORT const char *peermap_errmsg(void)
{
    return reason;
}
