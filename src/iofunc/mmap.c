/*
 * iofunc_mmap(), iofunc_mmap_default(), iofunc_mmap_ext(),
 * iofunc_mmap_default_ext(): the POSIX answer to the memory manager's
 * _IO_MMAP outcall (qnx-semantics.md section 4).
 *
 * The framework (resmgr_handle.c) has already made sure the message came on
 * a memory-manager connection and resolved `ocb` from i.info: it is the
 * client's own open, while ctp->info is the memory manager's connection.
 *
 * The request.  wanted = i.prot & PROT_MASK.  A sender that fills
 * required_prot says so with bits outside PROT_MASK in i.prot; then
 * required = i.required_prot, else required = i.prot (an old sender's
 * every wish is a must).  A required protection is also wanted.
 *
 * Refusals, in this order:
 *   1. write required on a read-only mount (ST_RDONLY): EROFS;
 *   2. mandatory locking (S_ISGID without S_IXGRP) with locks held
 *      (attr->lock_list): EAGAIN;
 *   3. the client's open lacks read: EACCES;
 *   4. write required and the open lacks write: EACCES;
 *   5. PROT_EXEC required and the resource is not executable for the
 *      client (iofunc_check_access() with the client's credentials, the
 *      kernel's record of the client's own connection, i.info.scoid):
 *      EACCES;
 *   6. PROT_EXEC required while the resource is open for writing, or write
 *      required while another open denies writing: ETXTBSY.
 * Decision (6): mapped code takes an exclusive write lock, so no writer may
 * exist when it is taken and none may come while it is held.  Writers are
 * counted in attr->wcount minus this memory-manager connection's own
 * privileged OCB (its own write must not stop its own exec); the client's
 * own open for writing does count (an fd opened O_RDWR cannot map code), and
 * so does another memory-manager connection's privileged OCB with write:
 * that is a live writable shared mapping of another process.  A protection
 * that is only wanted is simply not granted in these cases.
 *
 * The privileged OCB.  One per memory-manager connection (resmgr_ocb()
 * finds the one bound there; it must be for this same resource, else
 * EBUSY - the memory manager opens one connection per object).  A new one
 * is allocated as iofunc_ocb_attach() would (the mount's ocb_calloc, else
 * calloc), so that iofunc_close_ocb_default() frees and uncounts it when the
 * memory manager disconnects; it is marked IOFUNC_OCB_PRIVILEGED |
 * IOFUNC_OCB_MMAP, opened for reading (and writing when write is granted),
 * counted as an open of attr and bound with resmgr_open_bind().  A reused
 * one granted write for the first time is upgraded and counted as a writer.
 * A granted PROT_EXEC gives it the SH_DENYWR share mode (counted in
 * attr->wlocks): later opens for writing fail with EBUSY, as
 * iofunc_open() checks share modes, until the memory manager lets go.
 *
 * The reply (all zero first): allowed_prot = READ, | WRITE when the open
 * has write, the mount is writable and no other open denies writing, |
 * EXEC when executable for the client and no other open writes; offset =
 * i.offset; coid = the memory manager's coid (the object's identity); fd
 * left 0 (meaningful only with SERVER_SHMEM_OBJECT, which the caller
 * sets).  _ext: extended.flags = flags | USE_EXTENDED and, when the flags
 * name a stat form, extended.stat in that form, from `stat` or else
 * iofunc_stat() of attr.  Decision: a form whose 32-bit seconds cannot hold
 * one of the times is dropped from the flags (the memory manager then asks
 * with fstat) rather than sent wrong.
 *
 * Success returns _RESMGR_PTR() of the reply (negative), so that a handler
 * may call these, adjust msg->o and return the same value; failure returns
 * the errno value.  Every input is copied before msg->o is written: the
 * reply overlays the request.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "iofunc/iofunc_internal.h"
#include "msg/msg.h"

struct mmap_req {
    uint32_t wanted, required;
    uint64_t offset;
    int32_t client_scoid;
};

static struct mmap_req read_req(const struct _io_mmap *in)
{
    struct mmap_req r;
    int has_required = (in->prot & ~PROT_MASK) != 0;
    r.wanted = in->prot & PROT_MASK;
    r.required = (has_required ? in->required_prot : in->prot) & PROT_MASK;
    r.wanted |= r.required;
    r.offset = in->offset;
    r.client_scoid = in->info.scoid;
    return r;
}

static int denies_write(const iofunc_ocb_t *o)
{
    unsigned s = o->sflag & SH_MASK;
    return s == SH_DENYWR || s == SH_DENYRW;
}

/* Whether the client may execute attr: EOK, EACCES, or why its identity
 * could not be read.  The client's own connection first; the memory
 * manager's (the framework has checked it is the same process) when the
 * message carries no usable one, e.g. a handler called by hand. */
