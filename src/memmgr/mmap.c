/*
 * pm_mmap(), pm_munmap(), pm_msync(), pm_mprotect(): the memory manager's
 * entry points and the table of the ranges they mapped.
 *
 * Ranges not mapped by pm_mmap() are the kernel's business and reach it
 * unchanged; a record is split when part of it is unmapped (or replaced by
 * a MAP_FIXED mapping).  The kernel's mmap/munmap/mprotect of our ranges are
 * made with pm_mm_lock held, so that the service thread never registers a
 * range that has just become someone else's.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/neutrino.h>

#include "common/internal.h"
#include "memmgr/memmgr.h"
#include "msg/msg.h"

struct pm_mrec *pm_mm_recs;

static size_t page_size(void)
{
    return pm_mm_page ? pm_mm_page : (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_up(size_t n)
{
    size_t pg = page_size();
    return (n + pg - 1) & ~(pg - 1);
}

/* Forget [a, a+len) in the table: split, trim or drop records
 * (pm_mm_lock held; the kernel has already unmapped or replaced it). */
static void cut_locked(uintptr_t a, size_t len)
{
    uintptr_t e = a + len;
    for (struct pm_mrec **pp = &pm_mm_recs; *pp;) {
        struct pm_mrec *r = *pp;
        uintptr_t rs = r->addr, re = r->addr + r->len;
        if (re <= a || rs >= e) {
            pp = &r->next;
            continue;
        }
        if (rs < a && re > e) {
            /* The middle goes: the tail becomes a record of its own. */
            struct pm_mrec *t = malloc(sizeof *t);
            if (t) {
                *t = *r;
                t->addr = e;
                t->len = re - e;
                t->off = r->off + (e - rs);
                t->next = r->next;
                r->next = t;
                r->obj->nmaps++;
            }
            r->len = a - rs;
            pp = &r->next;
            continue;
        }
        if (rs < a) {
            r->len = a - rs;
            pp = &r->next;
            continue;
        }
        if (re > e) {
            r->off += e - rs;
            r->addr = e;
            r->len = re - e;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        pm_mobj_unmapped_locked(r->obj);
        free(r);
    }
}

/* The objects behind [a, a+len) whose pages may need writing back, with
 * the page range of each (busy++ on each object). */
struct span {
    struct pm_mobj *obj;
    size_t pg, n;
    int shared;
};

static size_t spans_of(uintptr_t a, size_t len, struct span **out)
{
    size_t pg = page_size(), cnt = 0, cap = 0;
    struct span *v = NULL;
    uintptr_t e = a + len;
    pthread_mutex_lock(&pm_mm_lock);
    for (struct pm_mrec *r = pm_mm_recs; r; r = r->next) {
        uintptr_t s = r->addr > a ? r->addr : a;
        uintptr_t f = r->addr + r->len < e ? r->addr + r->len : e;
        if (s >= f || r->obj->memfd < 0)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 4;
            struct span *nv = realloc(v, nc * sizeof *v);
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        v[cnt].obj = r->obj;
        v[cnt].pg = (size_t)((r->off + (s - r->addr)) / pg);
        v[cnt].n = (f - s + pg - 1) / pg;
        v[cnt].shared = (r->flags & MAP_TYPE) == MAP_SHARED;
        r->obj->busy++;
        cnt++;
    }
    pthread_mutex_unlock(&pm_mm_lock);
    *out = v;
    return cnt;
}

static void spans_done(struct span *v, size_t n)
{
    pthread_mutex_lock(&pm_mm_lock);
    for (size_t i = 0; i < n; i++)
        pm_mobj_unbusy_locked(v[i].obj);
    pthread_mutex_unlock(&pm_mm_lock);
    free(v);
}

static int flush_spans(struct span *v, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].shared)
            continue;
        pthread_mutex_lock(&v[i].obj->io);
        if (pm_wb_flush(v[i].obj, v[i].pg, v[i].n) < 0)
            rc = -1;
        pthread_mutex_unlock(&v[i].obj->io);
    }
    return rc;
}

