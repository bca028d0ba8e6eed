/*
 * message_attach()/message_detach(), pulse_attach()/pulse_detach().
 *
 * Decisions:
 *  - Message ranges may not overlap the I/O protocol (_IO_BASE.._IO_MAX),
 *    which the resource-manager layer owns, nor each other (EINVAL, as for
 *    overlapping pulse codes: EBUSY would hide the bug as a transient).
 *  - Pulse codes are -128..127; MSG_FLAG_ALLOC_PULSE (pulse_attach) picks the
 *    lowest free code in _PULSE_CODE_MINAVAIL.._DISPATCH_MAX_PULSE_CODE and
 *    ignores `code`; none free is EAGAIN.  Attaching the kernel codes
 *    (_PULSE_CODE_DISCONNECT...) is allowed: the library still does its own
 *    work for DISCONNECT first (see resmgr_handle.c).
 *  - The handler's return value is ignored; a message handler replies
 *    itself (MsgReply on ctp->rcvid), as on QNX.
 *  - detach with a range that matches no attach exactly is EINVAL.
 */
#include <stdlib.h>

#include "common/internal.h"
#include "resmgr/resmgr_internal.h"

typedef int (*range_fn)(message_context_t *ctp, int code, unsigned flags, void *handle);

static int overlaps(dispatch_t *dpp, int pulse, int low, int high)
{
    for (int i = 0; i < dpp->nranges; i++) {
        struct pm_rm_range *r = &dpp->ranges[i];
        if (!!(r->flags & MSG_FLAG_TYPE_PULSE) == pulse && r->low <= high && low <= r->high)
            return 1;
    }
    return 0;
}

/* Add a range (lock held). */
static int add(dispatch_t *dpp, int low, int high, unsigned flags, range_fn func, void *handle)
{
    if (dpp->nranges == dpp->cap_ranges) {
        int n = dpp->cap_ranges ? dpp->cap_ranges * 2 : 8;
        struct pm_rm_range *t = realloc(dpp->ranges, (size_t)n * sizeof *t);
        if (!t)
            return pm_fail(ENOMEM, "message_attach(): out of memory");
        dpp->ranges = t;
        dpp->cap_ranges = n;
    }
    dpp->ranges[dpp->nranges++] = (struct pm_rm_range){ low, high, flags, func, handle };
    return 0;
}

PM_EXPORT int message_attach(dispatch_t *dpp, message_attr_t *attr, int low, int high,
                             range_fn func, void *handle)
{
    pm_begin();
    if (!dpp || !func)
        return pm_fail(EINVAL, "message_attach(): no dispatch handle or function");
    unsigned flags = attr ? attr->flags : 0;
    int pulse = (flags & MSG_FLAG_TYPE_PULSE) != 0;
    if (low > high)
        return pm_fail(EINVAL, "message_attach(): range %d..%d is empty", low, high);
    if (pulse ? (low < -128 || high > 127) : (low < 0 || high > 0xffff))
        return pm_fail(EINVAL, "message_attach(): range %d..%d out of bounds", low, high);
    if (!pulse && low <= _IO_MAX && high >= _IO_BASE)
        return pm_fail(EINVAL, "message_attach(): %d..%d overlaps the I/O messages "
                       "(%#x..%#x)", low, high, _IO_BASE, _IO_MAX);
    if (attr)
        pm_rm_update_sizes(dpp, attr->msg_max_size, attr->nparts_max);
    pthread_mutex_lock(&dpp->lock);
    int rc;
    if (overlaps(dpp, pulse, low, high))
        rc = pm_fail(EINVAL, "message_attach(): %d..%d overlaps an attached range", low, high);
    else
        rc = add(dpp, low, high, flags, func, handle);
    pthread_mutex_unlock(&dpp->lock);
    return rc;
}

static int detach(dispatch_t *dpp, int pulse, int low, int high)
{
    if (!dpp)
        return pm_fail(EINVAL, "no dispatch handle");
    pthread_mutex_lock(&dpp->lock);
    for (int i = 0; i < dpp->nranges; i++) {
        struct pm_rm_range *r = &dpp->ranges[i];
        if (!!(r->flags & MSG_FLAG_TYPE_PULSE) == pulse && r->low == low && r->high == high) {
            dpp->ranges[i] = dpp->ranges[--dpp->nranges];
            pthread_mutex_unlock(&dpp->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&dpp->lock);
    return pm_fail(EINVAL, "nothing attached at %d..%d", low, high);
}

PM_EXPORT int message_detach(dispatch_t *dpp, int low, int high, int flags)
{
    pm_begin();
    return detach(dpp, (flags & MSG_FLAG_TYPE_PULSE) != 0, low, high);
}

PM_EXPORT int pulse_attach(dispatch_t *dpp, int flags, int code, range_fn func, void *handle)
{
    pm_begin();
    if (!dpp || !func)
        return pm_fail(EINVAL, "pulse_attach(): no dispatch handle or function");
    unsigned f = (unsigned)flags | MSG_FLAG_TYPE_PULSE;
    pthread_mutex_lock(&dpp->lock);
    int rc = -1;
    if (f & MSG_FLAG_ALLOC_PULSE) {
        for (int c = _PULSE_CODE_MINAVAIL; c <= _DISPATCH_MAX_PULSE_CODE; c++)
            if (!overlaps(dpp, 1, c, c)) {
                rc = add(dpp, c, c, f, func, handle) == 0 ? c : -1;
                goto out;
            }
        rc = pm_fail(EAGAIN, "pulse_attach(): no free pulse code");
    } else if (code < -128 || code > 127) {
        rc = pm_fail(EINVAL, "pulse_attach(): code %d does not fit in 8 bits", code);
    } else if (overlaps(dpp, 1, code, code)) {
        rc = pm_fail(EINVAL, "pulse_attach(): code %d is already attached", code);
    } else {
        rc = add(dpp, code, code, f, func, handle) == 0 ? code : -1;
    }
out:
    pthread_mutex_unlock(&dpp->lock);
    return rc;
}

PM_EXPORT int pulse_detach(dispatch_t *dpp, int code, int flags)
{
    (void)flags;
    pm_begin();
    return detach(dpp, 1, code, code);
}

int pm_rm_find_range(dispatch_t *dpp, int pulse, int value, struct pm_rm_range *out)
{
    int found = 0;
    pthread_mutex_lock(&dpp->lock);
    for (int i = 0; i < dpp->nranges; i++) {
        struct pm_rm_range *r = &dpp->ranges[i];
        if (!!(r->flags & MSG_FLAG_TYPE_PULSE) == pulse && r->low <= value && value <= r->high) {
            *out = *r;
            found = 1;
            break;
        }
    }
    if (!found && !pulse)
        for (int i = 0; i < dpp->nranges; i++)
            if (dpp->ranges[i].flags & MSG_FLAG_DEFAULT_FUNC &&
                !(dpp->ranges[i].flags & MSG_FLAG_TYPE_PULSE)) {
                *out = dpp->ranges[i];
                found = 1;
                break;
            }
    pthread_mutex_unlock(&dpp->lock);
    return found;
}
