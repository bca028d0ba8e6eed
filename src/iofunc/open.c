/*
 * Opening and closing: iofunc_open(), iofunc_open_default(),
 * iofunc_ocb_attach(), iofunc_ocb_detach(), iofunc_close_ocb(),
 * iofunc_close_ocb_default().
 *
 * iofunc_open() decides; it changes nothing unless the open is allowed
 * (only then does O_TRUNC truncate).  In order:
 *   1. the client (info, or ConnectClientInfo() on ctp's connection);
 *   2. creating (dattr != NULL): the client needs write and search (x)
 *      permission on the directory (EACCES); attr, if given, is initialised
 *      for the creator with the message's mode (file type S_IFREG if the
 *      mode has none).  The creator may open what it creates whatever the
 *      new mode says (POSIX), so 5-6 do not apply;
 *   3. O_CREAT|O_EXCL on an existing resource: EEXIST;
 *   4. writing (or O_TRUNC) on a read-only mount: EROFS; a directory opened
 *      for writing: EISDIR;
 *   5. permissions: read / write as the open mode asks, per
 *      iofunc_check_access() (EACCES);
 *   6. share modes (sflag & SH_MASK; SH_COMPAT counts as SH_DENYNO): EBUSY
 *      if this open wants to read and another denies reading (rlocks), wants
 *      to write and another denies writing (wlocks), or denies reading while
 *      another reads (rcount) / writing while another writes (wcount) -
 *      sopen()'s documented EBUSY.  An sflag that is no SH_* value: EINVAL;
 *   7. O_TRUNC with write access on a regular file: size 0, and the
 *      modification and change times marked (POSIX: even if it was empty).
 *      O_TRUNC on other file types is ignored, as POSIX allows.
 * The open is not counted here: iofunc_ocb_attach() counts it.
 *
 * iofunc_ocb_attach() makes the OCB (the mount's ocb_calloc, else calloc of
 * an iofunc_ocb_t) unless given one, fills attr, ioflag, sflag and the
 * offset (the size with O_APPEND, else 0), counts the open in attr (count,
 * rcount, wcount, and rlocks/wlocks for the share mode) and binds the OCB
 * to the client's connection with resmgr_open_bind().  If the binding
 * fails, the counts are undone and an OCB it allocated is freed.
 *
 * iofunc_ocb_detach() undoes the counts and returns which ones reached zero
 * (IOFUNC_OCB_LAST_*); it first brings pending times up to date
 * (iofunc_time_update()).  Decision: closing a writer does not by itself
 * mark mtime/ctime - POSIX changes them when data changes (writes and
 * truncation mark them as they happen), not on close.
 * iofunc_close_ocb() = detach + free (the mount's ocb_free, else free).
 * Counts are changed under the attribute lock (recursive, so callers that
 * already hold it are fine).
 */
#include <fcntl.h>
#include <stdlib.h>

#include "iofunc/iofunc_internal.h"

static unsigned share_of(unsigned sflag)
{
    unsigned s = sflag & SH_MASK;
    return s == SH_COMPAT ? SH_DENYNO : s;
}

static int denies_read(unsigned share)
{
    return share == SH_DENYRW || share == SH_DENYRD;
}

static int denies_write(unsigned share)
{
    return share == SH_DENYRW || share == SH_DENYWR;
}

