/*
 * The object cache.  As QNX's memory manager does, we keep one object per
 * resource: per server (pid, chid) and identity (st_dev, st_ino, from the
 * _IO_MMAP reply's stat when it names a form, else from _IO_STAT on our
 * connection).  An object owns one memory-manager connection (the server
 * binds one privileged OCB to it) and, for paged objects, the page cache.
 *
 * Finding an object again:
 *   - by the client fd: we remember which open (its socket's inode, unique
 *     while it is open) led to which object, and send the next _IO_MMAP for
 *     that fd on the object's own connection (the server re-checks the
 *     client's rights each time and reuses its privileged OCB);
 *   - by identity: a fresh connection whose answer names a cached object is
 *     closed again, unless it got more rights (write) than the cached one
 *     has; then it replaces the cached connection (same object, same pages).
 * Invalidation: CACHE_FORCE_INVALIDATE always, a changed mtime unless
 * CACHE_READ_FROM_CACHE.  REMOVABLE (from the reply only: we do not ask
 * fstatvfs, so BYPASS_FSTATVFS changes nothing) and broken objects are
 * closed at their last unmap; sticky ones (S_ISVTX) never (for the life of
 * the process); others after PEERMAP_MEMMGR_IDLE_MS (1000) of disuse, which
 * closes the connection and so the server's OCB.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/neutrino.h>

#include "common/internal.h"
#include "memmgr/memmgr.h"

pthread_mutex_t pm_mm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pm_mobj *objects;

struct fdmem {
    struct fdmem *next;
    pid_t pid;
    int chid;
    uint64_t sock_ino;
    struct pm_mobj *obj;
};
static struct fdmem *fdmems;

int64_t pm_mobj_idle_ns(void)
{
    const char *s = getenv("PEERMAP_MEMMGR_IDLE_MS");
    long ms = 1000;
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (!*end && v >= 0 && v <= 3600000)
            ms = v;
    }
    return (int64_t)ms * 1000000;
}

/* The memory of client fds is only a shortcut: the newest FDMEM_MAX are
 * kept (a process that opens and maps in a loop would grow it forever, and
 * every lookup walks it). */
#define FDMEM_MAX 64

static void remember_fd(pid_t pid, int chid, uint64_t sock_ino, struct pm_mobj *o)
{
    size_t n = 0;
    for (struct fdmem **fp = &fdmems; *fp; fp = &(*fp)->next, n++) {
        struct fdmem *f = *fp;
        if (f->pid == pid && f->chid == chid && f->sock_ino == sock_ino) {
            f->obj = o;
            *fp = f->next; /* to the front: the newest */
            f->next = fdmems;
            fdmems = f;
            return;
        }
        if (n + 1 >= FDMEM_MAX && f->next) {
            struct fdmem *rest = f->next;
            f->next = NULL;
            while (rest) {
                struct fdmem *x = rest;
                rest = rest->next;
                free(x);
            }
            break;
        }
    }
    struct fdmem *f = calloc(1, sizeof *f);
    if (!f)
        return; /* only a shortcut */
    *f = (struct fdmem){ fdmems, pid, chid, sock_ino, o };
    fdmems = f;
}

struct pm_mobj *pm_mobj_by_fd(pid_t pid, int chid, uint64_t sock_ino)
{
    struct pm_mobj *o = NULL;
    pthread_mutex_lock(&pm_mm_lock);
    for (struct fdmem *f = fdmems; f; f = f->next)
        if (f->pid == pid && f->chid == chid && f->sock_ino == sock_ino) {
            if (f->obj->cached && !f->obj->broken) {
                o = f->obj;
                o->busy++;
            }
            break;
        }
    pthread_mutex_unlock(&pm_mm_lock);
    return o;
}

static void schedule_locked(struct pm_mobj *o)
{
    if (o->nmaps || o->busy)
        return;
    int keep = o->cached && !o->broken &&
               !(o->rflags & _IO_MMAP_REPLY_FLAGS_REMOVABLE);
    if (keep && o->sticky) {
        /* S_ISVTX: QNX keeps such objects (code mapped again and again)
         * cached; here for the life of the process. */
        o->idle_deadline = 0;
        return;
    }
    int64_t now = pm_now_ns();
    o->idle_deadline = keep ? now + pm_mobj_idle_ns() : now;
    pm_pager_arm(o->idle_deadline);
}

void pm_mobj_unbusy_locked(struct pm_mobj *o)
{
    o->busy--;
    schedule_locked(o);
}

