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

static int exceeds(int want, int have)
{
    if (want == O_RDWR)
        return have != O_RDWR;
    return have != O_RDWR && have != want;
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
    struct pm_shm_grant g = { .pid = pid, .pidfd = pidfd, .access = want,
                              .options = options, .dev = st.st_dev, .ino = st.st_ino };
    /* Our own reference to the object: the caller may close fd.  It only
     * ever serves as the source of the recipient's reopen, which asks for
     * no more than was granted. */
    g.objfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (g.objfd < 0) {
        int e = errno;
        close(pidfd);
        return pm_fail(e, "shm_create_handle: no descriptor left");
    }
    struct pm_shm_object obj;
    if (pm_shm_object_get(st.st_dev, st.st_ino, &obj) == 0 && obj.creator == getpid() &&
        (obj.flags & SHMCTL_REVOCABLE))
        g.reply_flags |= PM_SHM_REPLY_REVOCABLE;
    return pm_shm_serve(&g, handlep);
}
