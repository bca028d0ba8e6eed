/*
 * FUSE passthrough: a manager's shared memory object as the file itself.
 *
 * A manager that answers _IO_MMAP with _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_
 * OBJECT hands its client the object (a memfd) that holds the file; QNX
 * and pm_mmap() then map that very object: zero-copy, and coherent with
 * the manager and every other mapper.  Linux >= 6.9 lets a FUSE server do
 * the same for a whole open: it registers a descriptor with the kernel
 * (FUSE_DEV_IOC_BACKING_OPEN, which needs CAP_SYS_ADMIN) and answers the
 * open with FOPEN_PASSTHROUGH and the backing id; the kernel then serves
 * read(), write() and mmap() of that open from the object directly.
 *
 * libfuse 3.14 has no API for it, so this file uses the kernel interface
 * itself, in three small places (the structures are the kernel's
 * <linux/fuse.h>, protocol 7.40, written out because Debian 12's headers
 * predate them):
 *   1. INIT: the kernel offers FUSE_PASSTHROUGH (flags2 bit 5); libfuse's
 *      reply does not take it, so the reply is amended on its way to
 *      /dev/fuse (fuse_session_custom_io(): our writev) with that bit and
 *      max_stack_depth 1 (our backing files, memfds, stack on nothing);
 *      the same hook, for every export (not root's alone), asks for
 *      requests of up to 257 pages (PMX_MAX_PAGES, below) and for
 *      parallel look-ups in a directory (FUSE_PARALLEL_DIROPS);
 *   2. open/create: the reply is written by hand with FOPEN_PASSTHROUGH
 *      and the backing id;
 *   3. the backing id is closed when the open is released (the kernel
 *      looks the id up after our reply, in the opener's context, so it
 *      must stay registered until then).
 * Only a root export passes through (the ioctl needs CAP_SYS_ADMIN), and
 * only regular files whose manager hands over its object; anything else -
 * a manager without _IO_MMAP, one that maps pages from _IO_READ, a refusal
 * - goes through the page cache as before.  The manager's _IO_MMAP judges
 * the open as it would any client's (its rights, on a memory-manager
 * connection that stays open with the file).  What passes through never
 * reaches the manager's read and write handlers: that is what its object
 * is for.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sys/neutrino.h>

#include "export/export.h"
#include "memmgr/memmgr.h"
#include "msg/msg.h"

/* ---- the kernel's structures (<linux/fuse.h>, 7.40) ---- */

#define K_FUSE_INIT 26
#define K_FUSE_INIT_EXT (1u << 30)
#define K_FUSE_PASSTHROUGH_FLAGS2 (1u << 5)   /* FUSE_PASSTHROUGH = 1ULL << 37 */
#define K_FOPEN_PASSTHROUGH (1u << 7)
#define K_FUSE_MAX_PAGES (1u << 22)
#define K_FUSE_PARALLEL_DIROPS (1u << 18)

/* The largest request we ask the kernel for, in pages: one more than the
 * 1 MiB libfuse asks (its max_write, which stays as it is), because 1 MiB
 * that does not start on a page - a malloc()'d buffer starts 16 bytes in -
 * spans 257 pages, and the kernel splits a read into requests of at most
 * max_pages pages: 1 MiB - 16 bytes, then 16, two messages to the manager.
 * The kernel grants min(this, fs.fuse.max_pages_limit); that setting is
 * 256 by default, so this changes nothing until an administrator raises
 * it (ARCHITECTURE.md, "Large reads").  Writes stay within max_write (the
 * size libfuse's buffer holds). */
#define PMX_MAX_PAGES 257

struct k_in_header {
    uint32_t len, opcode;
    uint64_t unique, nodeid;
    uint32_t uid, gid, pid;
    uint16_t total_extlen, padding;
};

struct k_out_header {
    uint32_t len;
    int32_t error;
    uint64_t unique;
};

struct k_init_in {
    uint32_t major, minor, max_readahead, flags, flags2;
    uint32_t unused[11];
};

struct k_init_out {
    uint32_t major, minor, max_readahead, flags;
    uint16_t max_background, congestion_threshold;
    uint32_t max_write, time_gran;
    uint16_t max_pages, map_alignment;
    uint32_t flags2, max_stack_depth;
};

struct k_backing_map {
    int32_t fd;
    uint32_t flags;
    uint64_t padding;
};
#define K_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct k_backing_map)
#define K_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

struct k_open_out {
    uint64_t fh;
    uint32_t open_flags;
    int32_t backing_id;
};

