/*
 * Writing changed pages of MAP_SHARED paged mappings back to the manager.
 *
 * Dirty tracking by comparison: once an object may be written through a
 * shared mapping, it keeps a clean copy (a second sparse memfd) of every
 * page it has filled; a page is written back when the page cache differs
 * from its clean copy.  This needs nothing from the kernel (no soft-dirty
 * bits, no userfaultfd write-protect, which shmem supports only on recent
 * kernels) and sends exactly the pages that changed, at the price of one
 * extra copy of the pages touched in writable shared objects.  The copy is
 * made when the first writable shared mapping appears (the page cache is
 * clean up to then: nothing could write to it).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/internal.h"
#include "memmgr/memmgr.h"

#define RUN_MAX (1u << 20)

static int copy_range(int from, int to, off_t at, size_t n, char *buf)
{
    if (pread(from, buf, n, at) != (ssize_t)n || pwrite(to, buf, n, at) != (ssize_t)n)
        return -1;
    return 0;
}

int pm_wb_ensure_clean(struct pm_mobj *o)
{
    if (o->memfd < 0 || o->clean_fd >= 0)
        return 0;
    int fd = memfd_create("peermap-clean", MFD_CLOEXEC);
    if (fd < 0)
        return pm_fail(errno, "memfd_create for the clean copy: %s", strerror(errno));
    size_t pg = pm_mm_page, per = RUN_MAX / pg;
    char *buf = malloc(RUN_MAX);
    if (!buf || ftruncate(fd, (off_t)(o->npages * pg)) < 0) {
        free(buf);
        close(fd);
        return pm_fail(ENOMEM, "cannot size the clean copy");
    }
    /* Runs of filled pages, a run at most RUN_MAX: holes stay holes. */
    for (size_t p = 0; p < o->npages;) {
        pthread_mutex_lock(&pm_mm_lock);
        while (p < o->npages && !pm_bit_get(o->filled, p))
            p++;
        size_t k = 0;
        while (p + k < o->npages && k < per && pm_bit_get(o->filled, p + k))
            k++;
        pthread_mutex_unlock(&pm_mm_lock);
        if (k && copy_range(o->memfd, fd, (off_t)(p * pg), k * pg, buf) < 0) {
            free(buf);
            close(fd);
            return pm_fail(ENOMEM, "cannot fill the clean copy");
        }
        p += k;
    }
    free(buf);
    o->clean_fd = fd;
    return 0;
}

/* Whether page p differs from its clean copy (cur receives the page). */
static int dirty(struct pm_mobj *o, size_t p, char *cur, char *cln)
{
    size_t pg = pm_mm_page;
    if (pread(o->memfd, cur, pg, (off_t)(p * pg)) != (ssize_t)pg ||
        pread(o->clean_fd, cln, pg, (off_t)(p * pg)) != (ssize_t)pg)
        return 0;
    return memcmp(cur, cln, pg) != 0;
}

/* Send pages [start, start + k) (their bytes in `run`) to the manager,
 * never past the end of the file, and make them the new clean copy.
 * *wrote is set when bytes went.  0 or -1. */
static int send_run(struct pm_mobj *o, const char *run, size_t start, size_t k, int *wrote)
{
    size_t pg = pm_mm_page;
    uint64_t at = (uint64_t)start * pg;
    size_t bytes = k * pg;
    /* What lies past the end of the file is not the file's: a mapping does
     * not extend it.  (Size unknown: whole pages.) */
    if (o->size >= 0 && at >= (uint64_t)o->size)
        bytes = 0;
    else if (o->size >= 0 && at + bytes > (uint64_t)o->size)
        bytes = (size_t)((uint64_t)o->size - at);
    if (bytes && pm_mm_write(o, run, bytes, at) < 0)
        return -1;
    *wrote |= bytes != 0;
    /* The manager has it now: this is the new clean content. */
    if (pwrite(o->clean_fd, run, k * pg, (off_t)at) != (ssize_t)(k * pg))
        return pm_fail(ENOMEM, "cannot update the clean copy");
    return 0;
}

/*
 * Pages are compared with their clean copy a chunk (RUN_MAX) at a time:
 * two preads per chunk, not per page.  A run of changed pages goes as one
 * write (runs do not cross chunks).
 */
int pm_wb_flush(struct pm_mobj *o, size_t pg0, size_t n)
{
    if (o->memfd < 0 || o->clean_fd < 0 || o->broken)
        return 0;
    size_t pg = pm_mm_page, per = RUN_MAX / pg;
    if (pg0 >= o->npages)
        return 0;
    if (n > o->npages - pg0)
        n = o->npages - pg0;
    char *cur = malloc(RUN_MAX), *cln = malloc(RUN_MAX);
    uint8_t *chg = malloc(per);
    if (!cur || !cln || !chg) {
        free(cur);
        free(cln);
        free(chg);
        return pm_fail(ENOMEM, "out of memory for write-back");
    }
    int rc = 0, wrote = 0;
    for (size_t c0 = pg0; c0 < pg0 + n && rc == 0; c0 += per) {
        size_t cn = pg0 + n - c0 < per ? pg0 + n - c0 : per, any = 0;
        pthread_mutex_lock(&pm_mm_lock);
        for (size_t i = 0; i < cn; i++)
            any += chg[i] = (uint8_t)pm_bit_get(o->filled, c0 + i);
        pthread_mutex_unlock(&pm_mm_lock);
        if (!any)
            continue;
        ssize_t want = (ssize_t)(cn * pg);
        if (pread(o->memfd, cur, (size_t)want, (off_t)(c0 * pg)) != want ||
            pread(o->clean_fd, cln, (size_t)want, (off_t)(c0 * pg)) != want)
            continue; /* cannot be read: nothing to compare, as before */
        for (size_t i = 0; i < cn; i++)
            chg[i] = chg[i] && memcmp(cur + i * pg, cln + i * pg, pg) != 0;
        for (size_t i = 0; i < cn && rc == 0;) {
            if (!chg[i]) {
                i++;
                continue;
            }
            size_t k = 1;
            while (i + k < cn && chg[i + k])
                k++;
            rc = send_run(o, cur + i * pg, c0 + i, k, &wrote);
            i += k;
        }
    }
    free(cur);
    free(cln);
    free(chg);
    if (rc == 0 && wrote)
        pm_mm_sync(o);
    return rc;
}

void pm_wb_drop_clean(struct pm_mobj *o, size_t pg0, size_t n)
{
    if (o->memfd < 0)
        return;
    size_t pg = pm_mm_page;
    char *a = malloc(pg), *b = malloc(pg);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    for (size_t p = pg0; p < pg0 + n && p < o->npages; p++) {
        pthread_mutex_lock(&pm_mm_lock);
        int f = pm_bit_get(o->filled, p);
        pthread_mutex_unlock(&pm_mm_lock);
        if (!f || (o->clean_fd >= 0 && dirty(o, p, a, b)))
            continue;
        /* Clear the bit before the hole appears: a fault in between is
         * served again from the manager, never from a hole. */
        pthread_mutex_lock(&pm_mm_lock);
        pm_bit_clr(o->filled, p);
        pthread_mutex_unlock(&pm_mm_lock);
        fallocate(o->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(p * pg), (off_t)pg);
        if (o->clean_fd >= 0)
            fallocate(o->clean_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(p * pg), (off_t)pg);
    }
    free(a);
    free(b);
}
