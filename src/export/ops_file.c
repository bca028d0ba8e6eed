/*
 * Open files: open, create, read, write, flush, release, fsync, ioctl.
 *
 * One open is one connection to the manager (conn.c), made for the
 * calling program and judged by the manager's _IO_CONNECT answer (access
 * mode, O_CREAT/O_EXCL/O_TRUNC, share modes).  Then:
 *
 *   - A regular file (the manager's _IO_STAT says S_IFREG) goes through
 *     the kernel's page cache: reads fill pages, mmap() works for shared
 *     and private mappings, coherent between every program using the
 *     export; writes go through to the manager at once, and shared
 *     mappings' changed pages are written back with _IO_WRITE.  The pages
 *     are dropped at each open, so an open sees what the manager holds.
 *   - Anything else (a device, a named special file...) is direct I/O:
 *     each read() or write() is one message of the caller's size, and the
 *     file's size does not limit reads, so `cat` of a device works.  A
 *     manager that cannot seek (ESPIPE) makes the file non-seekable.
 *
 * A regular file whose manager hands over its shared memory object
 * (_IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT) is passed through instead: the
 * kernel serves read(), write() and mmap() from that object (passthrough.c).
 *
 * Offsets.  The kernel names an offset with every read and write; the
 * manager keeps its own per open.  While they agree the plain message is
 * sent (one round trip); otherwise _IO_XTYPE_OFFSET (pread), and for a
 * manager that refuses that, _IO_LSEEK then the message.
 *
 * ioctl(): the number is a QNX command with its two direction bits
 * swapped (<devctl.h>: PEERMAP_DCMD_TO_IOCTL); it becomes _IO_DEVCTL with
 * the data the kernel copied, and the manager's ret_val is ioctl()'s
 * result (0 for a negative one, which the kernel would turn into an
 * error).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>
#include <unistd.h>

#include <devctl.h>
#include <peermap.h>

#include "export/export.h"
#include "resmgr/client.h"

/* ---- a buffer per serving thread, for reads ----
 *
 * It starts BUF_AT bytes into a page, and so does a large answer in the
 * manager's file (send.c puts a body at its destination's offset in a
 * page), which the kernel then copies into the reader's pages.  That copy
 * (rep movsb) runs several times slower when the reader's bytes lie 1 to
 * 31 bytes past the source's in a page (common/copy.h); 16 matches a
 * malloc()'d buffer (the usual large one) exactly and stays clear of a
 * page-aligned one.  Measured: a source at 0 makes a 1 MiB read into a
 * malloc()'d buffer 2.5 times slower (BENCHMARKS.md, History). */

#define PAGE 4096u
#define BUF_AT 16u

struct tbuf {
    void *p;
    size_t size;
};

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void tbuf_free(void *v)
{
    struct tbuf *b = v;
    free(b->p);
    free(b);
}

static void make_key(void)
{
    pthread_key_create(&buf_key, tbuf_free);
}

/* This thread's buffer for `size` bytes, starting `at` bytes into a page. */
static void *thread_buffer(size_t size, size_t at)
{
    pthread_once(&buf_once, make_key);
    struct tbuf *b = pthread_getspecific(buf_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(buf_key, b) != 0) {
            free(b);
            return NULL;
        }
    }
    size += PAGE;  /* room for `at` */
    if (b->size < size) {
        void *p = NULL;
        if (posix_memalign(&p, PAGE, size) != 0)
            return NULL;
        free(b->p);
        b->p = p;
        b->size = size;
    }
    return (char *)b->p + at % PAGE;
}

/* ---- every open file ---- */

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pmx_file *files;

static void files_add(struct pmx_file *f)
{
    pthread_mutex_lock(&files_lock);
    f->prev = NULL;
    f->next = files;
    if (files)
        files->prev = f;
    files = f;
    pthread_mutex_unlock(&files_lock);
}

static void files_remove(struct pmx_file *f)
{
    pthread_mutex_lock(&files_lock);
    if (f->prev)
        f->prev->next = f->next;
    else
        files = f->next;
    if (f->next)
        f->next->prev = f->prev;
    pthread_mutex_unlock(&files_lock);
}

/* ---- opening ---- */

