/*
 * Demand paging of objects that a resource manager serves through _IO_READ.
 *
 * Design: each paged object has a page cache of its own, a sparse memfd as
 * large as the object.  Every mapping of the object maps that memfd
 * (MAP_SHARED or MAP_PRIVATE as asked: a private mapping copies on write
 * and its copies never reach the memfd) and is registered MISSING with one
 * userfaultfd per process.  A page that is not in the memfd faults into the
 * service thread, which reads a batch from the manager (read ahead: one
 * page for a fault out of sequence - a random first touch costs one small
 * read - then four times more on each sequential fault up to 2 MiB, never
 * over pages already filled, never past the object) into a buffer kept for
 * the purpose, and puts it into the memfd - filling it for every mapping
 * of the object at once: with UFFDIO_COPY where the faulting mapping is
 * MAP_SHARED (which maps the pages there too), else with pwrite() and
 * UFFDIO_WAKE (the retried fault finds the page in the memfd; UFFDIO_COPY
 * would give a MAP_PRIVATE mapping an anonymous page the other mappings
 * never see).  Pages past the end of the file are zeros and cost no message.
 *
 * Broken objects (a read failed: the manager died, stalled past
 * peermap_timeout_ms(), or answered nonsense): the unfilled pages of their
 * mappings are replaced in place (mmap MAP_FIXED) by a mapping of an empty
 * memfd, so that a touch raises SIGBUS in the toucher, as a truncated file
 * does; filled pages stay readable.  Then the waiting faults are woken and
 * retry into SIGBUS.  (A second userfaultfd with UFFD_FEATURE_SIGBUS was
 * tried first and rejected: moving a range between userfaultfds means
 * unregistering it, which wakes the waiters before the new registration
 * exists, and they then found a zero page instead of SIGBUS.)
 *
 * Unprivileged processes get the userfaultfd with UFFD_USER_MODE_ONLY (no
 * vm.unprivileged_userfaultfd needed): a system call handed an unfilled
 * page of such a mapping (write(fd, mapped, n)) fails with EFAULT instead of
 * waiting for the page.  Without any userfaultfd, paged mappings fail.
 *
 * Paged mappings are MADV_DONTFORK: the pager lives in this process only,
 * and a child's fault would put a zero page into the shared page cache.
 *
 * Another thread closes idle objects (a timerfd).
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/service.h"
#include "memmgr/memmgr.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define WINDOW_MAX (2u << 20)
#define WINDOW_GROWTH 4

/* The service thread's read buffer: allocating and zeroing a fresh one per
 * fault cost more than the read itself. */
static char *batch;

size_t pm_mm_page;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int started;
static int uffd = -1, tfd = -1;
static int sbfd = -1;           /* an empty memfd: its pages raise SIGBUS */
static int uffd_err;            /* why there is no userfaultfd */
static int64_t armed;           /* timer deadline (pm_mm_lock) */

