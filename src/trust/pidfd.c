/*
 * The process a pidfd refers to.  The kernel's fdinfo for a pidfd says
 * "Pid: N" while that process lives and "Pid: -1" once it has exited
 * (Linux >= 5.10), which is the one reliable way to ask "is this still
 * the process I meant, and which pid number does it hold now?".  Linux
 * 6.13 answers the same question with one ioctl (PIDFD_GET_INFO), a
 * microsecond instead of an open, read and close of /proc (several): it is
 * asked first, fdinfo where the kernel does not know it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "trust/trust.h"

/* <linux/pidfd.h> of Linux 6.13; Debian 12's headers predate it.  The
 * kernel takes any size from the first version (64 bytes) up. */
struct pm_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
#define PM_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pm_pidfd_info)
#define PM_PIDFD_INFO_PID 1u

/* 0 unknown, 1 the ioctl works, -1 this kernel lacks it. */
static atomic_int info_support;

/* The pid by the ioctl: > 0, -1 with ESRCH (exited, or outside our pid
 * namespace), or 0 when the kernel cannot tell this way. */
static pid_t pid_by_ioctl(int pidfd)
{
    if (atomic_load_explicit(&info_support, memory_order_relaxed) < 0)
        return 0;
    struct pm_pidfd_info info = { .mask = PM_PIDFD_INFO_PID };
    if (ioctl(pidfd, PM_PIDFD_GET_INFO, &info) == 0) {
        atomic_store_explicit(&info_support, 1, memory_order_relaxed);
        if (info.pid == 0) {
            errno = ESRCH;
            return -1;
        }
        return (pid_t)info.pid;
    }
    if (errno == ESRCH)
        return -1;
    /* ENOTTY/EINVAL on a kernel without it - or fd is no pidfd, which
     * fdinfo tells apart; only a pidfd that fails proves the kernel old. */
    return 0;
}

static pid_t pid_by_fdinfo(int pidfd)
{
    /* "/proc/self/fdinfo/N" by hand: snprintf() is not async-signal-safe. */
    char path[48] = "/proc/self/fdinfo/", buf[1024], digits[16];
    int nd = 0;
    unsigned u = (unsigned)pidfd;
    do
        digits[nd++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    char *end = path + strlen(path);
    while (nd)
        *end++ = digits[--nd];
    *end = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        errno = EBADF;
        return -1;
    }
    buf[n] = 0;
    const char *p = strstr(buf, "\nPid:");
    if (!p) {
        errno = EBADF; /* not a pidfd */
        return -1;
    }
    long v = strtol(p + 5, NULL, 10);
    if (v <= 0) {
        errno = ESRCH; /* exited (-1), or not in our namespace (0) */
        return -1;
    }
    return (pid_t)v;
}

pid_t pm_pidfd_pid(int pidfd)
{
    pid_t p = pid_by_ioctl(pidfd);
    if (p != 0)
        return p;
    p = pid_by_fdinfo(pidfd);
    /* A real pidfd the ioctl could not answer for, and it never could: an
     * older kernel.  Do not ask it again. */
    int e = errno, unknown = 0;
    if (p > 0 || e == ESRCH)
        atomic_compare_exchange_strong(&info_support, &unknown, -1);
    errno = e;
    return p;
}

int pm_pidfd_alive(int pidfd)
{
    /* Signal 0 checks existence without sending anything. */
    return pidfd_send_signal(pidfd, 0, NULL, 0) == 0 || errno == EPERM;
}