/* Ask the manager for the object behind fd (reusing what we know). */
static struct pm_mobj *get_object(int fd, pid_t pid, int chid, uint64_t sino, int prot,
                                  int flags, uint64_t off, size_t len, unsigned *allowed)
{
    struct pm_mgrant g;
    struct pm_mobj *o = pm_mobj_by_fd(pid, chid, sino);
    if (o) {
        pthread_mutex_lock(&o->io);
        int rc = pm_mm_outcall(o->coid, fd, prot, flags, off, len, &g);
        if (rc == 0 && !g.have_stat && pm_mm_stat(o->coid, &g) < 0)
            g.have_stat = 0;
        int same = rc == 0 && (g.fd >= 0) == (o->shm_fd >= 0) &&
                   (!o->have_id || !g.have_stat || (g.dev == o->dev && g.ino == o->ino));
        if (same) {
            pm_mobj_refresh(o, &g);
            *allowed = g.r.base.allowed_prot ? g.r.base.allowed_prot : g.granted;
            o->conn_allowed |= *allowed;   /* the server upgrades its OCB */
        }
        pthread_mutex_unlock(&o->io);
        if (same)
            return o;
        int e = errno;
        pm_mobj_unbusy(o);
        if (g.fd >= 0)
            close(g.fd);
        if (rc < 0 && e == ETIMEDOUT) {
            errno = e;     /* one deadline per call, not two */
            return NULL;
        }
        /* Whatever else went wrong (a stale connection, EBUSY because the
         * fd memory named the wrong object, a refusal), a fresh connection
         * gets the manager's definitive answer. */
        pm_begin();
    }
    int coid = pm_memmgr_connect(pid, chid, fd);
    if (coid < 0) {
        pm_fail(errno, "memory manager: cannot connect to process %d channel %d",
                (int)pid, chid);
        return NULL;
    }
    if (pm_mm_outcall(coid, fd, prot, flags, off, len, &g) < 0) {
        int e = errno;
        ConnectDetach(coid);
        errno = e;
        return NULL;
    }
    if (!g.have_stat && pm_mm_stat(coid, &g) < 0) {
        g.have_stat = 0;   /* then only the fd memory finds it again */
        pm_begin();
    }
    *allowed = g.r.base.allowed_prot ? g.r.base.allowed_prot : g.granted;
    o = pm_mobj_for(pid, chid, sino, coid, &g);
    if (!o) {
        int e = errno;
        if (g.fd >= 0)
            close(g.fd);
        ConnectDetach(coid);
        errno = e;
    }
    return o;
}

