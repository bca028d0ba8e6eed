/*
 * iofunc_devctl(), iofunc_devctl_default(): the commands every resource
 * manager answers (QNX's Devctl and Ioctl Commands reference).
 *
 *   DCMD_ALL_GETFLAGS   fcntl(F_GETFL): the open's access mode (O_RDONLY,
 *                       O_WRONLY, O_RDWR, i.e. the _IO_FLAG_* bits minus
 *                       one) and its status flags (O_APPEND, O_NONBLOCK,
 *                       O_DSYNC, O_SYNC, O_RSYNC, O_LARGEFILE); not the
 *                       open-time flags (O_CREAT, O_TRUNC...).
 *   DCMD_ALL_SETFLAGS   fcntl(F_SETFL): sets those status flags from the
 *                       int that follows the header, never the access mode;
 *                       a *SYNC flag needs IOFUNC_PC_SYNC_IO in the mount's
 *                       conf, else EINVAL (as documented); fewer than
 *                       sizeof(int) bytes of data: EINVAL.
 *   DCMD_ALL_GETMOUNTFLAGS  the mount's flags (0 without a mount).
 * Anything else is _RESMGR_DEFAULT (the framework answers ENOTTY).
 *
 * Replies are an _io_devctl_reply (ret_val 0, nbytes of data) followed by
 * the data, built in place over the message.
 */
#include <fcntl.h>
#include <string.h>

#include <devctl.h>

#include "iofunc/iofunc_internal.h"

#define STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_RSYNC | O_LARGEFILE)
#define SYNC_FLAGS   (O_DSYNC | O_SYNC | O_RSYNC)

static int reply(resmgr_context_t *ctp, io_devctl_t *msg, const void *data, size_t n)
{
    memset(&msg->o, 0, sizeof msg->o);
    msg->o.nbytes = (uint32_t)n;
    if (n)
        memcpy(_DEVCTL_DATA(msg->o), data, n);
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o + n);
}

PM_EXPORT int iofunc_devctl(resmgr_context_t *ctp, io_devctl_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr)
{
    if (!msg || !ocb)
        return IOF_FAIL(EINVAL, "iofunc_devctl: no message or no OCB");
    if (!attr)
        attr = (iofunc_attr_t *)ocb->attr;
    switch ((unsigned)msg->i.dcmd) {
    case DCMD_ALL_GETFLAGS: {
        unsigned io = (unsigned)ocb->ioflag;
        int flags = (int)(((io & _IO_FLAG_MASK) - 1) & O_ACCMODE) | (int)(io & STATUS_FLAGS);
        return reply(ctp, msg, &flags, sizeof flags);
    }
    case DCMD_ALL_SETFLAGS: {
        if (msg->i.nbytes < sizeof(int) ||
            (ctp && ctp->size > 0 && (size_t)ctp->size < sizeof msg->i + sizeof(int)))
            return IOF_FAIL(EINVAL, "DCMD_ALL_SETFLAGS without its int");
        int flags;
        memcpy(&flags, _DEVCTL_DATA(msg->i), sizeof flags);
        if ((flags & SYNC_FLAGS) &&
            !(attr && attr->mount && (attr->mount->conf & IOFUNC_PC_SYNC_IO)))
            return IOF_FAIL(EINVAL, "synchronous I/O flags need IOFUNC_PC_SYNC_IO");
        ocb->ioflag = (int32_t)(((unsigned)ocb->ioflag & ~(unsigned)STATUS_FLAGS) |
                                ((unsigned)flags & STATUS_FLAGS));
        return reply(ctp, msg, NULL, 0);
    }
    case DCMD_ALL_GETMOUNTFLAGS: {
        uint32_t mf = attr && attr->mount ? attr->mount->flags : 0;
        return reply(ctp, msg, &mf, sizeof mf);
    }
    default:
        return _RESMGR_DEFAULT;
    }
}

PM_EXPORT int iofunc_devctl_default(resmgr_context_t *ctp, io_devctl_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_devctl_default: no OCB");
    return iofunc_devctl(ctp, msg, (iofunc_ocb_t *)ocb, (iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr);
}
