/*
 * iofunc_chown(), iofunc_chown_default().
 *
 * POSIX rules, with _POSIX_CHOWN_RESTRICTED taken from the mount's conf
 * (IOFUNC_PC_CHOWN_RESTRICTED; without a mount, restricted, the safe and
 * usual setting):
 *   - root may set any owner and group;
 *   - anyone else must own the file (EPERM), and, when restricted, may
 *     leave the owner as it is and set the group only to one of their own
 *     groups (effective or supplementary), EPERM otherwise; when not
 *     restricted the owner may give the file away;
 *   - -1 leaves an id as it is;
 *   - on success by a non-root caller, S_ISUID and S_ISGID are cleared (on
 *     everything but directories, whose S_ISGID is an inheritance rule);
 *   - not on a read-only mount (EROFS).
 * The change time is marked, IOFUNC_ATTR_DIRTY_OWNER (and _MODE if bits
 * were cleared) set.
 */
#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_chown(resmgr_context_t *ctp, io_chown_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr)
{
    if (!msg)
        return IOF_FAIL(EINVAL, "iofunc_chown: no message");
    if (!attr && ocb)
        attr = (iofunc_attr_t *)ocb->attr;
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_chown: no attribute structure");
    if (iof_rdonly(attr))
        return IOF_FAIL(EROFS, "chown on a read-only mount");
    struct _client_info ci;
    int err = iofunc_client_info(ctp, 0, &ci);
    if (err)
        return err;
    uid_t uid = msg->i.uid == -1 ? attr->uid : (uid_t)msg->i.uid;
    gid_t gid = msg->i.gid == -1 ? attr->gid : (gid_t)msg->i.gid;
    int root = iof_is_root(&ci);
    if (!root) {
        err = iofunc_check_access(ctp, attr, S_ISUID, &ci);
        if (err)
            return err;
        int restricted = !attr->mount || (attr->mount->conf & IOFUNC_PC_CHOWN_RESTRICTED);
        if (restricted && uid != attr->uid)
            return IOF_FAIL(EPERM, "only root may give a file away (chown restricted)");
        if (restricted && gid != attr->gid && !iof_in_group(&ci, gid))
            return IOF_FAIL(EPERM, "uid %u is not in group %u (chown restricted)",
                            (unsigned)ci.cred.euid, (unsigned)gid);
    }
    attr->uid = uid;
    attr->gid = gid;
    attr->flags |= IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_OWNER;
    if (!root && !S_ISDIR(attr->mode) && (attr->mode & (S_ISUID | S_ISGID))) {
        attr->mode &= ~(mode_t)(S_ISUID | S_ISGID);
        attr->flags |= IOFUNC_ATTR_DIRTY_MODE;
    }
    return EOK;
}

PM_EXPORT int iofunc_chown_default(resmgr_context_t *ctp, io_chown_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_chown_default: no OCB");
    return iofunc_chown(ctp, msg, (iofunc_ocb_t *)ocb, (iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr);
}
