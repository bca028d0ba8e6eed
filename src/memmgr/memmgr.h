/*
 * The client's memory manager (pm_mmap() and friends): shared internals.
 *
 * Pieces, one file each:
 *   outcall.c    the messages it sends a resource manager (_IO_MMAP,
 *                _IO_STAT, _IO_READ, _IO_WRITE, _IO_SYNC), all with a
 *                deadline (peermap_timeout_ms()).
 *   object.c     the object cache: one object per (server, identity), the
 *                client-fd -> object memory, idle expiry.
 *   pager.c      demand paging: userfaultfd, the service thread, SIGBUS
 *                for broken objects.
 *   writeback.c  clean copies and writing changed pages back.
 *   mmap.c       the public entry points and the table of mappings.
 *
 * Locking (the rule that keeps a faulting thread from deadlocking us):
 *   pm_mm_lock   guards every table (objects, fd memory, mappings, bitmaps,
 *                object counters).  Held briefly; NEVER held while talking
 *                to a server or touching mapped memory.
 *   obj->io      serialises the object's connection and its memfds (fill,
 *                clean copy, write-back, invalidation).  May be held while
 *                talking to the server; pm_mm_lock may be taken inside it,
 *                never the other way round.
 * The library itself never touches memory it maps for the caller (it reads
 * and writes the page cache through the memfd), so the service thread never
 * waits on a thread that is stuck in a fault.
 */
#ifndef PEERMAP_MEMMGR_H
#define PEERMAP_MEMMGR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/iomsg.h>

struct pm_mobj {
    struct pm_mobj *next;
    pid_t pid;              /* the server: (pid, chid) */
    int chid;
    int have_id;            /* dev/ino known (else only the fd memory finds it) */
    uint64_t dev, ino;
    int64_t size;           /* st_size at the last _IO_MMAP; -1 unknown */
    int64_t mtime_s, mtime_ns;
    unsigned allowed;       /* allowed_prot of the last grant */
    unsigned conn_allowed;  /* what coid's privileged OCB was granted */
    unsigned rflags;        /* extended.flags of the last reply */
    int sticky;             /* S_ISVTX: kept cached even when unused */
    int coid;               /* our memmgr connection; guarded by io */
    int cached;             /* findable by identity / fd memory */
    pthread_mutex_t io;

    /* SERVER_SHMEM_OBJECT */
    int shm_fd;             /* -1 for paged objects */

    /* paged objects */
    int memfd;              /* the page cache (sparse) */
    int clean_fd;           /* clean copy of filled pages, -1 until needed */
    size_t npages;          /* memfd size in pages */
    uint8_t *filled;        /* bitmap, npages bits */
    size_t next_seq;        /* page after the last batch: read-ahead hint */
    size_t window;          /* current read-ahead, pages */
    int no_xtype;           /* the server refused _IO_XTYPE_OFFSET */
    int no_sync;            /* the server has no _IO_SYNC */
    int broken;             /* reads failed: unfilled pages raise SIGBUS */
    int broken_err;

    /* counters (pm_mm_lock) */
    int nmaps;              /* mapping records referring to it */
    int busy;               /* threads using it outside pm_mm_lock */
    int64_t idle_deadline;  /* ns, when nmaps == 0 && busy == 0 */
    uint64_t bytes_read;    /* served by the server, for tests/debugging */
};

/* One pm_mmap()'ed range (split by partial unmaps). */
struct pm_mrec {
    struct pm_mrec *next;
    uintptr_t addr;
    size_t len;
    uint64_t off;           /* object offset of addr */
    int prot;               /* the widest prot it has had */
    unsigned allowed;       /* what pm_mprotect() may give it */
    int flags;              /* MAP_SHARED or MAP_PRIVATE (plus others) */
    int on_sigbus;          /* its unfilled pages now raise SIGBUS */
    struct pm_mobj *obj;
};

extern pthread_mutex_t pm_mm_lock;
extern struct pm_mrec *pm_mm_recs;
extern size_t pm_mm_page;

static inline int pm_bit_get(const uint8_t *b, size_t i) { return (b[i >> 3] >> (i & 7)) & 1; }
static inline void pm_bit_set(uint8_t *b, size_t i) { b[i >> 3] |= (uint8_t)(1u << (i & 7)); }
static inline void pm_bit_clr(uint8_t *b, size_t i) { b[i >> 3] &= (uint8_t)~(1u << (i & 7)); }

