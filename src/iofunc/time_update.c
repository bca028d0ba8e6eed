/*
 * iofunc_time_update(): the IOFUNC_ATTR_ATIME/MTIME/CTIME flags mean "this
 * time is stale, it should be now".  Handlers only set the flags (cheap);
 * the times are made real when someone looks (stat) or the OCB goes away.
 * As QNX documents: each flagged time becomes now, IOFUNC_ATTR_DIRTY_TIME
 * is set if any time changed, and the three flags are always cleared.
 */
#include <time.h>

#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_time_update(iofunc_attr_t *attr)
{
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_time_update: no attribute structure");
    uint32_t want = attr->flags & (IOFUNC_ATTR_ATIME | IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME);
    if (want) {
        time_t now = time(NULL);
        int changed = 0;
        if ((want & IOFUNC_ATTR_ATIME) && attr->atime != now) {
            attr->atime = now;
            changed = 1;
        }
        if ((want & IOFUNC_ATTR_MTIME) && attr->mtime != now) {
            attr->mtime = now;
            changed = 1;
        }
        if ((want & IOFUNC_ATTR_CTIME) && attr->ctime != now) {
            attr->ctime = now;
            changed = 1;
        }
        if (changed)
            attr->flags |= IOFUNC_ATTR_DIRTY_TIME;
    }
    attr->flags &= ~(IOFUNC_ATTR_ATIME | IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME);
    return EOK;
}
