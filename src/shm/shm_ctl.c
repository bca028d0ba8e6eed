/*
 * shm_ctl() and shm_ctl_special(): QNX's way to give a shared memory object
 * its memory and attributes.  Linux keeps none of QNX's attributes on the
 * object itself, so each flag is one of three things (shm_ctl(3)):
 *
 *   honoured   ANON (the size; memory allocated now unless LAZY), LAZY,
 *              SEAL (F_SEAL_GROW | F_SEAL_SHRINK), REVOCABLE (recorded
 *              for shm_revoke()), GET_FLAGS, PHYS|ANON for one page
 *   hints      GLOBAL, PRIV, LOWERPROT, LAZYWRITE, HIGHUSAGE, NODEFRAG:
 *              accepted, recorded, nothing on Linux acts on them
 *   refused    PHYS (physical addresses), ISADMA, NOX64K, REPEAT, TYMEM:
 *              ENOTSUP - Linux gives user space no way to choose physical
 *              memory for a memfd, and pretending would break a driver that
 *              relies on it
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"

#define HINTS (SHMCTL_GLOBAL | SHMCTL_PRIV | SHMCTL_LOWERPROT | SHMCTL_LAZYWRITE | \
               SHMCTL_HIGHUSAGE | SHMCTL_NODEFRAG)
#define KNOWN (SHMCTL_ANON | SHMCTL_PHYS | SHMCTL_SEAL | SHMCTL_REVOCABLE | HINTS | \
               SHMCTL_ISADMA | SHMCTL_LAZY | SHMCTL_REPEAT | SHMCTL_TYMEM |    \
               SHMCTL_GET_FLAGS | SHMCTL_NOX64K)

static int apply_size(int fd, int flags, uint64_t size)
{
    if (size > (uint64_t)INT64_MAX)
        return pm_fail(EINVAL, "shm_ctl: size %llu too large", (unsigned long long)size);
    if (ftruncate(fd, (off_t)size) < 0)
        return pm_fail(errno == EPERM ? EINVAL : 0,
                       "shm_ctl: cannot give the object %llu bytes",
                       (unsigned long long)size);
    /* QNX allocates (and locks) an object's memory here unless LAZY; Linux
     * allocates on first touch, so allocate now to keep the promise that a
     * later touch will not fail for lack of memory. */
    if (!(flags & SHMCTL_LAZY) && size &&
        fallocate(fd, 0, 0, (off_t)size) < 0 && errno != EOPNOTSUPP)
        return pm_fail(errno == ENOSPC ? ENOMEM : 0,
                       "shm_ctl: cannot allocate %llu bytes", (unsigned long long)size);
    return 0;
}

static int ctl(int fd, int flags, uint64_t paddr, uint64_t size, unsigned special)
{
    struct stat st;
    struct pm_shm_object obj = { 0 };

    int r = pm_shm_is_object(fd, &st);
    if (r < 0)
        return pm_fail(EBADF, "shm_ctl: fd %d is not open", fd);
    if (r == 0)
        return pm_fail(EINVAL, "shm_ctl: fd %d is not a shared memory object", fd);
    int known = pm_shm_object_get(st.st_dev, st.st_ino, &obj) == 0 && obj.creator == getpid();
    int have = known ? obj.flags : 0;

    if (flags & SHMCTL_GET_FLAGS) {
        if (flags & ~SHMCTL_GET_FLAGS)
            return pm_fail(EINVAL, "shm_ctl: SHMCTL_GET_FLAGS takes no other flag");
        return have;
    }
    if (flags & ~KNOWN || (flags & SHMCTL_HAS_SPECIAL))
        return pm_fail(EINVAL, "shm_ctl: unknown flags 0x%x", flags & ~KNOWN);
    if (special)
        return pm_fail(EINVAL, "shm_ctl_special: no processor-specific attributes on Linux");
    if (flags & (SHMCTL_TYMEM | SHMCTL_REPEAT | SHMCTL_ISADMA | SHMCTL_NOX64K))
        return pm_fail(ENOTSUP, "shm_ctl: typed, ISA-DMA and boundary-constrained "
                       "memory do not exist for user space on Linux");
    if ((flags & SHMCTL_PHYS) && !(flags & SHMCTL_ANON))
        return pm_fail(ENOTSUP, "shm_ctl: Linux cannot back a shared memory object "
                       "with physical address 0x%llx", (unsigned long long)paddr);
    if ((flags & SHMCTL_PHYS) && size > (uint64_t)sysconf(_SC_PAGESIZE))
        return pm_fail(ENOTSUP, "shm_ctl: physically contiguous memory of more than "
                       "one page cannot be had for a memfd");
    if ((flags & SHMCTL_ANON) && (have & SHMCTL_ANON))
        return pm_fail(EINVAL, "shm_ctl: the object already has its memory");
    if ((flags & SHMCTL_LAZY) && !(flags & SHMCTL_ANON))
        return pm_fail(EINVAL, "shm_ctl: SHMCTL_LAZY needs SHMCTL_ANON");
    int memfd = pm_shm_is_memfd(fd);
    if ((flags & (SHMCTL_SEAL | SHMCTL_REVOCABLE)) && !memfd &&
        !(known && obj.created_here))
        return pm_fail(EPERM, "shm_ctl: only the process that created the object "
                       "may seal it or make it revocable");
    if ((flags & SHMCTL_SEAL) && !memfd)
        return pm_fail(ENOTSUP, "shm_ctl: only anonymous objects (memfds) can be "
                       "sealed on Linux");
    if ((flags & (SHMCTL_ANON | SHMCTL_SEAL)) && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        return pm_fail(EACCES, "shm_ctl: fd %d is read-only", fd);

    if ((flags & SHMCTL_ANON) && apply_size(fd, flags, size) < 0)
        return -1;
    if ((flags & SHMCTL_SEAL) && fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
        return pm_fail(errno == EPERM ? EINVAL : 0,
                       "shm_ctl: cannot seal the object's size (sealing closed?)");
    if (pm_shm_object_mark(st.st_dev, st.st_ino, flags, 0) < 0)
        return pm_fail(ENOMEM, "shm_ctl: too many objects with attributes in this process");
    return 0;
}

PM_EXPORT int shm_ctl(int fd, int flags, uint64_t paddr, uint64_t size)
{
    pm_begin();
    return ctl(fd, flags, paddr, size, 0);
}

PM_EXPORT int shm_ctl_special(int fd, int flags, uint64_t paddr, uint64_t size,
                              unsigned special)
{
    pm_begin();
    return ctl(fd, flags, paddr, size, special);
}