struct k_attr {
    uint64_t ino, size, blocks, atime, mtime, ctime;
    uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};

struct k_entry_out {
    uint64_t nodeid, generation, entry_valid, attr_valid;
    uint32_t entry_valid_nsec, attr_valid_nsec;
    struct k_attr attr;
};

/* ---- INIT ---- */

static int dev_fd = -1;
static uint64_t init_unique;     /* the INIT request, while unanswered */
static int offered;              /* the kernel offered FUSE_PASSTHROUGH */
static int negotiated;           /* and our INIT reply took it */
static int pages_offered;        /* the kernel takes max_pages from us */
static int dirops_offered;       /* and parallel look-ups */
static int offer;                /* ours to offer: root, passthrough not refused */

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t r = read(fd, buf, len);
    if (!negotiated && r >= (ssize_t)(sizeof(struct k_in_header) + sizeof(struct k_init_in))) {
        const struct k_in_header *h = buf;
        if (h->opcode == K_FUSE_INIT) {
            const struct k_init_in *in = (const void *)(h + 1);
            offered = (in->flags & K_FUSE_INIT_EXT) && (in->flags2 & K_FUSE_PASSTHROUGH_FLAGS2);
            pages_offered = (in->flags & K_FUSE_MAX_PAGES) != 0;
            dirops_offered = (in->flags & K_FUSE_PARALLEL_DIROPS) != 0;
            init_unique = h->unique;
        }
    }
    return r;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    if (init_unique && count >= 2 && iov[0].iov_len >= sizeof(struct k_out_header)) {
        const struct k_out_header *o = iov[0].iov_base;
        if (o->unique == init_unique && o->error == 0 &&
            iov[1].iov_len >= sizeof(struct k_init_out)) {
            struct k_init_out *io = iov[1].iov_base;
            /* Look-ups and listings in one directory side by side: without
             * this the kernel holds the directory for each look-up, and
             * each is a message to a manager, so one stalled manager would
             * hold up every caller of every path beside its own until the
             * deadline.  (libfuse 3.14 wants it but leaves it out of its
             * reply.  Changes to a directory stay one at a time: the
             * kernel's own lock.) */
            if (dirops_offered)
                io->flags |= K_FUSE_PARALLEL_DIROPS;
            if (pages_offered && (io->flags & K_FUSE_MAX_PAGES) && io->max_pages < PMX_MAX_PAGES)
                io->max_pages = PMX_MAX_PAGES;
            if (offer && offered && (io->flags & K_FUSE_INIT_EXT)) {
                io->flags2 |= K_FUSE_PASSTHROUGH_FLAGS2;
                io->max_stack_depth = 1;
                negotiated = 1;
            }
            init_unique = 0;
        }
    }
    return writev(fd, iov, count);
}

int pmx_passthrough_setup(struct fuse_session *se, int passthrough)
{
    /* FUSE_DEV_IOC_BACKING_OPEN needs CAP_SYS_ADMIN */
    offer = passthrough && pmx_cfg.euid == 0;
    static const struct fuse_custom_io io = { .read = pt_read, .writev = pt_writev };
    int fd = fuse_session_fd(se);
    if (fd < 0 || fuse_session_custom_io(se, &io, fd) != 0)
        return EINVAL;
    dev_fd = fd;
    return 0;
}

int pmx_passthrough_on(void)
{
    return negotiated;
}

/* ---- opens ----
 *
 * The kernel insists that every passthrough open of one inode use the same
 * backing file (it refuses another with EIO), so the backing id is kept per
 * inode while any open uses it: a new open checks, with its own _IO_MMAP,
 * that the manager hands over the same object (device and inode of the
 * descriptor) and shares the id.  A table of at most as many entries as
 * passthrough files are open. */

struct backing {
    fuse_ino_t node;
    dev_t dev;
    ino_t ino;
    int id;
    int refs;
    struct backing *next;
};

static pthread_mutex_t backings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backing *backings;

/* The id for the object behind fd, registered if need be, a reference
 * taken; -1 when the node already passes through to another object or the
 * kernel refuses. */
