/*
 * What counts as a shared memory object, and how to hand one on with less
 * access than we hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "shm/shm.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994UL
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6UL
#endif

/* QNX's shared memory objects live in procnto; here they are files of the
 * kernel's shmem (memfd_create(), /dev/shm) or hugetlbfs.  Regular files
 * on disk are not: a handle to one would let the recipient write a file
 * whose permissions never allowed it. */
int pm_shm_is_object(int fd, struct stat *st)
{
    struct statfs sf;
    if (fstat(fd, st) < 0)
        return -1;
    if (!S_ISREG(st->st_mode))
        return 0;
    if (fstatfs(fd, &sf) < 0)
        return -1;
    return (unsigned long)sf.f_type == TMPFS_MAGIC ||
           (unsigned long)sf.f_type == HUGETLBFS_MAGIC;
}

int pm_shm_is_memfd(int fd)
{
    char path[32], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strncmp(target, "/memfd:", 7) == 0;
}

/* open() of /proc/self/fd/N makes a new open file description of the same
 * inode, checked against the inode's permissions like any open: a read-only
 * reopen of an object we hold read-write gives a descriptor that mmap()
 * and mprotect() can never make writable. */
int pm_shm_reopen(int fd, int access)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, access | O_CLOEXEC | O_NOCTTY);
}