static struct pmx_file *file_new(int coid, int flags, const struct stat *st)
{
    struct pmx_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->coid = coid;
    f->backing_id = -1;
    f->mm_coid = -1;
    pthread_mutex_init(&f->lock, NULL);
    f->direct = !S_ISREG(st->st_mode);
    f->append = (flags & O_APPEND) != 0;
    f->pos = f->append ? -1 : 0;  /* iofunc: the end with O_APPEND, else 0 */
    if (f->direct) {
        /* Whether the manager seeks at all: a stream makes the file
         * non-seekable, as a pipe or a terminal is. */
        off_t at = pm_lseek(coid, 0, SEEK_CUR);
        if (at < 0 && errno == ESPIPE)
            f->stream = 1;
        else if (at >= 0)
            f->pos = at;
    }
    files_add(f);
    return f;
}

static void file_free(struct pmx_file *f)
{
    files_remove(f);
    pmx_passthrough_release(f);
    pmx_disconnect(f->coid);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void pmx_files_close_all(void)
{
    while (files)
        file_free(files);
}

static void set_open_flags(struct fuse_file_info *fi, struct pmx_file *f)
{
    fi->fh = (uint64_t)(uintptr_t)f;
    fi->direct_io = f->direct;
    fi->nonseekable = f->stream;
    fi->keep_cache = 0;
}

void pmx_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pmx_op_begin();
    struct pmx_caller c;
    pmx_caller_of(req, &c);
    char path[PATH_MAX];
    struct pmx_where w;
    int e = pmx_node_path(ino, path);
    if (!e)
        e = pmx_act_as(&c);
    if (!e) {
        e = pmx_locate(path, &w);
        pmx_act_as_self();
    }
    if (!e && w.kind == PMX_BETWEEN)
        e = EISDIR;
    if (e) {
        fuse_reply_err(req, e);
        return;
    }
    int coid = pmx_connect(&w.m, &c, path, pmx_ioflag(fi->flags), 0);
    if (coid < 0) {
        fuse_reply_err(req, -coid);
        return;
    }
    struct stat st;
    int r = pmx_stat(coid, &st);
    struct pmx_file *f = r == 0 ? file_new(coid, fi->flags, &st) : NULL;
    if (!f) {
        pmx_disconnect(coid);
        fuse_reply_err(req, r < 0 ? -r : ENOMEM);
        return;
    }
    set_open_flags(fi, f);
    int sent = pmx_passthrough_open(f, ino, &w.m, fi->flags, &st) == 0
                   ? pmx_passthrough_reply_open(req, f)
                   : fuse_reply_open(req, fi);
    if (sent != 0)
        file_free(f);  /* the caller was interrupted: nobody holds it */
}

void pmx_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                   struct fuse_file_info *fi)
{
    pmx_op_begin();
    struct pmx_caller c;
    pmx_caller_of(req, &c);
    char ppath[PATH_MAX], path[PATH_MAX];
    struct pmx_where w;
    int e = pmx_node_path(parent, ppath);
    if (!e)
        e = pmx_path_join(ppath, name, path);
    if (!e)
        e = pmx_act_as(&c);
    if (!e) {
        /* ENOENT: no manager would serve the new name (pm_open() says the
         * same); nothing is ever made outside a manager. */
        e = pmx_locate(path, &w);
        pmx_act_as_self();
    }
    if (!e && w.kind == PMX_BETWEEN)
        e = (fi->flags & O_EXCL) ? EEXIST : EISDIR;
    if (e) {
        fuse_reply_err(req, e);
        return;
    }
    uint32_t ioflag = pmx_ioflag(fi->flags) | O_CREAT | (uint32_t)(fi->flags & O_EXCL);
    int coid = pmx_connect(&w.m, &c, path, ioflag, (uint32_t)(S_IFREG | (mode & 07777)));
    if (coid < 0) {
        fuse_reply_err(req, -coid);
        return;
    }
    struct stat st;
    int r = pmx_stat(coid, &st);
    struct pmx_file *f = r == 0 ? file_new(coid, fi->flags, &st) : NULL;
    fuse_ino_t ino = f ? pmx_node_ref(path) : 0;
    if (!f || !ino) {
        if (f)
            file_free(f);
        else
            pmx_disconnect(coid);
        fuse_reply_err(req, r < 0 ? -r : ENOMEM);
        return;
    }
    struct fuse_entry_param ent;
    memset(&ent, 0, sizeof ent);
    ent.ino = ino;
    pmx_attr(ino, S_ISDIR(st.st_mode), &st, &ent.attr);
    set_open_flags(fi, f);
    int sent = pmx_passthrough_open(f, ino, &w.m, fi->flags, &st) == 0
                   ? pmx_passthrough_reply_create(req, f, ino, &ent.attr)
                   : fuse_reply_create(req, &ent, fi);
    if (sent != 0) {
        file_free(f);
        pmx_node_forget(ino, 1);
    }
}