/* ---- outcall.c ---- */
struct pm_mgrant {
    struct _io_mmap_reply_ext r;
    int extended;
    int fd;                 /* SERVER_SHMEM_OBJECT descriptor, or -1 */
    int have_stat;
    uint64_t dev, ino;
    int64_t size, mtime_s, mtime_ns;
    uint32_t mode;          /* st_mode (S_ISVTX: sticky) */
    unsigned granted;       /* prot the manager accepted */
};
/* _IO_MMAP on coid for the client's `fd` (with the write retry). */
int pm_mm_outcall(int coid, int fd, int prot, int flags, uint64_t off, size_t len,
                  struct pm_mgrant *g);
/* _IO_STAT on coid: identity, size, mtime into g. */
int pm_mm_stat(int coid, struct pm_mgrant *g);
/* Read n bytes at off (loops over short reads; fewer at the end of file).
 * Returns the count, or -1.  With `view`: when the manager's reply, all n
 * bytes, came in a file the message layer maps, *view points at it there
 * (valid until the object's next message) and buf was not written;
 * otherwise *view is NULL and the bytes are in buf. */
ssize_t pm_mm_read(struct pm_mobj *o, void *buf, size_t n, uint64_t off,
                   const unsigned char **view);
/* Write n bytes at off (loops).  0 or -1. */
int pm_mm_write(struct pm_mobj *o, const void *buf, size_t n, uint64_t off);
void pm_mm_sync(struct pm_mobj *o);

/* ---- object.c ---- */
/* The object a grant on the fresh connection coid names: a cached one of
 * the same identity (coid is then closed, or replaces the object's own if
 * it was granted write), else a new one that owns coid.  Takes g->fd.
 * Returns it with busy++, or NULL (coid and g->fd are then the caller's). */
struct pm_mobj *pm_mobj_for(pid_t pid, int chid, uint64_t sock_ino, int coid,
                            struct pm_mgrant *g);
/* The cached object the client fd led to before (busy++), or NULL. */
struct pm_mobj *pm_mobj_by_fd(pid_t pid, int chid, uint64_t sock_ino);
/* Drop a busy reference (pm_mm_lock held); may schedule idle expiry. */
void pm_mobj_unbusy_locked(struct pm_mobj *o);
void pm_mobj_unbusy(struct pm_mobj *o);
/* A mapping went away (pm_mm_lock held). */
void pm_mobj_unmapped_locked(struct pm_mobj *o);
/* A known object answered again on its own connection (o->io held). */
void pm_mobj_refresh(struct pm_mobj *o, struct pm_mgrant *g);
/* Make the paged object cover at least `end` bytes (obj->io held). */
int pm_mobj_grow(struct pm_mobj *o, uint64_t end);
/* Close objects whose idle time is over; returns the next deadline (0 none). */
int64_t pm_mobj_expire(int64_t now);
/* ms an unused object is kept (PEERMAP_MEMMGR_IDLE_MS). */
int64_t pm_mobj_idle_ns(void);
/* Drop every cached page of o (obj->io held). */
void pm_mobj_invalidate(struct pm_mobj *o);
/* After fork(), in the child: forget everything (nothing here is valid). */
void pm_mobj_forget_all(void);

/* ---- pager.c ---- */
/* Start the service thread and the userfaultfds (once). 0 or -1. */
int pm_pager_init(void);
/* Register [addr, addr+len) for paging (or SIGBUS when o is broken). */
int pm_pager_register(struct pm_mrec *r);   /* pm_mm_lock held */
/* Re-arm the idle timer for `deadline` (ns, monotonic; 0 = none). */
void pm_pager_arm(int64_t deadline);       /* pm_mm_lock held */
/* Mark o broken: its unfilled pages raise SIGBUS from now on. */
void pm_pager_break(struct pm_mobj *o, int err);

/* ---- writeback.c ---- */
/* Make sure the object has a clean copy of its filled pages (obj->io held). */
int pm_wb_ensure_clean(struct pm_mobj *o);
/* Write back the changed pages in [pg, pg+n) (obj->io held).  0 or -1. */
int pm_wb_flush(struct pm_mobj *o, size_t pg, size_t n);
/* Forget clean pages in [pg, pg+n) (MS_INVALIDATE; obj->io held). */
void pm_wb_drop_clean(struct pm_mobj *o, size_t pg, size_t n);

#endif