void pm_mobj_unbusy(struct pm_mobj *o)
{
    pthread_mutex_lock(&pm_mm_lock);
    pm_mobj_unbusy_locked(o);
    pthread_mutex_unlock(&pm_mm_lock);
}

void pm_mobj_unmapped_locked(struct pm_mobj *o)
{
    o->nmaps--;
    schedule_locked(o);
}

static void destroy(struct pm_mobj *o)
{
    if (o->coid >= 0)
        ConnectDetach(o->coid);
    if (o->shm_fd >= 0)
        close(o->shm_fd);
    if (o->memfd >= 0)
        close(o->memfd);
    if (o->clean_fd >= 0)
        close(o->clean_fd);
    free(o->filled);
    pthread_mutex_destroy(&o->io);
    free(o);
}

int64_t pm_mobj_expire(int64_t now)
{
    struct pm_mobj *dead = NULL;
    int64_t next = 0;
    pthread_mutex_lock(&pm_mm_lock);
    for (struct pm_mobj **pp = &objects; *pp;) {
        struct pm_mobj *o = *pp;
        if (o->nmaps || o->busy || !o->idle_deadline) {
            pp = &o->next;
            continue;
        }
        if (o->idle_deadline > now) {
            if (!next || o->idle_deadline < next)
                next = o->idle_deadline;
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        o->next = dead;
        dead = o;
        for (struct fdmem **fp = &fdmems; *fp;) {
            if ((*fp)->obj == o) {
                struct fdmem *f = *fp;
                *fp = f->next;
                free(f);
            } else {
                fp = &(*fp)->next;
            }
        }
    }
    pthread_mutex_unlock(&pm_mm_lock);
    while (dead) {
        struct pm_mobj *o = dead;
        dead = o->next;
        destroy(o);
    }
    return next;
}

static size_t pages_for(uint64_t bytes)
{
    return (size_t)((bytes + pm_mm_page - 1) / pm_mm_page);
}

int pm_mobj_grow(struct pm_mobj *o, uint64_t end)
{
    size_t np = pages_for(end);
    if (o->memfd < 0 || np <= o->npages)
        return 0;
    off_t bytes = (off_t)(np * pm_mm_page);
    if (ftruncate(o->memfd, bytes) < 0 || (o->clean_fd >= 0 && ftruncate(o->clean_fd, bytes) < 0))
        return pm_fail(errno == EFBIG ? ENOMEM : errno, "cannot size the page cache "
                       "to %lld bytes: %s", (long long)bytes, strerror(errno));
    size_t nb = (np + 7) / 8, ob = (o->npages + 7) / 8;
    pthread_mutex_lock(&pm_mm_lock);
    uint8_t *b = realloc(o->filled, nb);
    if (b) {
        memset(b + ob, 0, nb - ob);
        o->filled = b;
        o->npages = np;
    }
    pthread_mutex_unlock(&pm_mm_lock);
    return b ? 0 : pm_fail(ENOMEM, "out of memory for the page bitmap");
}

void pm_mobj_invalidate(struct pm_mobj *o)
{
    if (o->memfd < 0 || !o->npages)
        return;
    /* Changes not yet written back are the caller's data: send them first,
     * the manager's newer content comes on the next touch. */
    if (o->clean_fd >= 0)
        pm_wb_flush(o, 0, o->npages);
    off_t bytes = (off_t)(o->npages * pm_mm_page);
    fallocate(o->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, bytes);
    if (o->clean_fd >= 0)
        fallocate(o->clean_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, bytes);
    pthread_mutex_lock(&pm_mm_lock);
    memset(o->filled, 0, (o->npages + 7) / 8);
    o->next_seq = 0;
    o->window = 0;
    pthread_mutex_unlock(&pm_mm_lock);
}

/* Bring a found object up to date with a new grant (o->io held). */
static void refresh(struct pm_mobj *o, struct pm_mgrant *g)
{
    unsigned cache = g->r.extended.flags & _IO_MMAP_REPLY_FLAGS_CACHE_MASK;
    int changed = g->have_stat && (g->mtime_s != o->mtime_s || g->mtime_ns != o->mtime_ns);
    if (cache == _IO_MMAP_REPLY_FLAGS_CACHE_FORCE_INVALIDATE ||
        (changed && cache != _IO_MMAP_REPLY_FLAGS_CACHE_READ_FROM_CACHE))
        pm_mobj_invalidate(o);
    if (g->have_stat) {
        o->size = g->size;
        o->mtime_s = g->mtime_s;
        o->mtime_ns = g->mtime_ns;
    }
    o->allowed = g->r.base.allowed_prot ? g->r.base.allowed_prot : g->granted;
    o->rflags = g->r.extended.flags;
    if (g->have_stat)
        o->sticky = (g->mode & S_ISVTX) != 0;
    if (g->fd >= 0) {
        /* The manager may hand a new object (e.g. after a resize): map
         * that from now on; existing mappings keep theirs. */
        if (o->shm_fd >= 0)
            close(o->shm_fd);
        o->shm_fd = g->fd;
        g->fd = -1;
    }
}

static struct pm_mobj *create(pid_t pid, int chid, int coid, struct pm_mgrant *g)
{
    struct pm_mobj *o = calloc(1, sizeof *o);
    if (!o) {
        pm_fail(ENOMEM, "out of memory for a memory object");
        return NULL;
    }
    o->pid = pid;
    o->chid = chid;
    o->coid = coid;
    o->shm_fd = o->memfd = o->clean_fd = -1;
    pthread_mutex_init(&o->io, NULL);
    o->have_id = g->have_stat;
    o->dev = g->dev;
    o->ino = g->ino;
    o->cached = 1;
    o->size = -1;   /* unknown until a stat says: read until the manager's EOF */
    o->mtime_s = g->mtime_s;   /* nothing cached yet to invalidate */
    o->mtime_ns = g->mtime_ns;
    if (g->fd < 0) {
        o->memfd = memfd_create("peermap-pagecache", MFD_CLOEXEC);
        if (o->memfd < 0) {
            pm_fail(errno, "memfd_create for the page cache: %s", strerror(errno));
            o->coid = -1;
            destroy(o);
            return NULL;
        }
        if (pm_mobj_grow(o, g->size > 0 ? (uint64_t)g->size : 0) < 0) {
            o->coid = -1;
            destroy(o);
            return NULL;
        }
    }
    refresh(o, g);
    o->conn_allowed = o->allowed;
    return o;
}

struct pm_mobj *pm_mobj_for(pid_t pid, int chid, uint64_t sock_ino, int coid,
                            struct pm_mgrant *g)
{
    struct pm_mobj *o = NULL;
    int shm = g->fd >= 0;
    if (g->have_stat) {
        pthread_mutex_lock(&pm_mm_lock);
        for (struct pm_mobj *p = objects; p; p = p->next)
            if (p->cached && !p->broken && p->have_id && p->pid == pid &&
                p->chid == chid && p->dev == g->dev && p->ino == g->ino) {
                if ((p->shm_fd >= 0) != shm) {
                    p->cached = 0;  /* the manager changed its mind: start anew */
                    continue;
                }
                o = p;
                o->busy++;
                break;
            }
        pthread_mutex_unlock(&pm_mm_lock);
    }
    if (o) {
        pthread_mutex_lock(&o->io);
        unsigned now_allowed = g->r.base.allowed_prot ? g->r.base.allowed_prot : g->granted;
        int drop = coid;
        if ((now_allowed & ~o->conn_allowed) & PROT_WRITE) {
            /* The new connection's OCB may write: keep it for write-back. */
            drop = o->coid;
            o->coid = coid;
            o->conn_allowed = now_allowed;
        }
        refresh(o, g);
        pthread_mutex_unlock(&o->io);
        ConnectDetach(drop);
    } else {
        o = create(pid, chid, coid, g);
        if (!o)
            return NULL;
        o->busy = 1;
        pthread_mutex_lock(&pm_mm_lock);
        o->next = objects;
        objects = o;
        pthread_mutex_unlock(&pm_mm_lock);
    }
    pthread_mutex_lock(&pm_mm_lock);
    remember_fd(pid, chid, sock_ino, o);
    pthread_mutex_unlock(&pm_mm_lock);
    return o;
}

/* A known object answered again on its own connection (o->io held). */
void pm_mobj_refresh(struct pm_mobj *o, struct pm_mgrant *g)
{
    refresh(o, g);
}

void pm_mobj_forget_all(void)
{
    /* The child has copies of our tables but not our threads, and the
     * objects' connections and memfds are shared with the parent: touching
     * them would disturb the parent.  Forget them (a small leak in the
     * child) and start afresh. */
    objects = NULL;
    fdmems = NULL;
    pm_mm_recs = NULL;
}