PM_EXPORT void *pm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    pm_begin();
    if (fd < 0 || (flags & MAP_ANONYMOUS))
        return mmap(addr, len, prot, flags, fd, off);
    struct pm_cconn *c = pm_cconn_get(fd);
    if (!c) {
        pm_begin();   /* not a manager's descriptor: the kernel's business */
        return mmap(addr, len, prot, flags, fd, off);
    }
    pid_t pid = c->pid;
    int chid = c->chid;
    uint64_t sino = pm_cconn_ino(c);
    pm_cconn_put(c);
    if (!sino) {
        pm_fail(EBADF, "fd %d: cannot fstat its connection", fd);
        return MAP_FAILED;
    }
    size_t pg = page_size();
    int type = flags & MAP_TYPE;
    if (!len || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
        (type != MAP_SHARED && type != MAP_PRIVATE) || (off & (off_t)(pg - 1)) || off < 0 ||
        ((flags & MAP_FIXED) && ((uintptr_t)addr & (pg - 1)))) {
        pm_fail(EINVAL, "pm_mmap: bad arguments (length 0, unknown prot bits, neither "
                "MAP_SHARED nor MAP_PRIVATE, or offset/address not page-aligned)");
        return MAP_FAILED;
    }
    if (len > SIZE_MAX - pg || (uint64_t)off + len < (uint64_t)off) {
        pm_fail(ENOMEM, "pm_mmap: length too large");
        return MAP_FAILED;
    }
    if (pm_pager_init() < 0)
        return MAP_FAILED;
    pg = pm_mm_page;
    unsigned allowed = 0;
    struct pm_mobj *o = get_object(fd, pid, chid, sino, prot, flags,
                                   (uint64_t)off, len, &allowed);
    if (!o)
        return MAP_FAILED;
    unsigned cap = type == MAP_SHARED ? allowed : allowed | PROT_WRITE;
    if ((unsigned)prot & ~cap & PROT_MASK) {
        pm_mobj_unbusy(o);
        pm_fail(EACCES, "the resource manager allows prot %#x only, %#x asked for a %s "
                "mapping", allowed, (unsigned)prot, type == MAP_SHARED ? "shared" : "private");
        return MAP_FAILED;
    }
    size_t mlen = round_up(len);
    int paged = o->memfd >= 0;
    if (paged) {
        pthread_mutex_lock(&o->io);
        int rc = pm_mobj_grow(o, (uint64_t)off + mlen);
        if (rc == 0 && type == MAP_SHARED && (prot & PROT_WRITE))
            rc = pm_wb_ensure_clean(o);
        pthread_mutex_unlock(&o->io);
        if (rc < 0) {
            pm_mobj_unbusy(o);
            return MAP_FAILED;
        }
    }
    struct pm_mrec *r = calloc(1, sizeof *r);
    if (!r) {
        pm_mobj_unbusy(o);
        pm_fail(ENOMEM, "out of memory for the mapping record");
        return MAP_FAILED;
    }
    int kflags = flags;
    if (paged)   /* pre-faulting would bypass the pager */
        kflags &= ~(MAP_POPULATE | MAP_LOCKED | MAP_NONBLOCK);
    pthread_mutex_lock(&pm_mm_lock);
    int mfd = paged ? o->memfd : o->shm_fd;
    void *p = mmap(addr, len, prot, kflags, mfd, off);
    if (p == MAP_FAILED) {
        int e = errno;
        pm_mobj_unbusy_locked(o);
        pthread_mutex_unlock(&pm_mm_lock);
        free(r);
        pm_fail(e, "mmap of the %s: %s", paged ? "page cache" : "manager's shared memory "
                "object", strerror(e));
        return MAP_FAILED;
    }
    cut_locked((uintptr_t)p, mlen);   /* MAP_FIXED may have replaced ours */
    *r = (struct pm_mrec){ .addr = (uintptr_t)p, .len = mlen, .off = (uint64_t)off,
                           .prot = prot, .allowed = cap, .flags = flags, .obj = o };
    if (paged) {
        if (pm_pager_register(r) < 0) {
            int e = errno;
            munmap(p, len);
            pm_mobj_unbusy_locked(o);
            pthread_mutex_unlock(&pm_mm_lock);
            free(r);
            errno = e;
            return MAP_FAILED;
        }
        madvise(p, mlen, MADV_DONTFORK);
    }
    r->next = pm_mm_recs;
    pm_mm_recs = r;
    o->nmaps++;
    pm_mobj_unbusy_locked(o);
    pthread_mutex_unlock(&pm_mm_lock);
    return p;
}

PM_EXPORT int pm_munmap(void *addr, size_t len)
{
    pm_begin();
    size_t pg = page_size();
    if (!len || ((uintptr_t)addr & (pg - 1)))
        return pm_fail(EINVAL, "pm_munmap: length 0 or address not page-aligned");
    len = round_up(len);
    struct span *v;
    size_t n = spans_of((uintptr_t)addr, len, &v);
    /* Changes are sent before the pages go; a failure loses them (as a
     * failing disk would), it does not keep the mapping. */
    if (flush_spans(v, n) < 0)
        pm_begin();
    pthread_mutex_lock(&pm_mm_lock);
    int rc = munmap(addr, len);
    int e = errno;
    if (rc == 0)
        cut_locked((uintptr_t)addr, len);
    pthread_mutex_unlock(&pm_mm_lock);
    spans_done(v, n);
    if (rc < 0)
        return pm_fail(e, "munmap: %s", strerror(e));
    return 0;
}

