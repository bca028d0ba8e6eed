/*
 * shm_create_handle(): a one-time handle for process `pid` to the object
 * behind `fd`, with at most the access `flags` names.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static int exceeds(int want, int have)
{
    if (want == O_RDWR)
        return have != O_RDWR;
    return have != O_RDWR && have != want;
}

/* A read-only grant must stay read-only for this recipient.  If it could
 * open the object for writing (recipient.c), the object is sealed against
 * future writes: existing writable mappings (the creator's) keep working,
 * write() and new writable mappings fail for everyone.  Only where the
 * recipient could otherwise write, so an object shared with a recipient of
 * another user keeps its full use in the creator. */
static int keep_read_only(int fd, pid_t pid, const struct stat *st, unsigned options)
{
    int has_fd = !(options & SHM_CREATE_HANDLE_OPT_NOFD);
    if (pm_shm_recipient_may_write(pid, st, has_fd) == 0)
        return 0;
    if (!pm_shm_is_memfd(fd))
        return 0; /* a named object: its name and mode are its guard (shm_create_handle(3)) */
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
        return 0;
    int wfd = fd;
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        wfd = pm_shm_reopen(fd, O_RDWR); /* adding seals needs write access */
    int r = wfd < 0 ? -1 : fcntl(wfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
    if (wfd >= 0 && wfd != fd)
        close(wfd);
    if (r < 0)
        return pm_fail(EACCES, "shm_create_handle: the recipient could reopen this "
                       "memfd for writing and it cannot be sealed (F_SEAL_SEAL?); "
                       "seal it against writes first");
    return 0;
}

PM_EXPORT int shm_create_handle(int fd, pid_t pid, int flags, shm_handle_t *handlep,
                                unsigned options)
{
    pm_begin();
    if (!handlep)
        return pm_fail(EINVAL, "shm_create_handle: no place for the handle");
    if (options & ~SHM_CREATE_HANDLE_OPT_VALID_MASK)
        return pm_fail(EINVAL, "shm_create_handle: unknown options 0x%x", options);
    int want = flags & O_ACCMODE;
    if ((flags & ~O_ACCMODE) || want == O_ACCMODE)
        return pm_fail(EINVAL, "shm_create_handle: flags must be exactly one of "
                       "O_RDONLY, O_WRONLY, O_RDWR");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_PATH))
        return pm_fail(EBADF, "shm_create_handle: fd %d is not open", fd);
    struct stat st;
    int r = pm_shm_is_object(fd, &st);
    if (r <= 0)
        return pm_fail(r < 0 ? EBADF : EINVAL,
                       "shm_create_handle: fd %d is not a shared memory object", fd);
    if (exceeds(want, fl & O_ACCMODE))
        return pm_fail(EACCES, "shm_create_handle: the handle would grant more "
                       "access than fd %d has", fd);
    if (pid <= 0)
        return pm_fail(EINVAL, "shm_create_handle: pid %d", (int)pid);

    /* The recipient, pinned now: a later holder of its pid number is not it. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return pm_fail(errno == EINVAL ? ESRCH : errno,
                       "shm_create_handle: no process %d", (int)pid);
    if (want == O_RDONLY && keep_read_only(fd, pid, &st, options) < 0) {
        close(pidfd);
        return -1;
    }
    struct pm_shm_grant g = { .pid = pid, .pidfd = pidfd, .access = want,
                              .options = options, .dev = st.st_dev, .ino = st.st_ino };
    g.objfd = pm_shm_reopen(fd, want);
    if (g.objfd < 0) {
        int e = errno;
        close(pidfd);
        return pm_fail(e == EACCES ? EACCES : e, "shm_create_handle: cannot reopen "
                       "the object with the granted access");
    }
    struct pm_shm_object obj;
    if (pm_shm_object_get(st.st_dev, st.st_ino, &obj) == 0 && obj.creator == getpid() &&
        (obj.flags & SHMCTL_REVOCABLE))
        g.reply_flags |= PM_SHM_REPLY_REVOCABLE;
    return pm_shm_serve(&g, handlep);
}
