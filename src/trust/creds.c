/*
 * A process's uids through a pidfd (PIDFD_GET_INFO, Linux >= 6.13): the
 * kernel's own numbers for the very process the pidfd refers to, without
 * formatting /proc/PID/status (which costs more than the rest of a path
 * lookup).  Older kernels answer ENOTTY and callers read /proc instead.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "trust/trust.h"

/* include/uapi/linux/pidfd.h, first published version (64 bytes); not in
 * every libc's headers yet. */
struct pm_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid;
    uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    uint32_t spare0;
};
#define PM_PIDFD_INFO_CREDS (1ull << 1)
#define PM_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pm_pidfd_info)

int pm_pidfd_holds_uid(int pidfd, uid_t uid)
{
    struct pm_pidfd_info i = { .mask = PM_PIDFD_INFO_CREDS };
    if (ioctl(pidfd, PM_PIDFD_GET_INFO, &i) < 0) {
        if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP)
            errno = ENOTSUP;
        return -1;
    }
    if (!(i.mask & PM_PIDFD_INFO_CREDS)) {
        errno = ENOTSUP;
        return -1;
    }
    return i.ruid == uid || i.euid == uid || i.suid == uid || i.fsuid == uid;
}
