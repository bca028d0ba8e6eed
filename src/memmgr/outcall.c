/*
 * The memory manager's messages to a resource manager.  Every one goes with
 * a deadline (peermap_timeout_ms()): a manager that stalls must cost the
 * caller an error (or a SIGBUS on a page), never a hang.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "common/internal.h"
#include "memmgr/memmgr.h"
#include "msg/msg.h"

/* Every message of the memory manager: the caller must never hang on a
 * manager that stalls.  (pm_msg_sendv_timed() records the reason of a
 * failure; our callers add context with pm_fail(), which keeps it.) */
static long send_timed(int coid, const iov_t *s, size_t sn, const iov_t *r, size_t rn)
{
    long st = pm_msg_sendv_timed(coid, s, sn, r, rn, (int)peermap_timeout_ms());
    /* EBADF from MsgSend() is QNX's word for "the channel is gone" (or the
     * manager's own answer): a dead manager is ESRCH for pm_mmap(3) and its
     * kin. */
    if (st < 0 && errno == EBADF && pm_cconn_gone(coid))
        errno = ESRCH;
    return st;
}

static int fill_stat_form(struct pm_mgrant *g, unsigned form)
{
    const union _io_mmap_reply_ext_stat *s = &g->r.extended.stat;
    switch (form) {
    case _STAT_FORM_T32_2001:
        g->dev = s->t32_2001.st_dev; g->ino = s->t32_2001.st_ino; g->mode = s->t32_2001.st_mode;
        g->size = s->t32_2001.st_size;
        g->mtime_s = s->t32_2001.st_mtim.tv_sec; g->mtime_ns = 0;
        break;
    case _STAT_FORM_T32_2008:
        g->dev = s->t32_2008.st_dev; g->ino = s->t32_2008.st_ino; g->mode = s->t32_2008.st_mode;
        g->size = s->t32_2008.st_size;
        g->mtime_s = s->t32_2008.st_mtim.tv_sec; g->mtime_ns = s->t32_2008.st_mtim.tv_nsec;
        break;
    case _STAT_FORM_T64_2008:
        g->dev = s->t64_2008.st_dev; g->ino = s->t64_2008.st_ino; g->mode = s->t64_2008.st_mode;
        g->size = s->t64_2008.st_size;
        g->mtime_s = s->t64_2008.st_mtim.tv_sec; g->mtime_ns = s->t64_2008.st_mtim.tv_nsec;
        break;
    default:
        return 0;
    }
    g->have_stat = 1;
    return 1;
}

static long mmap_once(int coid, int fd, unsigned want, unsigned required, uint64_t off,
                      size_t len, struct pm_mgrant *g)
{
    struct _io_mmap m;
    memset(&m, 0, sizeof m);
    m.type = _IO_MMAP;
    m.combine_len = sizeof m;
    m.prot = (want & PROT_MASK) | _IO_MMAP_PROT_REQUIRED_VALID;
    m.required_prot = required & PROT_MASK;
    m.offset = off;
    m.info.pid = (int32_t)getpid();
    m.info.coid = fd;
    m.requested_len = len;
    /* Zeroed: an old-style reply (the base only) leaves USE_EXTENDED clear. */
    memset(&g->r, 0, sizeof g->r);
    iov_t s, r;
    SETIOV(&s, &m, sizeof m);
    SETIOV(&r, &g->r, sizeof g->r);
    long st = send_timed(coid, &s, 1, &r, 1);
    int rfd = pm_msg_take_fd();
    if (st < 0) {
        if (rfd >= 0)
            close(rfd);
        return -1;
    }
    g->fd = rfd;
    return st;
}

