/*
 * shm_open() as QNX code calls it.  SHM_ANON makes an anonymous object: a
 * memfd, which has no name anyone could open, can be sealed, and is shared
 * only by descriptor or handle.  Every other name goes to the C library's
 * shm_open() unchanged, except that an object this call creates is
 * remembered as created here (shm_ctl(SHMCTL_REVOCABLE) and shm_revoke()
 * are the creator's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* The umask, read without changing it (umask() would, for a moment, for
 * every thread of the process): /proc/self/status says it since 4.7. */
static mode_t current_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned um = 022;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &um) == 1)
            break;
    if (f)
        fclose(f);
    return (mode_t)um;
}

static int anon_object(int oflag, mode_t mode)
{
    int acc = oflag & O_ACCMODE;
    /* QNX: an anonymous object is created, so it needs write access to be
     * of any use; O_EXCL and O_TRUNC change nothing for an object no one
     * else has.  Other bits are refused as for a named object. */
    if (acc != O_RDWR && acc != O_RDONLY)
        return pm_fail(EINVAL, "shm_open(SHM_ANON): access must be O_RDONLY or O_RDWR");
    if (oflag & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_NOCTTY))
        return pm_fail(EINVAL, "shm_open(SHM_ANON): unsupported flags 0x%x", oflag);

    /* Sealing allowed (SHMCTL_SEAL, read-only handles); not executable where
     * the kernel can say so, as QNX's shared memory objects are not. */
    int fd = memfd_create("peermap-shm-anon", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("peermap-shm-anon", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return pm_fail(0, "shm_open(SHM_ANON): memfd_create failed");
    /* The mode (less the umask) is what guards a reopen through
     * /proc/PID/fd by whoever gets a descriptor: memfds start as 0777. */
    mode_t um = current_umask();
    struct stat st;
    if (fchmod(fd, mode & 0777 & ~um) < 0 || fstat(fd, &st) < 0 ||
        pm_shm_object_mark(st.st_dev, st.st_ino, 0, 1) < 0) {
        int e = errno;
        close(fd);
        return pm_fail(e, "shm_open(SHM_ANON): cannot set up the object");
    }
    if (acc == O_RDONLY) {
        /* A read-only anonymous object: only this descriptor remains. */
        int ro = pm_shm_reopen(fd, O_RDONLY);
        int e = errno;
        close(fd);
        if (ro < 0)
            return pm_fail(e, "shm_open(SHM_ANON): cannot reopen read-only");
        fd = ro;
    }
    if (!(oflag & O_CLOEXEC)) {
        /* QNX leaves FD_CLOEXEC to the caller, like open(). */
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0)
            fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    return fd;
}

/* A named object: create it with O_EXCL first when O_CREAT is asked, so
 * that we know whether this process created it. */
static int named_object(const char *name, int oflag, mode_t mode)
{
    if (!(oflag & O_CREAT))
        return shm_open(name, oflag, mode);
    for (int tries = 0; tries < 16; tries++) {
        int fd = shm_open(name, oflag | O_EXCL, mode);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0)
                pm_shm_object_mark(st.st_dev, st.st_ino, 0, 1);
            return fd;
        }
        if (errno != EEXIST || (oflag & O_EXCL))
            return -1;
        fd = shm_open(name, oflag & ~O_CREAT, mode);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        /* Unlinked between the two calls: try again. */
    }
    errno = EEXIST;
    return -1;
}

PM_EXPORT int peermap_shm_open(const char *name, int oflag, mode_t mode)
{
    pm_begin();
    if (name == SHM_ANON)
        return anon_object(oflag, mode);
    return named_object(name, oflag, mode);
}
