/*
 * The process a pidfd refers to.  The kernel's fdinfo for a pidfd says
 * "Pid: N" while that process lives and "Pid: -1" once it has exited
 * (Linux >= 5.10), which is the one reliable way to ask "is this still
 * the process I meant, and which pid number does it hold now?".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "trust/trust.h"

pid_t pm_pidfd_pid(int pidfd)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
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

int pm_pidfd_alive(int pidfd)
{
    /* Signal 0 checks existence without sending anything. */
    return pidfd_send_signal(pidfd, 0, NULL, 0) == 0 || errno == EPERM;
}