int pm_mm_outcall(int coid, int fd, int prot, int flags, uint64_t off, size_t len,
                  struct pm_mgrant *g)
{
    memset(g, 0, sizeof *g);
    g->fd = -1;
    int shared = (flags & MAP_TYPE) == MAP_SHARED;
    unsigned required = (unsigned)(prot & (PROT_READ | PROT_EXEC)) | PROT_READ;
    if (shared && (prot & PROT_WRITE))
        required |= PROT_WRITE;
    /* Ask for write whenever it might be of use (a shared mapping may be
     * mprotect()ed later); it is only a wish unless required. */
    unsigned want = required | PROT_WRITE;
    long st = mmap_once(coid, fd, want, required, off, len, g);
    if (st < 0 && (errno == EACCES || errno == EROFS) && !(required & PROT_WRITE)) {
        want = required;
        st = mmap_once(coid, fd, want, required, off, len, g);
    }
    if (st < 0) {
        int e = errno;
        if (e == ENOSYS)
            return pm_fail(ENODEV, "the resource manager does not support mmap "
                           "(no mmap handler: ENOSYS)");
        return pm_fail(e, "the resource manager refused _IO_MMAP: %s", strerror(e));
    }
    g->granted = want;
    g->extended = (g->r.extended.flags & _IO_MMAP_REPLY_FLAGS_USE_EXTENDED) != 0;
    if (!g->extended)
        memset(&g->r.extended, 0, sizeof g->r.extended);
    if (g->extended)
        fill_stat_form(g, _IO_MMAP_REPLY_FLAGS_STAT_FORM(g->r.extended.flags));
    int shm = g->extended && (g->r.extended.flags & _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT);
    if (shm && g->fd < 0)
        return pm_fail(EIO, "the resource manager said SERVER_SHMEM_OBJECT but "
                       "sent no descriptor");
    if (!shm && g->fd >= 0) {
        close(g->fd);   /* not asked for: not ours to keep */
        g->fd = -1;
    }
    if (shm) {
        struct stat sb;
        if (fstat(g->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            close(g->fd);
            g->fd = -1;
            return pm_fail(EINVAL, "the resource manager's shared memory object is "
                           "not a regular file (memfd/shm)");
        }
    }
    return 0;
}

int pm_mm_stat(int coid, struct pm_mgrant *g)
{
    struct _io_stat m;
    memset(&m, 0, sizeof m);
    m.type = _IO_STAT;
    m.combine_len = sizeof m;
    m.format = _STAT_FORM_UNSET;
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    iov_t s, r;
    SETIOV(&s, &m, sizeof m);
    SETIOV(&r, &sb, sizeof sb);
    if (send_timed(coid, &s, 1, &r, 1) < 0)
        return -1;
    g->dev = (uint64_t)sb.st_dev;
    g->ino = (uint64_t)sb.st_ino;
    g->size = sb.st_size;
    g->mtime_s = sb.st_mtim.tv_sec;
    g->mtime_ns = sb.st_mtim.tv_nsec;
    g->mode = (uint32_t)sb.st_mode;
    g->have_stat = 1;
    return 0;
}

static int lseek_set(int coid, uint64_t off)
{
    struct _io_lseek m;
    memset(&m, 0, sizeof m);
    m.type = _IO_LSEEK;
    m.combine_len = sizeof m;
    m.whence = SEEK_SET;
    m.offset = off;
    uint64_t res = UINT64_MAX;
    iov_t s, r;
    SETIOV(&s, &m, sizeof m);
    SETIOV(&r, &res, sizeof res);
    long st = send_timed(coid, &s, 1, &r, 1);
    if (st < 0)
        return -1;
    if (res != UINT64_MAX ? res != off : (uint64_t)st != off)
        return pm_fail(EIO, "the resource manager did not seek to %llu",
                       (unsigned long long)off);
    return 0;
}

/* Whether an error means "that xtype is not for me" rather than a failure. */
static int xtype_refused(int e)
{
    return e == ENOSYS || e == EINVAL || e == ENOTSUP;
}

static long read_at(struct pm_mobj *o, void *buf, size_t n, uint64_t off,
                    const unsigned char **view)
{
    struct {
        struct _io_read r;
        struct _xtype_offset x;
    } m;
    memset(&m, 0, sizeof m);
    m.r.type = _IO_READ;
    m.r.nbytes = (uint32_t)n;
    iov_t s, r;
    SETIOV(&r, buf, n);
    if (!o->no_xtype) {
        m.r.combine_len = sizeof m;
        m.r.xtype = _IO_XTYPE_OFFSET;
        m.x.offset = (int64_t)off;
        SETIOV(&s, &m, sizeof m);
        if (view)
            pm_msg_reply_in_place(view);
        long st = send_timed(o->coid, &s, 1, &r, 1);
        if (st >= 0 || !xtype_refused(errno))
            return st;
        o->no_xtype = 1;
    }
    if (lseek_set(o->coid, off) < 0)
        return -1;
    m.r.combine_len = sizeof m.r;
    m.r.xtype = _IO_XTYPE_NONE;
    SETIOV(&s, &m.r, sizeof m.r);
    if (view)
        pm_msg_reply_in_place(view);
    return send_timed(o->coid, &s, 1, &r, 1);
}

ssize_t pm_mm_read(struct pm_mobj *o, void *buf, size_t n, uint64_t off,
                   const unsigned char **view)
{
    size_t got = 0;
    if (view) {
        /* A whole reply left where it came (no copy into buf), or what
         * came copied into buf and the rest read as usual. */
        const unsigned char *v = NULL;
        long st = read_at(o, buf, n, off, &v);
        pm_msg_reply_in_place(NULL);
        *view = NULL;
        if (st < 0)
            return pm_fail(errno, "reading %zu bytes at %llu from the resource "
                           "manager: %s", n, (unsigned long long)off, strerror(errno));
        if ((size_t)st > n)
            return pm_fail(EIO, "the resource manager claims %ld bytes for a read "
                           "of %zu", st, n);
        if (v && (size_t)st == n) {
            *view = v;
            o->bytes_read += n;
            return (ssize_t)n;
        }
        if (v)
            memcpy(buf, v, (size_t)st);
        if (st == 0)
            return 0;
        got = (size_t)st;
    }
    while (got < n) {
        long st = read_at(o, (char *)buf + got, n - got, off + got, NULL);
        if (st < 0)
            return pm_fail(errno, "reading %zu bytes at %llu from the resource "
                           "manager: %s", n - got, (unsigned long long)(off + got),
                           strerror(errno));
        if ((size_t)st > n - got)
            return pm_fail(EIO, "the resource manager claims %ld bytes for a read "
                           "of %zu", st, n - got);
        if (st == 0)
            break;
        got += (size_t)st;
    }
    o->bytes_read += got;
    return (ssize_t)got;
}

static long write_at(struct pm_mobj *o, const void *buf, size_t n, uint64_t off)
{
    struct {
        struct _io_write w;
        struct _xtype_offset x;
    } m;
    memset(&m, 0, sizeof m);
    m.w.type = _IO_WRITE;
    m.w.nbytes = (uint32_t)n;
    iov_t s[2], r;
    SETIOV(&r, NULL, 0);
    SETIOV(&s[1], (void *)buf, n);
    if (!o->no_xtype) {
        m.w.combine_len = sizeof m;
        m.w.xtype = _IO_XTYPE_OFFSET;
        m.x.offset = (int64_t)off;
        SETIOV(&s[0], &m, sizeof m);
        long st = send_timed(o->coid, s, 2, &r, 1);
        if (st >= 0 || !xtype_refused(errno))
            return st;
        o->no_xtype = 1;
    }
    if (lseek_set(o->coid, off) < 0)
        return -1;
    m.w.combine_len = sizeof m.w;
    m.w.xtype = _IO_XTYPE_NONE;
    SETIOV(&s[0], &m.w, sizeof m.w);
    return send_timed(o->coid, s, 2, &r, 1);
}

int pm_mm_write(struct pm_mobj *o, const void *buf, size_t n, uint64_t off)
{
    size_t put = 0;
    while (put < n) {
        size_t k = n - put > (1u << 20) ? (1u << 20) : n - put;
        long st = write_at(o, (const char *)buf + put, k, off + put);
        if (st < 0)
            return pm_fail(errno, "writing back %zu bytes at %llu: %s", k,
                           (unsigned long long)(off + put), strerror(errno));
        if (st == 0 || (size_t)st > k)
            return pm_fail(EIO, "the resource manager took %ld bytes of a %zu-byte "
                           "write-back", st, k);
        put += (size_t)st;
    }
    return 0;
}

void pm_mm_sync(struct pm_mobj *o)
{
    if (o->no_sync)
        return;
    struct _io_sync m;
    memset(&m, 0, sizeof m);
    m.type = _IO_SYNC;
    m.combine_len = sizeof m;
    m.flag = O_DSYNC;
    iov_t s, r;
    SETIOV(&s, &m, sizeof m);
    SETIOV(&r, NULL, 0);
    /* The data has been written; a manager without fsync has nothing more
     * to do, and other errors would only hide that the write succeeded. */
    if (send_timed(o->coid, &s, 1, &r, 1) < 0 && errno == ENOSYS)
        o->no_sync = 1;
}