/* ---- reading and writing ---- */

static int xtype_refused(int e)
{
    return e == ENOSYS || e == EINVAL || e == ENOTSUP;
}

/* Move the manager's offset for this open to `off` (lock held).  0, or -1:
 * a manager that cannot seek is a stream from now on (1 is returned then:
 * go on at its own offset). */
static int seek_to(struct pmx_file *f, off_t off)
{
    off_t at = pm_lseek(f->coid, off, SEEK_SET);
    if (at < 0 && errno == ESPIPE) {
        f->stream = 1;
        return 1;
    }
    if (at < 0)
        return -1;
    f->pos = at;
    if (at != off) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* One read at `off` (lock held): the bytes, or -1 with errno.  With `at`,
 * a large answer may be left in the manager's memory file (at->view; the
 * mapping ours until pm_read_place_done(): client.h). */
static ssize_t read_once(struct pmx_file *f, void *buf, size_t n, off_t off,
                         struct pm_read_place *at)
{
    if (!f->stream && off != f->pos) {
        if (!f->no_xtype) {
            ssize_t r = pm_read_at_view(f->coid, buf, n, off, at);
            if (r >= 0 || !xtype_refused(errno))
                return r;
            f->no_xtype = 1;
        }
        if (seek_to(f, off) < 0)
            return -1;
    }
    ssize_t r = pm_read_view(f->coid, buf, n, at);
    if (!f->stream)
        f->pos = r >= 0 ? f->pos + r : -1;
    return r;
}

static ssize_t write_once(struct pmx_file *f, const void *buf, size_t n, off_t off)
{
    if (f->append) {
        /* The manager puts it at its end; its offset moves there. */
        f->pos = -1;
        return pm_write(f->coid, buf, n);
    }
    if (!f->stream && off != f->pos) {
        if (!f->no_xtype) {
            ssize_t r = pm_write_at(f->coid, buf, n, off);
            if (r >= 0 || !xtype_refused(errno))
                return r;
            f->no_xtype = 1;
        }
        if (seek_to(f, off) < 0)
            return -1;
    }
    ssize_t r = pm_write(f->coid, buf, n);
    if (!f->stream)
        f->pos = r >= 0 ? f->pos + r : -1;
    return r;
}

/*
 * A read is answered from the manager's own memory file when its reply
 * came in one (a body over PM_WIRE_INLINE_MAX, bodyfile.h): the kernel
 * copies straight from our mapping of that file into the reader's pages,
 * instead of the manager's bytes being copied into our buffer first.  The
 * mapping is this request's until the answer is written (client.h,
 * pm_read_place_done()): another operation on the open (a getattr, an
 * ioctl: they do not take the open's lock) cannot unmap it.
 * A small reply (in the datagram) or one whose file we may not map comes
 * in the buffer, as before.  (ARCHITECTURE.md, "Large reads".)
 */
void pmx_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                 struct fuse_file_info *fi)
{
    (void)ino;
    pmx_op_begin();
    struct pmx_file *f = (struct pmx_file *)(uintptr_t)fi->fh;
    char *buf = thread_buffer(size ? size : 1, BUF_AT);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t got = 0;
    int e = 0;
    struct pm_read_place at = PM_READ_PLACE_INIT;
    pthread_mutex_lock(&f->lock);
    do {
        ssize_t r = read_once(f, buf + got, size - got, off + (off_t)got,
                              got == 0 ? &at : NULL);
        if (r < 0) {
            e = pmx_err(errno);
            break;
        }
        if (at.view && (f->direct || (size_t)r == size)) {
            /* All of the answer, where it came.  The open stays locked
             * until it is written: its next read would have the manager
             * write its answer into the same place of its file. */
            fuse_reply_buf(req, (const char *)at.view, (size_t)r);
            pthread_mutex_unlock(&f->lock);
            pm_read_place_done(f->coid, &at);
            return;
        }
        if (at.view)  /* part of a regular file's page: the rest follows */
            memcpy(buf, at.view, (size_t)r);
        pm_read_place_done(f->coid, &at);
        if (r == 0)
            break;
        got += (size_t)r;
        /* Direct I/O returns what the manager gave, as read() would; the
         * page cache takes a short read for the end of the file, so a
         * regular file's pages are filled as far as the file goes. */
    } while (!f->direct && got < size);
    pthread_mutex_unlock(&f->lock);
    if (e && !got)
        fuse_reply_err(req, e);
    else
        fuse_reply_buf(req, buf, got);
}

