/*
 * resmgr_msg_again() and resmgr_msgget().
 *
 * resmgr_msg_again(): a manager that could not answer a request at once
 * (a read with no data yet) returns _RESMGR_NOREPLY and keeps the rcvid;
 * when the data comes it asks for the request to be handled again.  The
 * client's message is still there to be read (it stays readable until
 * the reply), so the library reads it anew into a context of its own and
 * runs it through the handlers exactly as dispatch_handler() does - with
 * the OCB of the client's connection, lock_ocb/unlock_ocb around it, and
 * the reply the handler's return value asks for.  The caller's ctp (often
 * the one handling the write that brought the data) is not touched.
 */
#include <string.h>

#include "common/internal.h"
#include "resmgr/resmgr_internal.h"

PM_EXPORT int resmgr_msg_again(resmgr_context_t *ctp, rcvid_t rcvid)
{
    pm_begin();
    if (!ctp || !ctp->dpp)
        return pm_fail(EINVAL, "resmgr_msg_again(): no context");
    if (rcvid <= 0)
        return pm_fail(EINVAL, "resmgr_msg_again(): rcvid %ld is no message", (long)rcvid);
    dispatch_context_t *own = dispatch_context_alloc(ctp->dpp);
    if (!own)
        return -1;
    resmgr_context_t *c = &own->resmgr_context;
    struct pm_rm_ctx *x = PM_RM_CTX(own);
    int rc = -1;
    if (MsgInfo(rcvid, &c->info) < 0) {
        pm_fail_over(ESRCH, "resmgr_msg_again(): rcvid %ld: the client is no longer "
                     "waiting", (long)rcvid);
        goto out;
    }
    ssize_t n = MsgRead(rcvid, x->buf, x->bufsize, 0);
    if (n < 0)
        goto out;
    c->rcvid = rcvid;
    c->size = (int)n;
    c->info.msglen = (int32_t)n;
    x->dirty = (size_t)n;
    c->tid = (unsigned)gettid();
    rc = dispatch_handler(own) == 0
             ? 0
             : pm_fail(ENOSYS, "resmgr_msg_again(): no handler took the message");
out:;
    int e = errno;
    dispatch_context_free(own);
    errno = e;
    return rc;
}

PM_EXPORT ssize_t resmgr_msgget(resmgr_context_t *ctp, void *msg, size_t nbytes, size_t offset)
{
    pm_begin();
    if (!ctp)
        return pm_fail(EINVAL, "resmgr_msgget(): no context");
    if (ctp->rcvid <= 0)
        return pm_fail(ESRCH, "resmgr_msgget(): no message (a pulse?)");
    /* What arrived with the message starts at ctp->offset of the buffer. */
    size_t start = (size_t)(ctp->offset > 0 ? ctp->offset : 0) + offset;
    size_t have = ctp->size > 0 && (size_t)ctp->size > start ? (size_t)ctp->size - start : 0;
    if (have > nbytes)
        have = nbytes;
    if (have)
        memcpy(msg, (const char *)ctp->msg + start, have);
    if (have == nbytes)
        return (ssize_t)have;
    ssize_t more = MsgRead(ctp->rcvid, (char *)msg + have, nbytes - have, start + have);
    if (more < 0)
        return have ? (ssize_t)have : -1;
    return (ssize_t)(have + (size_t)more);
}
