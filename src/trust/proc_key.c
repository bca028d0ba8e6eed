/*
 * Telling one process from every other that held the same pid, and reading
 * its ids at one moment.
 *
 * pidfs (Linux 6.9) gives every pidfd of one process the same inode number,
 * a 64-bit counter the kernel never hands out twice: the best process key
 * there is, for one fstat().  Older kernels keep pidfds on one shared
 * anonymous inode; the start time from /proc is the key there.
 * PIDFD_GET_INFO (Linux 6.13) reads a process's ids through its pidfd in
 * one call, so they are that process's and all of one moment; before it,
 * /proc/PID/status is read between two looks at the pidfd.
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "trust/trust.h"

#define PM_PIDFS_MAGIC 0x50494446u /* "PIDF" */

/* The first version of the kernel's struct pidfd_info (64 bytes), which
 * the kernel extends by size: a larger kernel struct is fine. */
struct pm_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid;
    uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
_Static_assert(sizeof(struct pm_pidfd_info) == 64, "PIDFD_INFO_SIZE_VER0");
#define PM_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pm_pidfd_info)
#define PM_PIDFD_INFO_CREDS (1ull << 1)

/* 0 unknown, 1 yes, -1 no. */
static atomic_int pidfs_keys, get_info;

static int pidfs(int pidfd)
{
    int v = atomic_load(&pidfs_keys);
    if (v == 0) {
        struct statfs sf;
        if (fstatfs(pidfd, &sf) < 0)
            return 0; /* ask again next time */
        v = (unsigned)sf.f_type == PM_PIDFS_MAGIC ? 1 : -1;
        atomic_store(&pidfs_keys, v);
    }
    return v > 0;
}

int pm_pidfd_key(int pidfd, uint64_t *key)
{
    if (pidfs(pidfd)) {
        /* The inode names that process whether or not it still runs. */
        struct stat st;
        if (fstat(pidfd, &st) < 0)
            return -1;
        *key = (uint64_t)st.st_ino;
        return 0;
    }
    /* The start time of whoever holds the pidfd's pid, taken between two
     * looks at the pidfd: if it still names that pid afterwards, the
     * process read was the pidfd's. */
    pid_t pid = pm_pidfd_pid(pidfd);
    uint64_t start;
    if (pid < 0 || pm_proc_start(pid, &start) < 0 || pm_pidfd_pid(pidfd) != pid) {
        errno = ESRCH;
        return -1;
    }
    *key = start ? start : 1;
    return 0;
}

int pm_proc_key(pid_t pid, uint64_t *key)
{
    if (pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    if (atomic_load(&pidfs_keys) >= 0) {
        int pfd = pidfd_open(pid, 0);
        if (pfd < 0 && (errno == ESRCH || atomic_load(&pidfs_keys) > 0))
            return -1; /* gone; or EMFILE... where only pidfs keys compare */
        if (pfd >= 0) {
            int use = pidfs(pfd);
            int rc = use ? pm_pidfd_key(pfd, key) : 0;
            int e = errno;
            close(pfd);
            if (use) {
                errno = e;
                return rc;
            }
        }
    }
    uint64_t start;
    if (pm_proc_start(pid, &start) < 0)
        return -1;
    *key = start ? start : 1;
    return 0;
}

int pm_pidfd_creds(int pidfd, struct pm_proc_creds *c)
{
    if (atomic_load(&get_info) >= 0) {
        struct pm_pidfd_info info = { .mask = PM_PIDFD_INFO_CREDS };
        if (ioctl(pidfd, PM_PIDFD_GET_INFO, &info) == 0 &&
            (info.mask & PM_PIDFD_INFO_CREDS)) {
            atomic_store(&get_info, 1);
            *c = (struct pm_proc_creds){ .ruid = info.ruid, .euid = info.euid,
                                         .suid = info.suid, .rgid = info.rgid,
                                         .egid = info.egid, .sgid = info.sgid };
            return 0;
        }
        if (errno == ESRCH)
            return -1;
        if (errno == ENOTTY || errno == EINVAL)
            atomic_store(&get_info, -1);
    }
    pid_t pid = pm_pidfd_pid(pidfd);
    if (pid < 0)
        return -1;
    if (pm_proc_creds(pid, c) < 0)
        return -1;
    if (pm_pidfd_pid(pidfd) != pid) {
        errno = ESRCH; /* it exited meanwhile: the file may be another's */
        return -1;
    }
    return 0;
}
