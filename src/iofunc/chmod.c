/*
 * iofunc_chmod(), iofunc_chmod_default().
 *
 * POSIX: only the owner or root may change the mode (EPERM), not on a
 * read-only mount (EROFS).  Only the permission bits (07777) change, never
 * the file type.  A non-root caller who is not in the file's group cannot
 * set S_ISGID: the bit is cleared, as POSIX allows and Linux does.  The
 * change time is marked and IOFUNC_ATTR_DIRTY_MODE set.
 */
#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_chmod(resmgr_context_t *ctp, io_chmod_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr)
{
    if (!msg)
        return IOF_FAIL(EINVAL, "iofunc_chmod: no message");
    if (!attr && ocb)
        attr = (iofunc_attr_t *)ocb->attr;
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_chmod: no attribute structure");
    if (iof_rdonly(attr))
        return IOF_FAIL(EROFS, "chmod on a read-only mount");
    struct _client_info ci;
    int err = iofunc_client_info(ctp, 0, &ci);
    if (err)
        return err;
    err = iofunc_check_access(ctp, attr, S_ISUID, &ci);
    if (err)
        return err;
    mode_t mode = msg->i.mode & 07777;
    if ((mode & S_ISGID) && !iof_is_root(&ci) && !iof_in_group(&ci, attr->gid))
        mode &= ~(mode_t)S_ISGID;
    attr->mode = (attr->mode & S_IFMT) | mode;
    attr->flags |= IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_MODE;
    return EOK;
}

PM_EXPORT int iofunc_chmod_default(resmgr_context_t *ctp, io_chmod_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_chmod_default: no OCB");
    return iofunc_chmod(ctp, msg, (iofunc_ocb_t *)ocb, (iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr);
}