static int backing_get(fuse_ino_t node, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    int id = -1;
    pthread_mutex_lock(&backings_lock);
    struct backing *b = backings;
    while (b && b->node != node)
        b = b->next;
    if (b) {
        if (b->dev == st.st_dev && b->ino == st.st_ino) {
            b->refs++;
            id = b->id;
        }
        pthread_mutex_unlock(&backings_lock);
        return id;
    }
    struct k_backing_map bm = { .fd = fd };
    id = ioctl(dev_fd, K_FUSE_DEV_IOC_BACKING_OPEN, &bm);
    if (id < 0) {
        pmx_log("passthrough: the kernel refused the manager's object: %s", strerror(errno));
    } else if (!(b = malloc(sizeof *b))) {
        uint32_t u = (uint32_t)id;
        ioctl(dev_fd, K_FUSE_DEV_IOC_BACKING_CLOSE, &u);
        id = -1;
    } else {
        *b = (struct backing){ node, st.st_dev, st.st_ino, id, 1, backings };
        backings = b;
    }
    pthread_mutex_unlock(&backings_lock);
    return id;
}

static void backing_put(int id)
{
    pthread_mutex_lock(&backings_lock);
    for (struct backing **p = &backings; *p; p = &(*p)->next) {
        struct backing *b = *p;
        if (b->id != id)
            continue;
        if (--b->refs == 0) {
            uint32_t u = (uint32_t)id;
            ioctl(dev_fd, K_FUSE_DEV_IOC_BACKING_CLOSE, &u);
            *p = b->next;
            free(b);
        }
        break;
    }
    pthread_mutex_unlock(&backings_lock);
}

int pmx_passthrough_open(struct pmx_file *f, fuse_ino_t node, const struct pm_ps_match *m,
                         int flags, const struct stat *st)
{
    f->backing_id = -1;
    f->mm_coid = -1;
    if (!negotiated || !S_ISREG(st->st_mode))
        return -1;
    int mm = pm_memmgr_connect(m->pid, m->chid, f->coid);
    if (mm < 0)
        return -1;
    struct pm_mgrant g;
    int acc = flags & O_ACCMODE;
    int prot = PROT_READ | (acc != O_RDONLY ? PROT_WRITE : 0);
    size_t len = st->st_size > 0 ? (size_t)st->st_size : 1;
    if (pm_mm_outcall(mm, f->coid, prot, MAP_SHARED, 0, len, &g) < 0 || g.fd < 0) {
        if (g.fd >= 0)
            close(g.fd);
        ConnectDetach(mm);
        return -1;  /* no object to hand over: the page cache it is */
    }
    int id = backing_get(node, g.fd);
    close(g.fd);  /* the kernel keeps its own reference */
    if (id < 0) {
        ConnectDetach(mm);
        return -1;
    }
    /* The memory-manager connection holds the manager's OCB for the
     * object (and the rights it granted) while the open lives. */
    f->backing_id = id;
    f->mm_coid = mm;
    return 0;
}

void pmx_passthrough_release(struct pmx_file *f)
{
    if (f->backing_id >= 0) {
        backing_put(f->backing_id);
        f->backing_id = -1;
    }
    if (f->mm_coid >= 0) {
        ConnectDetach(f->mm_coid);
        f->mm_coid = -1;
    }
}

static struct k_open_out open_out(const struct pmx_file *f)
{
    struct k_open_out o;
    memset(&o, 0, sizeof o);
    o.fh = (uint64_t)(uintptr_t)f;
    o.open_flags = K_FOPEN_PASSTHROUGH;
    o.backing_id = f->backing_id;
    return o;
}

int pmx_passthrough_reply_open(fuse_req_t req, const struct pmx_file *f)
{
    struct k_open_out o = open_out(f);
    return fuse_reply_buf(req, (const char *)&o, sizeof o);
}

int pmx_passthrough_reply_create(fuse_req_t req, const struct pmx_file *f, fuse_ino_t ino,
                                 const struct stat *a)
{
    struct {
        struct k_entry_out e;
        struct k_open_out o;
    } out;
    memset(&out, 0, sizeof out);
    out.e.nodeid = ino;
    struct k_attr *k = &out.e.attr;
    k->ino = a->st_ino;
    k->size = (uint64_t)a->st_size;
    k->blocks = (uint64_t)a->st_blocks;
    k->atime = (uint64_t)a->st_atim.tv_sec;
    k->mtime = (uint64_t)a->st_mtim.tv_sec;
    k->ctime = (uint64_t)a->st_ctim.tv_sec;
    k->atimensec = (uint32_t)a->st_atim.tv_nsec;
    k->mtimensec = (uint32_t)a->st_mtim.tv_nsec;
    k->ctimensec = (uint32_t)a->st_ctim.tv_nsec;
    k->mode = a->st_mode;
    k->nlink = (uint32_t)a->st_nlink;
    k->uid = a->st_uid;
    k->gid = a->st_gid;
    k->blksize = (uint32_t)a->st_blksize;
    out.o = open_out(f);
    return fuse_reply_buf(req, (const char *)&out, sizeof out);
}