PM_EXPORT int iofunc_open(resmgr_context_t *ctp, io_open_t *msg, iofunc_attr_t *attr,
                          iofunc_attr_t *dattr, struct _client_info *info)
{
    if (!msg)
        return IOF_FAIL(EINVAL, "iofunc_open: no message");
    if (!attr && !dattr)
        return IOF_FAIL(EINVAL, "iofunc_open: neither the resource nor its directory");
    unsigned ioflag = msg->connect.ioflag;
    struct _client_info buf;
    const struct _client_info *ci;
    if (!info) {
        int err = iofunc_client_info(ctp, (int)ioflag, &buf);
        if (err)
            return err;
        ci = &buf;
    } else {
        ci = info;
    }

    if (dattr) {
        if (iof_rdonly(dattr))
            return IOF_FAIL(EROFS, "cannot create on a read-only mount");
        int err = iofunc_check_access(ctp, dattr, S_IWRITE | S_IEXEC, ci);
        if (err)
            return err;
        if (attr) {
            mode_t mode = msg->connect.mode;
            if (!(mode & S_IFMT))
                mode |= S_IFREG;
            iofunc_attr_init(attr, mode, dattr, (struct _client_info *)ci);
            attr->mount = dattr->mount;
        }
        return EOK;
    }

    if ((ioflag & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
        return IOF_FAIL(EEXIST, "O_CREAT|O_EXCL: the resource exists");
    int wr = (ioflag & _IO_FLAG_WR) != 0, rd = (ioflag & _IO_FLAG_RD) != 0;
    if ((wr || (ioflag & O_TRUNC)) && iof_rdonly(attr))
        return IOF_FAIL(EROFS, "the resource is on a read-only mount");
    if (wr && S_ISDIR(attr->mode))
        return IOF_FAIL(EISDIR, "a directory cannot be opened for writing");

    mode_t want = (rd ? S_IREAD : 0) | (wr ? S_IWRITE : 0);
    if (want) {
        int err = iofunc_check_access(ctp, attr, want, ci);
        if (err)
            return err;
    }

    unsigned sflag = msg->connect.sflag & SH_MASK;
    if (sflag != SH_COMPAT && sflag != SH_DENYRW && sflag != SH_DENYWR &&
        sflag != SH_DENYRD && sflag != SH_DENYNO)
        return IOF_FAIL(EINVAL, "share mode 0x%x is not an SH_* value", sflag);
    unsigned share = share_of(sflag);
    if (rd && attr->rlocks)
        return IOF_FAIL(EBUSY, "another open denies reading");
    if (wr && attr->wlocks)
        return IOF_FAIL(EBUSY, "another open denies writing");
    if (denies_read(share) && attr->rcount)
        return IOF_FAIL(EBUSY, "cannot deny reading: the resource is open for reading");
    if (denies_write(share) && attr->wcount)
        return IOF_FAIL(EBUSY, "cannot deny writing: the resource is open for writing");

    if ((ioflag & O_TRUNC) && wr && S_ISREG(attr->mode)) {
        if (attr->nbytes != 0)
            attr->flags |= IOFUNC_ATTR_DIRTY_SIZE;
        attr->nbytes = 0;
        attr->flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
    }
    return EOK;
}

PM_EXPORT int iofunc_open_default(resmgr_context_t *ctp, io_open_t *msg, IOFUNC_ATTR_T *attr, void *extra)
{
    (void)extra;
    if (!attr)
        return IOF_FAIL(ENOENT, "iofunc_open_default: no resource");
    iofunc_attr_t *a = (iofunc_attr_t *)attr;
    int err = iofunc_attr_lock(a);
    if (err)
        return err;
    err = iofunc_open(ctp, msg, a, NULL, NULL);
    if (err == EOK)
        err = iofunc_ocb_attach(ctp, msg, NULL, attr, NULL);
    iofunc_attr_unlock(a);
    return err;
}

static iofunc_funcs_t *mount_funcs(const iofunc_attr_t *attr)
{
    return attr && attr->mount ? attr->mount->funcs : NULL;
}

void iof_ocb_free(iofunc_attr_t *attr, iofunc_ocb_t *ocb)
{
    iofunc_funcs_t *f = mount_funcs(attr);
    if (f && f->nfuncs >= 2 && f->ocb_free)
        f->ocb_free((IOFUNC_OCB_T *)ocb);
    else
        free(ocb);
}

/* Count (dir +1) or uncount (dir -1) an open of `o` in attr; returns the
 * IOFUNC_OCB_LAST_* bits of the counts that reached zero. */
static int count_open(iofunc_attr_t *attr, const iofunc_ocb_t *o, int dir)
{
    int last = 0;
    unsigned share = share_of(o->sflag);
#define STEP(field, bit)                                                   \
    do {                                                                   \
        if (dir > 0) {                                                     \
            attr->field++;                                                 \
        } else if (attr->field > 0 && --attr->field == 0) {                \
            last |= (bit);                                                 \
        }                                                                  \
    } while (0)
    if ((unsigned)o->ioflag & _IO_FLAG_RD)
        STEP(rcount, IOFUNC_OCB_LAST_READER);
    if ((unsigned)o->ioflag & _IO_FLAG_WR)
        STEP(wcount, IOFUNC_OCB_LAST_WRITER);
    if (denies_read(share))
        STEP(rlocks, IOFUNC_OCB_LAST_RDLOCK);
    if (denies_write(share))
        STEP(wlocks, IOFUNC_OCB_LAST_WRLOCK);
    STEP(count, IOFUNC_OCB_LAST_INUSE);
#undef STEP
    return last;
}

PM_EXPORT int iofunc_ocb_attach(resmgr_context_t *ctp, io_open_t *msg, IOFUNC_OCB_T *ocb,
                                IOFUNC_ATTR_T *attr, const resmgr_io_funcs_t *io_funcs)
{
    if (!msg || !attr)
        return IOF_FAIL(EINVAL, "iofunc_ocb_attach: no message or no attribute structure");
    iofunc_attr_t *a = (iofunc_attr_t *)attr;
    int err = iofunc_attr_lock(a);
    if (err)
        return err;
    if (a->count == UINT16_MAX || a->rcount == UINT16_MAX || a->wcount == UINT16_MAX ||
        a->rlocks == UINT16_MAX || a->wlocks == UINT16_MAX) {
        iofunc_attr_unlock(a);
        return IOF_FAIL(ENFILE, "the resource is open %u times, the most it can count",
                        (unsigned)a->count);
    }
    iofunc_ocb_t *o = (iofunc_ocb_t *)ocb;
    int ours = 0;
    if (!o) {
        iofunc_funcs_t *f = mount_funcs(a);
        if (f && f->nfuncs >= 1 && f->ocb_calloc)
            o = (iofunc_ocb_t *)f->ocb_calloc(ctp, attr);
        else
            o = calloc(1, sizeof *o);
        if (!o) {
            iofunc_attr_unlock(a);
            return IOF_FAIL(ENOMEM, "no memory for an OCB");
        }
        ours = 1;
    }
    o->attr = attr;
    o->ioflag = (int32_t)msg->connect.ioflag;
    o->sflag = msg->connect.sflag;
    o->offset = ((unsigned)o->ioflag & O_APPEND) ? a->nbytes : 0;
    count_open(a, o, +1);

    int saved = errno;
    if (resmgr_open_bind(ctp, o, io_funcs) == -1) {
        err = errno ? errno : EINVAL;
        errno = saved;
        count_open(a, o, -1);
        if (ours)
            iof_ocb_free(a, o);
        iofunc_attr_unlock(a);
        return IOF_FAIL(err, "cannot bind the OCB to the client's connection");
    }
    errno = saved;
    iofunc_attr_unlock(a);
    return EOK;
}

PM_EXPORT int iofunc_ocb_detach(resmgr_context_t *ctp, IOFUNC_OCB_T *ocb)
{
    (void)ctp;
    iofunc_ocb_t *o = (iofunc_ocb_t *)ocb;
    if (!o || !o->attr)
        return 0;
    iofunc_attr_t *a = (iofunc_attr_t *)o->attr;
    if (iofunc_attr_lock(a) != EOK)
        return 0;
    iofunc_time_update(a);
    int last = count_open(a, o, -1);
    iofunc_attr_unlock(a);
    return last;
}

PM_EXPORT int iofunc_close_ocb(resmgr_context_t *ctp, IOFUNC_OCB_T *ocb, IOFUNC_ATTR_T *attr)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_close_ocb: no OCB");
    iofunc_attr_t *a = (iofunc_attr_t *)(attr ? attr : ((iofunc_ocb_t *)ocb)->attr);
    iofunc_ocb_detach(ctp, ocb);
    iof_ocb_free(a, (iofunc_ocb_t *)ocb);
    return EOK;
}

PM_EXPORT int iofunc_close_ocb_default(resmgr_context_t *ctp, void *reserved, IOFUNC_OCB_T *ocb)
{
    (void)reserved;
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_close_ocb_default: no OCB");
    return iofunc_close_ocb(ctp, ocb, ((iofunc_ocb_t *)ocb)->attr);
}
