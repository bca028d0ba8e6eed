/*
 * resmgr_msgread()/resmgr_msgwrite() and their vector forms: MsgRead() /
 * MsgWrite() on the message being handled, at offsets counted from where
 * that message starts in what the client sent (ctp->offset, 0 unless a
 * combined message is being handled).  The message layer bounds reads by
 * what the client sent (srcmsglen) and writes by what it can take
 * (dstmsglen), so no length inside a message is trusted here.
 */
#include "common/internal.h"
#include "resmgr/resmgr_internal.h"

static int bad(resmgr_context_t *ctp)
{
    if (!ctp)
        return pm_fail(EINVAL, "no context");
    if (ctp->rcvid <= 0)
        return pm_fail(ESRCH, "no message to read or write (a pulse?)");
    return 0;
}

PM_EXPORT ssize_t resmgr_msgread(resmgr_context_t *ctp, void *msg, size_t nbytes, size_t offset)
{
    pm_begin();
    if (bad(ctp))
        return -1;
    return MsgRead(ctp->rcvid, msg, nbytes, (size_t)ctp->offset + offset);
}

PM_EXPORT ssize_t resmgr_msgwrite(resmgr_context_t *ctp, const void *msg, size_t nbytes,
                                  size_t offset)
{
    pm_begin();
    if (bad(ctp))
        return -1;
    return MsgWrite(ctp->rcvid, msg, nbytes, offset);
}

PM_EXPORT ssize_t resmgr_msgreadv(resmgr_context_t *ctp, iov_t *iov, int parts, size_t offset)
{
    pm_begin();
    if (bad(ctp))
        return -1;
    if (parts < 0)
        return pm_fail(EINVAL, "resmgr_msgreadv(): %d parts", parts);
    return MsgReadv(ctp->rcvid, iov, (size_t)parts, (size_t)ctp->offset + offset);
}

PM_EXPORT ssize_t resmgr_msgwritev(resmgr_context_t *ctp, const iov_t *iov, int parts,
                                   size_t offset)
{
    pm_begin();
    if (bad(ctp))
        return -1;
    if (parts < 0)
        return pm_fail(EINVAL, "resmgr_msgwritev(): %d parts", parts);
    return MsgWritev(ctp->rcvid, iov, (size_t)parts, offset);
}
