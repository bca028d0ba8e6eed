/*
 * iofunc_stat(), iofunc_stat_default(): struct stat from the attribute.
 *
 * Pending times are made real first (iofunc_time_update()).  st_dev is the
 * mount's dev (0 without a mount), st_rdev the attribute's rdev,
 * st_blksize the mount's blocksize if positive, else 512, and st_blocks the
 * size in 512-byte units, rounded up (Linux's unit for st_blocks).  The
 * default handler fills msg->o (Linux's struct stat, see <sys/iomsg.h>) and
 * replies with it.
 */
#include <string.h>

#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_stat(resmgr_context_t *ctp, iofunc_attr_t *attr, struct stat *st)
{
    (void)ctp;
    if (!attr || !st)
        return IOF_FAIL(EINVAL, "iofunc_stat: no attribute or no stat structure");
    iofunc_time_update(attr);
    memset(st, 0, sizeof *st);
    st->st_ino = attr->inode;
    st->st_mode = attr->mode;
    st->st_nlink = attr->nlink;
    st->st_uid = attr->uid;
    st->st_gid = attr->gid;
    st->st_size = attr->nbytes;
    st->st_atim.tv_sec = attr->atime;
    st->st_mtim.tv_sec = attr->mtime;
    st->st_ctim.tv_sec = attr->ctime;
    st->st_rdev = attr->rdev;
    st->st_dev = attr->mount ? attr->mount->dev : 0;
    st->st_blksize = attr->mount && attr->mount->blocksize > 0 ? attr->mount->blocksize : 512;
    off_t n = attr->nbytes > 0 ? attr->nbytes : 0;
    st->st_blocks = (blkcnt_t)(n / 512 + (n % 512 != 0));
    return EOK;
}

PM_EXPORT int iofunc_stat_default(resmgr_context_t *ctp, io_stat_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!msg || !ocb)
        return IOF_FAIL(EINVAL, "iofunc_stat_default: no message or no OCB");
    int err = iofunc_stat(ctp, (iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr, &msg->o);
    if (err)
        return err;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}