PM_EXPORT int pm_msync(void *addr, size_t len, int flags)
{
    pm_begin();
    if (msync(addr, len, flags) < 0)
        return pm_fail(errno, "msync: %s", strerror(errno));
    if (!len)
        return 0;
    struct span *v;
    size_t n = spans_of((uintptr_t)addr, round_up(len), &v);
    int rc = 0;
    if (flags & (MS_SYNC | MS_ASYNC))
        rc = flush_spans(v, n);
    if (rc == 0 && (flags & MS_INVALIDATE))
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_lock(&v[i].obj->io);
            pm_wb_drop_clean(v[i].obj, v[i].pg, v[i].n);
            pthread_mutex_unlock(&v[i].obj->io);
        }
    int e = errno;
    spans_done(v, n);
    errno = e;
    return rc;
}

PM_EXPORT int pm_mprotect(void *addr, size_t len, int prot)
{
    pm_begin();
    size_t pg = page_size();
    if ((uintptr_t)addr & (pg - 1))
        return pm_fail(EINVAL, "pm_mprotect: address not page-aligned");
    uintptr_t a = (uintptr_t)addr, e = a + round_up(len);
    /* Objects that will need a clean copy once writable (any number). */
    struct pm_mobj **need = NULL;
    size_t nneed = 0, cap = 0;
    pthread_mutex_lock(&pm_mm_lock);
    for (struct pm_mrec *r = pm_mm_recs; r; r = r->next) {
        if (r->addr + r->len <= a || r->addr >= e)
            continue;
        int fail = (unsigned)prot & ~r->allowed & PROT_MASK ? EACCES : 0;
        if (!fail && (prot & PROT_WRITE) && (r->flags & MAP_TYPE) == MAP_SHARED &&
            r->obj->memfd >= 0 && r->obj->clean_fd < 0) {
            if (nneed == cap) {
                size_t nc = cap ? cap * 2 : 8;
                struct pm_mobj **t = realloc(need, nc * sizeof *t);
                if (t) {
                    need = t;
                    cap = nc;
                } else {
                    fail = ENOMEM;
                }
            }
            if (!fail) {
                r->obj->busy++;
                need[nneed++] = r->obj;
            }
        }
        if (fail) {
            for (size_t i = 0; i < nneed; i++)
                pm_mobj_unbusy_locked(need[i]);
            pthread_mutex_unlock(&pm_mm_lock);
            free(need);
            if (fail == ENOMEM)
                return pm_fail(ENOMEM, "pm_mprotect: out of memory");
            return pm_fail(EACCES, "the resource manager allowed prot %#x for the "
                           "mapping at %#lx, not %#x", r->allowed, (unsigned long)r->addr,
                           (unsigned)prot);
        }
    }
    pthread_mutex_unlock(&pm_mm_lock);
    int rc = 0;
    for (size_t i = 0; i < nneed; i++) {
        pthread_mutex_lock(&need[i]->io);
        if (rc == 0 && pm_wb_ensure_clean(need[i]) < 0)
            rc = -1;
        pthread_mutex_unlock(&need[i]->io);
    }
    pthread_mutex_lock(&pm_mm_lock);
    for (size_t i = 0; i < nneed; i++)
        pm_mobj_unbusy_locked(need[i]);
    if (rc == 0) {
        rc = mprotect(addr, len, prot);
        if (rc < 0)
            pm_fail(errno, "mprotect: %s", strerror(errno));
        else
            for (struct pm_mrec *r = pm_mm_recs; r; r = r->next)
                if (r->addr + r->len > a && r->addr < e)
                    r->prot |= prot;
    }
    int err = errno;
    pthread_mutex_unlock(&pm_mm_lock);
    free(need);
    errno = err;
    return rc;
}