static int client_may_exec(resmgr_context_t *ctp, const iofunc_attr_t *attr, int32_t scoid)
{
    /* No execute bit at all: nobody, not even root, may execute it, and
     * the client's identity (three system calls) is not needed to say so -
     * the answer for most data files, on every _IO_MMAP. */
    if (!(attr->mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return EACCES;
    struct _client_info ci;
    int saved = errno;
    int got = scoid > 0 && pm_client_cred(scoid, &ci, NGROUPS_MAX_CRED) == 0;
    errno = saved;
    if (!got) {
        int err = iofunc_client_info(ctp, 0, &ci);
        if (err)
            return err;
    }
    return iofunc_check_access(ctp, attr, S_IXUSR, &ci);
}

/* Decide, then create or upgrade the privileged OCB.  *allowed gets the
 * protections for the reply.  attr is locked by the caller. */
static int grant(resmgr_context_t *ctp, const struct mmap_req *r, iofunc_ocb_t *ocb,
                 iofunc_attr_t *attr, uint32_t *allowed)
{
    unsigned ioflag = (unsigned)ocb->ioflag;
    int rdonly = iof_rdonly(attr);

    if ((r->required & PROT_WRITE) && rdonly)
        return IOF_FAIL(EROFS, "mmap: write required on a read-only mount");
    if ((attr->mode & (S_ISGID | S_IXGRP)) == S_ISGID && attr->lock_list)
        return IOF_FAIL(EAGAIN, "mmap: mandatory locking is on and locks are held");
    if (!(ioflag & _IO_FLAG_RD))
        return IOF_FAIL(EACCES, "mmap: the client's open is not for reading");
    if ((r->required & PROT_WRITE) && !(ioflag & _IO_FLAG_WR))
        return IOF_FAIL(EACCES, "mmap: write required and the client's open is not for writing");

    /* Asked even when exec is not wanted: allowed_prot tells the truth. */
    int exec_err = client_may_exec(ctp, attr, r->client_scoid);
    if ((r->required & PROT_EXEC) && exec_err)
        return exec_err == EACCES ? IOF_FAIL(EACCES, "mmap: PROT_EXEC required and the "
                                                     "resource is not executable for the client")
                                  : exec_err;

    /* pm_begin() in resmgr_ocb() clears the reason: nothing is recorded
     * before this point on the way to a success. */
    iofunc_ocb_t *own = resmgr_ocb(ctp);
    if (own && (own->attr != (IOFUNC_ATTR_T *)attr || !(own->flags & IOFUNC_OCB_PRIVILEGED)))
        return IOF_FAIL(EBUSY, "mmap: the memory manager's connection already holds "
                               "another open");
    int own_wr = own && ((unsigned)own->ioflag & _IO_FLAG_WR);
    int own_dw = own && denies_write(own);
    unsigned other_writers = attr->wcount - (own_wr ? 1u : 0u);
    unsigned other_wlocks = attr->wlocks - (own_dw ? 1u : 0u);

    int may_write = (ioflag & _IO_FLAG_WR) && !rdonly && other_wlocks == 0;
    int may_exec = exec_err == EOK && other_writers == 0;
    if ((r->required & PROT_EXEC) && !may_exec)
        return IOF_FAIL(ETXTBSY, "mmap: PROT_EXEC required while the resource is open "
                                 "for writing (%u writers)", other_writers);
    if ((r->required & PROT_WRITE) && !may_write)
        return IOF_FAIL(ETXTBSY, "mmap: write required while another open denies writing");
    int give_write = may_write && (r->wanted & PROT_WRITE);
    int give_exec = may_exec && (r->wanted & PROT_EXEC);

    int add_wr = give_write && !own_wr, add_dw = give_exec && !own_dw;
    if ((!own && (attr->count == UINT16_MAX || attr->rcount == UINT16_MAX)) ||
        (add_wr && attr->wcount == UINT16_MAX) || (add_dw && attr->wlocks == UINT16_MAX))
        return IOF_FAIL(ENFILE, "mmap: the resource is open %u times, the most it can count",
                        (unsigned)attr->count);

    if (!own) {
        iofunc_funcs_t *f = attr->mount ? attr->mount->funcs : NULL;
        iofunc_ocb_t *o;
        if (f && f->nfuncs >= 1 && f->ocb_calloc)
            o = (iofunc_ocb_t *)f->ocb_calloc(ctp, (IOFUNC_ATTR_T *)attr);
        else
            o = calloc(1, sizeof *o);
        if (!o)
            return IOF_FAIL(ENOMEM, "mmap: no memory for the memory manager's OCB");
        o->attr = (IOFUNC_ATTR_T *)attr;
        o->ioflag = (int32_t)(_IO_FLAG_RD | (give_write ? _IO_FLAG_WR : 0u));
        o->sflag = give_exec ? SH_DENYWR : SH_DENYNO;
        o->flags |= IOFUNC_OCB_PRIVILEGED | IOFUNC_OCB_MMAP;
        o->offset = 0;
        /* Counted as iofunc_ocb_detach() will uncount it. */
        attr->count++;
        attr->rcount++;
        if (give_write)
            attr->wcount++;
        if (give_exec)
            attr->wlocks++;
        int saved = errno;
        if (resmgr_open_bind(ctp, o, NULL) == -1) {
            int err = errno ? errno : EINVAL;
            errno = saved;
            attr->count--;
            attr->rcount--;
            if (give_write)
                attr->wcount--;
            if (give_exec)
                attr->wlocks--;
            iof_ocb_free(attr, o);
            return IOF_FAIL(err, "mmap: cannot bind the OCB to the memory manager's connection");
        }
        errno = saved;
    } else {
        if (add_wr) {
            own->ioflag |= (int32_t)_IO_FLAG_WR;
            attr->wcount++;
        }
        if (add_dw) {
            own->sflag = (uint16_t)((own->sflag & ~SH_MASK) | SH_DENYWR);
            attr->wlocks++;
        }
    }

    *allowed = PROT_READ | (may_write ? PROT_WRITE : 0u) | (may_exec ? PROT_EXEC : 0u);
    return EOK;
}

static int run(resmgr_context_t *ctp, const struct mmap_req *r, iofunc_ocb_t *ocb,
               iofunc_attr_t *attr, uint32_t *allowed)
{
    int err = iofunc_attr_lock(attr);
    if (err)
        return err;
    err = grant(ctp, r, ocb, attr, allowed);
    iofunc_attr_unlock(attr);
    return err;
}

static void fill_base(resmgr_context_t *ctp, struct _io_mmap_reply *o,
                      const struct mmap_req *r, uint32_t allowed)
{
    o->allowed_prot = allowed;
    o->offset = r->offset;
    o->coid = ctp->info.coid;
}

PM_EXPORT int iofunc_mmap(resmgr_context_t *ctp, io_mmap_t *msg, iofunc_ocb_t *ocb,
                          iofunc_attr_t *attr)
{
    if (!ctp || !msg || !ocb)
        return IOF_FAIL(EINVAL, "iofunc_mmap: no context, message or OCB");
    if (!attr)
        attr = (iofunc_attr_t *)ocb->attr;
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_mmap: no attribute structure");
    struct mmap_req r = read_req(&msg->i);
    uint32_t allowed = 0;
    int err = run(ctp, &r, ocb, attr, &allowed);
    if (err)
        return err;
    memset(&msg->o, 0, sizeof msg->o);
    fill_base(ctp, &msg->o, &r, allowed);
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}

PM_EXPORT int iofunc_mmap_default(resmgr_context_t *ctp, io_mmap_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_mmap_default: no OCB");
    iofunc_ocb_t *o = (iofunc_ocb_t *)ocb;
    return iofunc_mmap(ctp, msg, o, (iofunc_attr_t *)o->attr);
}

static int fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

static int32_t clamp32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* The fields every form shares, whatever its time type. */
#define FILL_COMMON(d, s)                                                       \
    do {                                                                        \
        (d)->st_ino = (uint64_t)(s)->st_ino;                                    \
        (d)->st_size = (int64_t)(s)->st_size;                                   \
        (d)->st_dev = (uint32_t)(s)->st_dev;                                    \
        (d)->st_rdev = (uint32_t)(s)->st_rdev;                                  \
        (d)->st_uid = (int32_t)(s)->st_uid;                                     \
        (d)->st_gid = (int32_t)(s)->st_gid;                                     \
        (d)->st_mode = (uint32_t)(s)->st_mode;                                  \
        (d)->st_nlink = (uint32_t)(s)->st_nlink;                                \
        (d)->st_blksize = clamp32((s)->st_blksize);                             \
        (d)->st_blocks = (int64_t)(s)->st_blocks;                               \
        /* QNX's pair: st_nblocks blocks of st_blocksize bytes. */              \
        int64_t bs_ = (s)->st_blksize > 0 ? (int64_t)(s)->st_blksize : 512;     \
        (d)->st_blocksize = clamp32(bs_);                                       \
        (d)->st_nblocks = clamp32(((int64_t)(s)->st_blocks * 512 + bs_ - 1) / bs_); \
    } while (0)

/* Fill u in `form` from st; 0 when the form cannot hold st's times. */
static int fill_form(union _io_mmap_reply_ext_stat *u, unsigned form, const struct stat *st)
{
    switch (form) {
    case _STAT_FORM_T32_2001:
        if (!fits32(st->st_mtim.tv_sec) || !fits32(st->st_atim.tv_sec) ||
            !fits32(st->st_ctim.tv_sec))
            return 0;
        FILL_COMMON(&u->t32_2001, st);
        u->t32_2001.st_mtim.tv_sec = (int32_t)st->st_mtim.tv_sec;
        u->t32_2001.st_atim.tv_sec = (int32_t)st->st_atim.tv_sec;
        u->t32_2001.st_ctim.tv_sec = (int32_t)st->st_ctim.tv_sec;
        return 1;
    case _STAT_FORM_T32_2008:
        if (!fits32(st->st_mtim.tv_sec) || !fits32(st->st_atim.tv_sec) ||
            !fits32(st->st_ctim.tv_sec))
            return 0;
        FILL_COMMON(&u->t32_2008, st);
        u->t32_2008.st_mtim.tv_sec = (int32_t)st->st_mtim.tv_sec;
        u->t32_2008.st_mtim.tv_nsec = (int32_t)st->st_mtim.tv_nsec;
        u->t32_2008.st_atim.tv_sec = (int32_t)st->st_atim.tv_sec;
        u->t32_2008.st_atim.tv_nsec = (int32_t)st->st_atim.tv_nsec;
        u->t32_2008.st_ctim.tv_sec = (int32_t)st->st_ctim.tv_sec;
        u->t32_2008.st_ctim.tv_nsec = (int32_t)st->st_ctim.tv_nsec;
        return 1;
    case _STAT_FORM_T64_2008:
        FILL_COMMON(&u->t64_2008, st);
        u->t64_2008.st_mtim.tv_sec = (int64_t)st->st_mtim.tv_sec;
        u->t64_2008.st_mtim.tv_nsec = (int64_t)st->st_mtim.tv_nsec;
        u->t64_2008.st_atim.tv_sec = (int64_t)st->st_atim.tv_sec;
        u->t64_2008.st_atim.tv_nsec = (int64_t)st->st_atim.tv_nsec;
        u->t64_2008.st_ctim.tv_sec = (int64_t)st->st_ctim.tv_sec;
        u->t64_2008.st_ctim.tv_nsec = (int64_t)st->st_ctim.tv_nsec;
        return 1;
    default:
        return 0;
    }
}

PM_EXPORT int iofunc_mmap_ext(resmgr_context_t *ctp, io_mmap_ext_t *msg, iofunc_ocb_t *ocb,
                              iofunc_attr_t *attr, uint32_t const flags,
                              struct stat const *const stat)
{
    if (!ctp || !msg || !ocb)
        return IOF_FAIL(EINVAL, "iofunc_mmap_ext: no context, message or OCB");
    if (!attr)
        attr = (iofunc_attr_t *)ocb->attr;
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_mmap_ext: no attribute structure");
    if ((void *)msg == (void *)ctp->msg && ctp->msg_max_size != 0 &&
        ctp->msg_max_size < sizeof *msg)
        return IOF_FAIL(EINVAL, "iofunc_mmap_ext: the receive buffer (%u bytes) cannot hold "
                                "the %zu-byte reply", ctp->msg_max_size, sizeof *msg);
    struct mmap_req r = read_req(&msg->i);
    uint32_t allowed = 0;
    int err = run(ctp, &r, ocb, attr, &allowed);
    if (err)
        return err;

    /* The caller's stat may live in the message buffer: copy it first. */
    unsigned form = _IO_MMAP_REPLY_FLAGS_STAT_FORM(flags);
    struct stat st;
    int have_st = 0;
    if (form != _STAT_FORM_UNSET) {
        if (stat) {
            st = *stat;
            have_st = 1;
        } else if (iofunc_attr_lock(attr) == EOK) {
            have_st = iofunc_stat(ctp, attr, &st) == EOK;
            iofunc_attr_unlock(attr);
        }
    }

    memset(&msg->o, 0, sizeof msg->o);
    fill_base(ctp, &msg->o.base, &r, allowed);
    uint32_t out = flags | _IO_MMAP_REPLY_FLAGS_USE_EXTENDED;
    if (form != _STAT_FORM_UNSET && !(have_st && fill_form(&msg->o.extended.stat, form, &st))) {
        out &= ~_IO_MMAP_REPLY_FLAGS_STAT_FORM_MASK;
        memset(&msg->o.extended.stat, 0, sizeof msg->o.extended.stat);
    }
    msg->o.extended.flags = out;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}

PM_EXPORT int iofunc_mmap_default_ext(resmgr_context_t *ctp, io_mmap_ext_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!ocb)
        return IOF_FAIL(EINVAL, "iofunc_mmap_default_ext: no OCB");
    iofunc_ocb_t *o = (iofunc_ocb_t *)ocb;
    return iofunc_mmap_ext(ctp, msg, o, (iofunc_attr_t *)o->attr,
                           _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_PREFERRED), NULL);
}
