/*
 * iofunc_read_default(), iofunc_write_default(): a resource with no data.
 *
 * Read: after iofunc_read_verify(), zero bytes (end of file), and the
 * access time is marked for update (IOFUNC_ATTR_ATIME).
 * Write: after iofunc_write_verify(), every requested byte is reported
 * written (QNX 7's documented behaviour: "indicates that it wrote the
 * requested number of bytes"), the data going nowhere, and the
 * modification and change times are marked (IOFUNC_ATTR_MTIME | CTIME) if
 * there was anything to write.  The reply status is an int: a request
 * above INT_MAX bytes is reported as a partial write of INT_MAX bytes, which
 * POSIX allows.  Neither touches ocb->offset (no data moved).
 */
#include <limits.h>

#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_read_default(resmgr_context_t *ctp, io_read_t *msg, IOFUNC_OCB_T *ocb)
{
    int err = iofunc_read_verify(ctp, msg, ocb, NULL);
    if (err)
        return err;
    iofunc_ocb_t *o = (iofunc_ocb_t *)ocb;
    if (o->attr)
        ((iofunc_attr_t *)o->attr)->flags |= IOFUNC_ATTR_ATIME;
    _IO_SET_READ_NBYTES(ctp, 0);
    return EOK;
}

PM_EXPORT int iofunc_write_default(resmgr_context_t *ctp, io_write_t *msg, IOFUNC_OCB_T *ocb)
{
    int err = iofunc_write_verify(ctp, msg, ocb, NULL);
    if (err)
        return err;
    iofunc_ocb_t *o = (iofunc_ocb_t *)ocb;
    uint64_t n = _IO_WRITE_GET_NBYTES(msg);
    if (n > INT_MAX)
        n = INT_MAX;
    if (n && o->attr)
        ((iofunc_attr_t *)o->attr)->flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
    _IO_SET_WRITE_NBYTES(ctp, (int)n);
    return EOK;
}
