/*
 * iofunc_lseek(), iofunc_lseek_default(): POSIX lseek on ocb->offset.
 *
 * SEEK_SET / SEEK_CUR (the OCB's offset) / SEEK_END (attr->nbytes) plus the
 * message's offset, a signed 64-bit value.  As QNX documents: an unknown
 * whence or a negative result is EINVAL, a result beyond what off_t holds
 * is EOVERFLOW; a pipe, FIFO or socket cannot seek (ESPIPE, POSIX).  On
 * success the new offset is stored in the OCB and replied in msg->o (one
 * part, the handler returns _RESMGR_NPARTS(1), i.e. -1) - except in a
 * combine message (_IO_COMBINE_FLAG in combine_len), where the offset is
 * only for the message that follows: EOK, no reply data.
 */
#include <stdio.h>

#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_lseek(resmgr_context_t *ctp, io_lseek_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr)
{
    if (!msg || !ocb)
        return IOF_FAIL(EINVAL, "iofunc_lseek: no message or no OCB");
    if (!attr)
        attr = (iofunc_attr_t *)ocb->attr;
    if (attr && (S_ISFIFO(attr->mode) || S_ISSOCK(attr->mode)))
        return IOF_FAIL(ESPIPE, "a pipe or socket cannot seek");
    off_t base;
    switch (msg->i.whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = ocb->offset;
        break;
    case SEEK_END:
        base = attr ? attr->nbytes : 0;
        break;
    default:
        return IOF_FAIL(EINVAL, "whence %d is not SEEK_SET, SEEK_CUR or SEEK_END",
                        (int)msg->i.whence);
    }
    int64_t off = (int64_t)msg->i.offset;
    off_t pos;
    if (__builtin_add_overflow(base, off, &pos))
        return off > 0 ? IOF_FAIL(EOVERFLOW, "the new offset does not fit in off_t")
                       : IOF_FAIL(EINVAL, "the new offset would be negative");
    if (pos < 0)
        return IOF_FAIL(EINVAL, "the new offset would be negative");
    ocb->offset = pos;
    if (msg->i.combine_len & _IO_COMBINE_FLAG)
        return EOK;
    msg->o = (uint64_t)pos;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}

PM_EXPORT int iofunc_lseek_default(resmgr_context_t *ctp, io_lseek_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_lseek_default: no OCB");
    return iofunc_lseek(ctp, msg, (iofunc_ocb_t *)ocb, (iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr);
}
