/*
 * Checking a message a resource manager received, before any handler sees
 * it: the only code that interprets bytes another process chose.  Pure
 * functions (no sockets, no state), so that the libFuzzer target
 * (tests/fuzz/fuzz_resmgr_decode.c) runs it on anything.
 *
 * Decisions:
 *  - A message shorter than its type's header, or whose lengths claim more
 *    than the client sent, is answered EBADMSG ("bad message"), never handed
 *    on: handlers may then read every header field without checking.
 *  - Lengths are compared with what the client *sent* (srcmsglen): a write
 *    whose data does not all fit the receive buffer is fine (the handler
 *    reads the rest with resmgr_msgread()), a write whose nbytes exceeds what
 *    was sent is not.  Devctl data is checked only when it travels to the
 *    server (DEVDIR_TO): for DEVDIR_FROM, nbytes is the size wanted back.
 *  - A connect message must fit the receive buffer whole (the handlers get
 *    the path and extra data in place): one that does not is ENAMETOOLONG.
 *    Its path must end with its first NUL exactly at path_len; the extra
 *    data follows the path directly (no padding); extra data that carries a
 *    path (symlink and rename extras) must be NUL-terminated within it.
 *  - The _IO_*64 forms have slots of their own (read64, write64, notify64,
 *    utime64, QNX 7's); the handler table falls back to read/write/notify/
 *    utime when it has none (pm_rm_io_fallback(); those handlers use
 *    _IO_READ_GET_NBYTES() etc.).
 *  - The reserved jump-table types (_IO_RSVD_*), _IO_POWER and _IO_ACL have
 *    no handler slot: they are PM_RM_OTHER (other_func, else ENOSYS).
 *  - The combine flag in combine_len is ignored: only the first message of
 *    a combined send is decoded and answered (see resmgr_handle.c).
 */
#include <errno.h>
#include <string.h>

#include "resmgr/resmgr_internal.h"

#include <devctl.h>

struct io_rule {
    uint16_t type;
    int slot;
    size_t min;
};

static const struct io_rule io_rules[] = {
    { _IO_READ, PM_IS_READ, sizeof(struct _io_read) },
    { _IO_WRITE, PM_IS_WRITE, sizeof(struct _io_write) },
    { _IO_STAT, PM_IS_STAT, sizeof(struct _io_stat) },
    { _IO_NOTIFY, PM_IS_NOTIFY, sizeof(struct _io_notify) },
    { _IO_DEVCTL, PM_IS_DEVCTL, sizeof(struct _io_devctl) },
    { _IO_PATHCONF, PM_IS_PATHCONF, sizeof(struct _io_pathconf) },
    { _IO_LSEEK, PM_IS_LSEEK, sizeof(struct _io_lseek) },
    { _IO_CHMOD, PM_IS_CHMOD, sizeof(struct _io_chmod) },
    { _IO_CHOWN, PM_IS_CHOWN, sizeof(struct _io_chown) },
    { _IO_UTIME, PM_IS_UTIME, sizeof(struct _io_utime) },
    { _IO_OPENFD, PM_IS_OPENFD, sizeof(struct _io_openfd) },
    { _IO_FDINFO, PM_IS_FDINFO, sizeof(struct _io_combine) },
    { _IO_LOCK, PM_IS_LOCK, sizeof(struct _io_lock) },
    { _IO_SPACE, PM_IS_SPACE, sizeof(struct _io_space) },
    { _IO_SHUTDOWN, PM_IS_SHUTDOWN, sizeof(struct _io_shutdown) },
    { _IO_MMAP, PM_IS_MMAP, sizeof(struct _io_mmap) },
    { _IO_MSG, PM_IS_MSG, sizeof(struct _io_msg) },
    { _IO_DUP, PM_IS_DUP, sizeof(struct _io_dup) },
    { _IO_CLOSE, PM_IS_CLOSE_OCB, sizeof(struct _io_close) },
    { _IO_SYNC, PM_IS_SYNC, sizeof(struct _io_sync) },
    { _IO_READ64, PM_IS_READ64, sizeof(struct _io_read64) },
    { _IO_WRITE64, PM_IS_WRITE64, sizeof(struct _io_write64) },
    { _IO_NOTIFY64, PM_IS_NOTIFY64, sizeof(struct _io_notify) },
    { _IO_UTIME64, PM_IS_UTIME64, sizeof(struct _io_utime64) },
};

static const struct io_rule *io_rule(uint16_t type)
{
    for (size_t i = 0; i < sizeof io_rules / sizeof io_rules[0]; i++)
        if (io_rules[i].type == type)
            return &io_rules[i];
    return NULL;
}

