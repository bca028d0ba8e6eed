/*
 * iofunc_read_verify(), iofunc_write_verify(): may this read/write go ahead
 * on this OCB, and may it block?
 *
 *  - The open must include the access (ocb->ioflag & _IO_FLAG_RD / _WR),
 *    else EBADF.
 *  - The xtype.  Decision: the xtypes a POSIX resource manager can serve
 *    without knowing more are accepted: _IO_XTYPE_NONE and _IO_XTYPE_OFFSET
 *    (pread/pwrite) for both, and _IO_XTYPE_READCOND (readcond()) for reads.
 *    Any other xtype is EINVAL, the error QNX documents for "an unknown
 *    xtype" (a manager that serves, say, _IO_XTYPE_TCPIP checks its own
 *    message before or instead of calling these).
 *  - An xtype with a structure after the header (_xtype_offset,
 *    _xtype_readcond) must have that structure in what was received
 *    (ctp->size, when the framework filled it in), else EBADMSG.
 *  - *nonblock (if not NULL): O_NONBLOCK or 0, from the open's O_NONBLOCK,
 *    overridden for this call by _IO_XFLAG_NONBLOCK (wins) or
 *    _IO_XFLAG_BLOCK in the xtype.
 */
#include <fcntl.h>

#include "iofunc/iofunc_internal.h"

static int verify(resmgr_context_t *ctp, uint32_t xtype_all, iofunc_ocb_t *ocb,
                  int *nonblock, int writing)
{
    if (!ocb)
        return IOF_FAIL(EBADF, "no OCB");
    unsigned need = writing ? _IO_FLAG_WR : _IO_FLAG_RD;
    if (!((unsigned)ocb->ioflag & need))
        return IOF_FAIL(EBADF, "the resource was not opened for %s",
                        writing ? "writing" : "reading");
    size_t extra;
    switch (xtype_all & _IO_XTYPE_MASK) {
    case _IO_XTYPE_NONE:
        extra = 0;
        break;
    case _IO_XTYPE_OFFSET:
        extra = sizeof(struct _xtype_offset);
        break;
    case _IO_XTYPE_READCOND:
        if (!writing) {
            extra = sizeof(struct _xtype_readcond);
            break;
        }
        /* fall through */
    default:
        return IOF_FAIL(EINVAL, "xtype %u is not one the POSIX layer handles",
                        (unsigned)(xtype_all & _IO_XTYPE_MASK));
    }
    /* _io_read/_io_read64/_io_write/_io_write64 are all the same size. */
    if (extra && ctp && ctp->size > 0 &&
        (size_t)ctp->size < sizeof(struct _io_read) + extra)
        return IOF_FAIL(EBADMSG, "the message is %d bytes, too short for its xtype's %zu more",
                        ctp->size, extra);
    if (nonblock) {
        int nb = ocb->ioflag & O_NONBLOCK;
        if (xtype_all & _IO_XFLAG_NONBLOCK)
            nb = O_NONBLOCK;
        else if (xtype_all & _IO_XFLAG_BLOCK)
            nb = 0;
        *nonblock = nb;
    }
    return EOK;
}

PM_EXPORT int iofunc_read_verify(resmgr_context_t *ctp, io_read_t *msg, IOFUNC_OCB_T *ocb, int *nonblock)
{
    if (!msg)
        return IOF_FAIL(EINVAL, "iofunc_read_verify: no message");
    return verify(ctp, msg->i.xtype, (iofunc_ocb_t *)ocb, nonblock, 0);
}

PM_EXPORT int iofunc_write_verify(resmgr_context_t *ctp, io_write_t *msg, IOFUNC_OCB_T *ocb, int *nonblock)
{
    if (!msg)
        return IOF_FAIL(EINVAL, "iofunc_write_verify: no message");
    return verify(ctp, msg->i.xtype, (iofunc_ocb_t *)ocb, nonblock, 1);
}
