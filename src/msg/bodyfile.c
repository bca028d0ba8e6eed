/*
 * Large bodies in memory files mapped at both ends (bodyfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/copy.h"
#include "msg/bodyfile.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SHRINK 0x0002
#endif

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

void pm_bodyfile_drop(struct pm_bodyfile *b)
{
    if (b->map)
        munmap(b->map, b->size);
    if (b->fd >= 0)
        close(b->fd);
    *b = (struct pm_bodyfile)PM_BODYFILE_INIT;
}

int pm_bodyfile_grow(struct pm_bodyfile *b, size_t size)
{
    size = page_round(size ? size : 1);
    if (b->fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (b->size >= size)
        return 0;
    /* A sealed file may grow, never shrink.  (The receiver holds the file
     * too and may have grown it past `size`: then it is mapped further as
     * it is.) */
    struct stat st;
    if (fstat(b->fd, &st) < 0 ||
        ((uint64_t)st.st_size < size && ftruncate(b->fd, (off_t)size) < 0))
        return -1;
    void *m = mremap(b->map, b->size, size, MREMAP_MAYMOVE);
    if (m == MAP_FAILED)
        return -1;
    b->map = m;
    b->size = size;
    return 0;
}

int pm_bodyfile_reserve(struct pm_bodyfile *b, size_t size)
{
    size = page_round(size ? size : 1);
    if (b->fd >= 0 && pm_bodyfile_grow(b, size) == 0)
        return 0;
    /* One that cannot grow is replaced. */
    pm_bodyfile_drop(b);
    int fd = memfd_create("peermap-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
        close(fd);
        return -1;
    }
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return -1;
    }
    *b = (struct pm_bodyfile){ .fd = fd, .map = m, .size = size };
    return 0;
}

void pm_bodyview_drop(struct pm_bodyview *v)
{
    if (v->map)
        munmap((void *)v->map, v->size);
    *v = (struct pm_bodyview)PM_BODYVIEW_INIT;
}

/* PEERMAP_MAP_BODIES=0: never map another process's file; pread() it.
 * Read once (tests may say otherwise later: pm_bodyview_allow()). */
static int allowed = -1;

void pm_bodyview_allow(int yes)
{
    __atomic_store_n(&allowed, yes ? 1 : 0, __ATOMIC_RELAXED);
}

static int mapping_allowed(void)
{
    int a = __atomic_load_n(&allowed, __ATOMIC_RELAXED);
    if (a < 0) {
        const char *e = getenv("PEERMAP_MAP_BODIES");
        a = !(e && e[0] == '0' && !e[1]);
        __atomic_store_n(&allowed, a, __ATOMIC_RELAXED);
    }
    return a;
}

const unsigned char *pm_bodyview_map(struct pm_bodyview *v, int fd, dev_t dev, ino_t ino,
                                     uint64_t size, uint64_t need)
{
    if (v->map && v->dev == dev && v->ino == ino && v->size >= need)
        return v->map;
    pm_bodyview_drop(v);
    if (!mapping_allowed()) {
        errno = EPERM;
        return NULL;
    }
    /* Only a memfd sealed against shrinking can never fault us (see
     * bodyfile.h); seals are never removed, so this holds for good - from
     * now on: its size is asked after the seal is seen (the sender may
     * have shrunk it before sealing). */
    int seals = fcntl(fd, F_GET_SEALS);
    struct statfs fs;
    struct stat st;
    if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstatfs(fd, &fs) < 0 ||
        fs.f_type != TMPFS_MAGIC || fstat(fd, &st) < 0 || st.st_dev != dev ||
        st.st_ino != ino) {
        errno = EPERM;
        return NULL;
    }
    if ((uint64_t)st.st_size < size)
        size = (uint64_t)st.st_size;
    if (need > size || size > SIZE_MAX / 2 || size == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return NULL;
    *v = (struct pm_bodyview){ .dev = dev, .ino = ino, .map = m, .size = (size_t)size };
    return m;
}

/* One bounce buffer per thread, for reads whose destination would put the
 * kernel's copy in the slow band. */
#define BOUNCE (128 * 1024)
static pthread_key_t bounce_key;
static pthread_once_t bounce_once = PTHREAD_ONCE_INIT;

static void make_bounce_key(void)
{
    pthread_key_create(&bounce_key, free);
}

static unsigned char *bounce_buffer(void)
{
    pthread_once(&bounce_once, make_bounce_key);
    unsigned char *b = pthread_getspecific(bounce_key);
    if (!b) {
        b = malloc(BOUNCE + PM_COPY_BOUNCE_SLACK);
        if (b && pthread_setspecific(bounce_key, b) != 0) {
            free(b);
            b = NULL;
        }
    }
    return b;
}

static ssize_t pread_all(int fd, unsigned char *dst, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, dst + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return got ? (ssize_t)got : -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t pm_body_pread(int fd, void *dst, size_t n, uint64_t off)
{
    unsigned char *d = dst;
    if (off > (uint64_t)LLONG_MAX || n > (uint64_t)LLONG_MAX - off) {
        errno = EINVAL;
        return -1;
    }
    /* The source is a page of the file: its address is `off` mod 4096. */
    unsigned char *b = pm_copy_slow((uintptr_t)d, (uintptr_t)off) ? bounce_buffer() : NULL;
    if (!b)
        return pread_all(fd, d, n, off);
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < BOUNCE ? n - done : BOUNCE;
        unsigned char *at = b + pm_copy_bounce((uintptr_t)b, (uintptr_t)(off + done));
        ssize_t r = pread_all(fd, at, k, off + done);
        if (r < 0)
            return done ? (ssize_t)done : -1;
        pm_copy(d + done, at, (size_t)r);
        done += (size_t)r;
        if ((size_t)r < k)
            break;
    }
    return (ssize_t)done;
}