static int check_connect(const unsigned char *m, size_t got, size_t srclen,
                         struct pm_rm_decoded *d)
{
    struct _io_connect c;
    size_t hdr = offsetof(struct _io_connect, path);
    if (got < hdr)
        return EBADMSG;
    memcpy(&c, m, hdr);
    switch (c.subtype) {
    case _IO_CONNECT_COMBINE:
    case _IO_CONNECT_COMBINE_CLOSE:
    case _IO_CONNECT_OPEN:
        d->slot = PM_CS_OPEN;
        break;
    case _IO_CONNECT_UNLINK:
        d->slot = PM_CS_UNLINK;
        break;
    case _IO_CONNECT_RENAME:
        d->slot = PM_CS_RENAME;
        break;
    case _IO_CONNECT_MKNOD:
        d->slot = PM_CS_MKNOD;
        break;
    case _IO_CONNECT_READLINK:
        d->slot = PM_CS_READLINK;
        break;
    case _IO_CONNECT_LINK:
        d->slot = PM_CS_LINK;
        break;
    case _IO_CONNECT_MOUNT:
        d->slot = PM_CS_MOUNT;
        break;
    default:
        return EINVAL;
    }
    size_t end = hdr + (size_t)c.path_len + (size_t)c.extra_len;
    if (c.path_len == 0 || end > srclen)
        return EBADMSG;
    if (end > got)
        return ENAMETOOLONG;
    const unsigned char *path = m + hdr;
    const unsigned char *nul = memchr(path, 0, c.path_len);
    if (nul != path + c.path_len - 1)
        return EBADMSG;
    d->path_off = hdr;
    d->extra_off = hdr + c.path_len;
    if ((c.extra_type == _IO_CONNECT_EXTRA_SYMLINK || c.extra_type == _IO_CONNECT_EXTRA_RENAME) &&
        (c.extra_len == 0 || !memchr(m + d->extra_off, 0, c.extra_len)))
        return EBADMSG;
    return 0;
}

/* Data that must have been sent after a header of `hdr` bytes. */
static int data_fits(size_t srclen, size_t hdr, uint64_t nbytes)
{
    return srclen >= hdr && nbytes <= (uint64_t)(srclen - hdr);
}

static int check_io(const unsigned char *m, size_t srclen, uint16_t type)
{
    switch (type) {
    case _IO_WRITE:
    case _IO_WRITE64: {
        struct _io_write64 w; /* same layout as _io_write, nbytes_hi for zero */
        memcpy(&w, m, sizeof w);
        uint64_t n = type == _IO_WRITE64 ? ((uint64_t)w.nbytes_hi << 32) | w.nbytes : w.nbytes;
        size_t hdr = sizeof w;
        if ((w.xtype & _IO_XTYPE_MASK) == _IO_XTYPE_OFFSET)
            hdr += sizeof(struct _xtype_offset);
        return data_fits(srclen, hdr, n) ? 0 : EBADMSG;
    }
    case _IO_DEVCTL: {
        struct _io_devctl dc;
        memcpy(&dc, m, sizeof dc);
        if (((unsigned)dc.dcmd & DEVDIR_TO) && !data_fits(srclen, sizeof dc, dc.nbytes))
            return EBADMSG;
        return 0;
    }
    case _IO_LOCK: {
        struct _io_lock l;
        memcpy(&l, m, sizeof l);
        if (l.nbytes < 0 || !data_fits(srclen, sizeof l, (uint64_t)l.nbytes))
            return EBADMSG;
        return 0;
    }
    default:
        return 0;
    }
}

int pm_rm_decode(const void *msg, size_t got, size_t srclen, struct pm_rm_decoded *d)
{
    const unsigned char *m = msg;
    uint16_t type;

    memset(d, 0, sizeof *d);
    d->slot = -1;
    if (srclen < got)
        srclen = got; /* the buffer holds what arrived: no less was sent */
    if (got < sizeof type)
        return EBADMSG;
    memcpy(&type, m, sizeof type);
    d->type = type;
    if (type == _IO_CONNECT) {
        d->kind = PM_RM_CONNECT;
        return check_connect(m, got, srclen, d);
    }
    const struct io_rule *r = io_rule(type);
    if (!r) {
        d->kind = PM_RM_OTHER;
        return 0;
    }
    d->kind = PM_RM_IO;
    d->slot = r->slot;
    if (got < r->min)
        return EBADMSG;
    return check_io(m, srclen, type);
}

pm_rm_iofn pm_rm_io_func(const resmgr_io_funcs_t *t, int slot)
{
    if (!t || slot < 0 || (unsigned)slot >= t->nfuncs || (size_t)slot >= _RESMGR_IO_NFUNCS)
        return NULL;
    /* The table is nfuncs pointers after `nfuncs`, in slot order. */
    pm_rm_iofn f;
    memcpy(&f, (const char *)&t->read + (size_t)slot * sizeof f, sizeof f);
    return f;
}

int pm_rm_io_fallback(int slot)
{
    switch (slot) {
    case PM_IS_READ64:
        return PM_IS_READ;
    case PM_IS_WRITE64:
        return PM_IS_WRITE;
    case PM_IS_NOTIFY64:
        return PM_IS_NOTIFY;
    case PM_IS_UTIME64:
        return PM_IS_UTIME;
    default:
        return slot;
    }
}

pm_rm_connfn pm_rm_connect_func(const resmgr_connect_funcs_t *t, int slot)
{
    if (!t || slot < 0 || (unsigned)slot >= t->nfuncs ||
        (size_t)slot >= _RESMGR_CONNECT_NFUNCS)
        return NULL;
    pm_rm_connfn f;
    memcpy(&f, (const char *)&t->open + (size_t)slot * sizeof f, sizeof f);
    return f;
}