void pmx_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
    (void)ino;
    pmx_op_begin();
    struct pmx_file *f = (struct pmx_file *)(uintptr_t)fi->fh;
    size_t put = 0;
    int e = 0;
    pthread_mutex_lock(&f->lock);
    do {
        ssize_t r = write_once(f, buf + put, size - put, off + (off_t)put);
        if (r < 0) {
            e = pmx_err(errno);
            break;
        }
        if (r == 0)
            break;
        put += (size_t)r;
    } while (!f->direct && put < size);
    pthread_mutex_unlock(&f->lock);
    if (e && !put)
        fuse_reply_err(req, e);
    else
        fuse_reply_write(req, put);
}

void pmx_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    /* close() of one descriptor of the open: QNX's close() sends nothing
     * until the last one goes (release). */
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

void pmx_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    pmx_op_begin();
    file_free((struct pmx_file *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

void pmx_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    pmx_op_begin();
    struct pmx_file *f = (struct pmx_file *)(uintptr_t)fi->fh;
    struct _io_sync m = { .type = _IO_SYNC, .combine_len = sizeof m,
                          .flag = datasync ? O_DSYNC : O_SYNC };
    iov_t s, r;
    SETIOV(&s, &m, sizeof m);
    SETIOV(&r, NULL, 0);
    /* ENOSYS tells the kernel not to ask again (the manager has nothing
     * to sync), and fsync() then succeeds. */
    fuse_reply_err(req, MsgSendv(f->coid, &s, 1, &r, 1) < 0 ? pmx_err(errno) : 0);
}

/* ---- ioctl -> devctl ---- */

void pmx_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
                  struct fuse_file_info *fi, unsigned flags, const void *in_buf,
                  size_t in_bufsz, size_t out_bufsz)
{
    (void)ino;
    (void)arg;
    pmx_op_begin();
    if (flags & FUSE_IOCTL_COMPAT) {
        fuse_reply_err(req, ENOSYS);  /* 32-bit callers: not translated */
        return;
    }
    if ((flags & FUSE_IOCTL_DIR) || !fi->fh) {
        fuse_reply_err(req, ENOTTY);  /* directories hold no connection */
        return;
    }
    struct pmx_file *f = (struct pmx_file *)(uintptr_t)fi->fh;
    int dcmd = (int)PEERMAP_IOCTL_TO_DCMD(cmd);
    size_t n = in_bufsz > out_bufsz ? in_bufsz : out_bufsz;
    /* At most _IOC_SIZE's 14 bits: the kernel copied no more. */
    char *buf = n ? malloc(n) : NULL;
    if (n && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (in_bufsz)
        memcpy(buf, in_buf, in_bufsz);
    if (n > in_bufsz)
        memset(buf + in_bufsz, 0, n - in_bufsz);
    struct iovec sv = { buf, in_bufsz }, rv = { buf, out_bufsz };
    int info = 0;
    int err = devctlv(f->coid, dcmd, in_bufsz ? 1 : 0, out_bufsz ? 1 : 0, &sv, &rv, &info);
    if (err) {
        fuse_reply_err(req, err == ENOSYS ? ENOTTY : pmx_err(err));
    } else {
        /* ioctl()'s result is the manager's ret_val; a negative one would
         * reach the program as an error (-1, errno = -ret_val) although
         * the command succeeded and its data came back: it becomes 0. */
        if (info < 0)
            pmx_log("ioctl %#x: the manager's ret_val %d cannot travel as ioctl()'s "
                    "result: 0 instead", cmd, info);
        fuse_reply_ioctl(req, info < 0 ? 0 : info, out_bufsz ? buf : NULL, out_bufsz);
    }
    free(buf);
}