static int make_uffd(int features, int *err)
{
    /* Blocking: the fault thread waits in read() on it (see below). */
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd < 0 && (errno == EPERM || errno == EACCES))
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    struct uffdio_api api = { .api = UFFD_API, .features = (uint64_t)features };
    if (ioctl(fd, UFFDIO_API, &api) < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static void atfork_prepare(void) { pthread_mutex_lock(&pm_mm_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&pm_mm_lock); }
static void atfork_child(void)
{
    /* Our thread did not come along; the descriptors are the parent's
     * userfaultfd contexts (registrations belong to the parent's mm). */
    if (uffd >= 0) close(uffd);
    if (sbfd >= 0) close(sbfd);
    if (tfd >= 0) close(tfd);
    uffd = sbfd = tfd = -1;
    started = 0;
    armed = 0;
    pm_mobj_forget_all();
    pthread_mutex_init(&init_lock, NULL);
    pthread_mutex_unlock(&pm_mm_lock);
}

void pm_pager_arm(int64_t deadline)
{
    if (tfd < 0 || deadline <= 0)
        return;
    if (armed && armed <= deadline)
        return;
    armed = deadline;
    struct itimerspec it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = deadline / 1000000000;
    it.it_value.tv_nsec = deadline % 1000000000;
    if (!it.it_value.tv_sec && !it.it_value.tv_nsec)
        it.it_value.tv_nsec = 1;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

static void wake(uintptr_t addr, size_t len)
{
    struct uffdio_range r = { .start = addr, .len = len };
    ioctl(uffd, UFFDIO_WAKE, &r);   /* ENOENT-like results: nobody waits */
}

/* Make the unfilled pages of r raise SIGBUS (pm_mm_lock held): they are
 * replaced, in place, by a mapping of an empty file, every page of which
 * lies past its end.  mmap(MAP_FIXED) swaps them atomically, so a thread
 * that retries its fault never finds a page missing without a pager. */
static void to_sigbus(struct pm_mrec *r, size_t from, size_t n)
{
    size_t pg = pm_mm_page;
    struct pm_mobj *o = r->obj;
    size_t base = (size_t)(r->off / pg), total = r->len / pg;
    if (from > total)
        return;
    if (n > total - from)
        n = total - from;
    size_t i = from;
    while (i < from + n) {
        size_t p = base + i;
        if (p < o->npages && pm_bit_get(o->filled, p)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < from + n && !(base + j < o->npages && pm_bit_get(o->filled, base + j)))
            j++;
        void *at = (void *)(r->addr + i * pg);
        if (sbfd < 0 ||
            mmap(at, (j - i) * pg, r->prot, MAP_SHARED | MAP_FIXED, sbfd, 0) == MAP_FAILED)
            mprotect(at, (j - i) * pg, PROT_NONE);   /* never hang, never lie */
        i = j;
    }
    r->on_sigbus = 1;
}

int pm_pager_register(struct pm_mrec *r)
{
    if (r->obj->broken) {
        to_sigbus(r, 0, r->len / pm_mm_page);
        return 0;
    }
    if (uffd < 0)
        return pm_fail(ENOSYS, "demand paging needs a userfaultfd and this process "
                       "cannot have one (%s); only managers that hand over a shared "
                       "memory object can be mapped", strerror(uffd_err));
    struct uffdio_register reg = {
        .range = { .start = r->addr, .len = r->len },
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
        return pm_fail(errno, "userfaultfd registration of the mapping: %s",
                       strerror(errno));
    return 0;
}

void pm_pager_break(struct pm_mobj *o, int err)
{
    pthread_mutex_lock(&pm_mm_lock);
    if (!o->broken) {
        o->broken = 1;
        o->broken_err = err;
        o->cached = 0;
    }
    for (struct pm_mrec *r = pm_mm_recs; r; r = r->next)
        if (r->obj == o && !r->on_sigbus) {
            to_sigbus(r, 0, r->len / pm_mm_page);
            wake(r->addr, r->len);
        }
    pthread_mutex_unlock(&pm_mm_lock);
}

/*
 * Put n bytes read for object offset `at` into the page cache (pm_mm_lock
 * held, so the faulting mapping cannot change under us).  The part a
 * MAP_SHARED mapping at `addr` covers goes in with UFFDIO_COPY: one copy
 * that also maps the pages there and wakes the faulting thread, where
 * pwrite() + UFFDIO_WAKE would make every page fault again.  The rest (read
 * ahead past that mapping; any MAP_PRIVATE mapping, whose UFFDIO_COPY would
 * be a private page the other mappings never see) is pwrite()n into the
 * memfd.  Returns 0 or an errno.
 */
static int install(struct pm_mobj *o, uintptr_t addr, const char *buf, uint64_t at, size_t n,
                   int *woken)
{
    uint64_t lo = at, hi = at; /* the part copied in place */
    struct pm_mrec *r = pm_mm_recs;
    while (r && !(addr >= r->addr && addr < r->addr + r->len))
        r = r->next;
    if (r && r->obj == o && (r->flags & MAP_SHARED) && !r->on_sigbus) {
        lo = at > r->off ? at : r->off;
        hi = at + n < r->off + r->len ? at + n : r->off + r->len;
        if (lo < hi) {
            struct uffdio_copy c = { .dst = r->addr + (uintptr_t)(lo - r->off),
                                     .src = (uintptr_t)(buf + (lo - at)),
                                     .len = hi - lo };
            if (ioctl(uffd, UFFDIO_COPY, &c) < 0)
                hi = lo + (c.copy > 0 ? (uint64_t)c.copy : 0); /* pwrite the rest */
            /* Copying woke whoever waited on the pages it mapped. */
            uintptr_t first = r->addr + (uintptr_t)(lo - r->off);
            *woken = addr >= first && addr < first + (uintptr_t)(hi - lo);
        } else {
            lo = hi = at;
        }
    }
    if (lo > at && pwrite(o->memfd, buf, (size_t)(lo - at), (off_t)at) != (ssize_t)(lo - at))
        return ENOMEM;
    if (hi < at + n &&
        pwrite(o->memfd, buf + (hi - at), (size_t)(at + n - hi), (off_t)hi) !=
            (ssize_t)(at + n - hi))
        return ENOMEM;
    return 0;
}

static void fault(uintptr_t addr)
{
    size_t pg = pm_mm_page;
    addr &= ~(uintptr_t)(pg - 1);
    pthread_mutex_lock(&pm_mm_lock);
    struct pm_mrec *r = pm_mm_recs;
    while (r && !(addr >= r->addr && addr < r->addr + r->len))
        r = r->next;
    if (!r || r->obj->memfd < 0) {
        pthread_mutex_unlock(&pm_mm_lock);
        wake(addr, pg);
        return;
    }
    struct pm_mobj *o = r->obj;
    size_t p = (size_t)((addr - r->addr + r->off) / pg);
    if (o->broken) {
        /* e.g. a page dropped by MS_INVALIDATE since: it cannot come back */
        to_sigbus(r, (addr - r->addr) / pg, 1);
        pthread_mutex_unlock(&pm_mm_lock);
        wake(addr, pg);
        return;
    }
    o->busy++;
    pthread_mutex_unlock(&pm_mm_lock);

    pthread_mutex_lock(&o->io);
    pthread_mutex_lock(&pm_mm_lock);
    if (p >= o->npages || pm_bit_get(o->filled, p)) {
        /* Filled meanwhile (or beyond the cache: cannot happen, the
         * mapping grew it): the retried fault will find it. */
        pthread_mutex_unlock(&pm_mm_lock);
        pthread_mutex_unlock(&o->io);
        pm_mobj_unbusy(o);
        wake(addr, pg);
        return;
    }
    size_t wpages = 1;
    if (o->window && p == o->next_seq)
        wpages = o->window * WINDOW_GROWTH > WINDOW_MAX / pg ? WINDOW_MAX / pg
                                                             : o->window * WINDOW_GROWTH;
    o->window = wpages;
    size_t end = p + 1;
    while (end < p + wpages && end < o->npages && !pm_bit_get(o->filled, end))
        end++;
    o->next_seq = end;
    pthread_mutex_unlock(&pm_mm_lock);

    size_t n = (end - p) * pg;
    uint64_t at = (uint64_t)p * pg;
    size_t want = o->size < 0 ? n : 0;   /* past a known end: zeros, no message */
    if (o->size > 0 && at < (uint64_t)o->size)
        want = (uint64_t)o->size - at < n ? (size_t)((uint64_t)o->size - at) : n;
    if (!batch)
        batch = malloc(WINDOW_MAX);
    const char *buf = batch;
    int err = 0;
    if (!batch) {
        err = ENOMEM;
    } else {
        /* A whole window that came in the manager's reply file is
         * installed straight from there: one copy less. */
        const unsigned char *view = NULL;
        ssize_t got = want ? pm_mm_read(o, batch, want, at, want == n ? &view : NULL) : 0;
        if (got < 0)
            err = errno ? errno : EIO;
        else if (view)
            buf = (const char *)view;
        else if ((size_t)got < n)
            memset(batch + got, 0, n - (size_t)got); /* past the end: zeros */
    }
    int woken = 0;
    if (!err && o->clean_fd >= 0 && pwrite(o->clean_fd, buf, n, (off_t)at) != (ssize_t)n)
        err = ENOMEM;
    if (!err) {
        pthread_mutex_lock(&pm_mm_lock);
        err = install(o, addr, buf, at, n, &woken);
        if (!err)
            for (size_t i = p; i < end; i++)
                pm_bit_set(o->filled, i);
        pthread_mutex_unlock(&pm_mm_lock);
    }
    pthread_mutex_unlock(&o->io);
    if (err)
        pm_pager_break(o, err);
    pm_mobj_unbusy(o);
    if (!woken)
        wake(addr, pg);
}

/*
 * Two service threads (common/service.h: they take no signals).  Faults
 * have one of their own that blocks in read() on the userfaultfd: a fault
 * costs it one system call to learn of, where a poll() over the
 * userfaultfd and the idle timer, then a read(), cost two (and poll()'s
 * setting up of two wait queues) on the path of every first touch.  The
 * idle timer has the other, blocked in read() on the timerfd; closing idle
 * objects takes pm_mm_lock like everything else, and never an object a
 * fault holds (busy) or a mapping uses (nmaps).
 */
static void *fault_service(void *arg)
{
    (void)arg;
    for (;;) {
        /* Several at once when they are there; it blocks for the first
         * only. */
        struct uffd_msg m[16];
        ssize_t got = read(uffd, m, sizeof m);
        for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof m[0]; i++)
            if (m[i].event == UFFD_EVENT_PAGEFAULT)
                fault((uintptr_t)m[i].arg.pagefault.address);
    }
    return NULL;
}

static void *timer_service(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t ticks;
        if (read(tfd, &ticks, sizeof ticks) < 0)
            continue; /* EINTR: signals are blocked, but never spin on it */
        pthread_mutex_lock(&pm_mm_lock);
        armed = 0;
        pthread_mutex_unlock(&pm_mm_lock);
        int64_t next = pm_mobj_expire(pm_now_ns());
        if (next) {
            pthread_mutex_lock(&pm_mm_lock);
            pm_pager_arm(next);
            pthread_mutex_unlock(&pm_mm_lock);
        }
    }
    return NULL;
}

int pm_pager_init(void)
{
    pthread_mutex_lock(&init_lock);
    if (started) {
        pthread_mutex_unlock(&init_lock);
        return 0;
    }
    static int atfork_done;
    if (!atfork_done) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        atfork_done = 1;
    }
    pm_mm_page = (size_t)sysconf(_SC_PAGESIZE);
    /* Both blocking: each has a thread of its own that waits in read(). */
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (tfd < 0) {
        int e = errno;
        pthread_mutex_unlock(&init_lock);
        return pm_fail(e, "memory manager: timerfd_create: %s", strerror(e));
    }
    int e = pm_service_start(timer_service, NULL);
    if (e) {
        close(tfd);
        tfd = -1;
        pthread_mutex_unlock(&init_lock);
        return pm_fail(e, "memory manager: cannot start its thread: %s", strerror(e));
    }
    uffd = make_uffd(0, &uffd_err);
    sbfd = memfd_create("peermap-sigbus", MFD_CLOEXEC);
    if (uffd >= 0 && (e = pm_service_start(fault_service, NULL)) != 0) {
        /* No pager: paged mappings fail (pm_pager_register()), those of
         * shared memory objects still work. */
        close(uffd);
        uffd = -1;
        uffd_err = e;
    }
    started = 1;
    pthread_mutex_unlock(&init_lock);
    return 0;
}
