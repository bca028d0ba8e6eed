/*
 * The names QNX resource managers and servers use with nothing but QNX's
 * resource-manager headers included: CHAR_BIT and PATH_MAX (<limits.h>),
 * O_* and open() (<fcntl.h>), STDOUT_FILENO and write() (<unistd.h>),
 * signal() (<signal.h>), strerror() (<string.h>), clock_gettime()
 * (<time.h>), sched_yield() (<sched.h>), and <sys/mount.h>'s flags and
 * struct statvfs by way of <sys/iofunc.h>.  Nothing else is included but
 * <errno.h> (for the error names) and the test's own reporting (<stdio.h>).
 */
#include <devctl.h>
#include <errno.h>
#include <sys/dispatch.h>
#include <sys/iofunc.h>
#include <sys/neutrino.h>

#include "qnx_check.h"

static volatile int signalled;

static void on_usr1(int signo)
{
    signalled = signo;
}

int main(void)
{
    EXPECT_EQ(sizeof(unsigned) * CHAR_BIT, 32);
    EXPECT(PATH_MAX >= 256);

    int fd = open("/dev/null", O_RDWR | O_NONBLOCK);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "x", 1), 1);
    close(fd);
    EXPECT_EQ(write(STDOUT_FILENO, "", 0), 0);

    EXPECT(signal(SIGUSR1, on_usr1) != SIG_ERR);
    raise(SIGUSR1);
    EXPECT_EQ(signalled, SIGUSR1);

    EXPECT(strerror(ENOENT) != NULL && strlen(strerror(ENOENT)) > 0);

    struct timespec ts;
    EXPECT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    EXPECT_EQ(sched_yield(), 0);

    /* <sys/iofunc.h> brings <sys/mount.h>: a mount's flags are statvfs's. */
    struct statvfs vfs;
    EXPECT_EQ(statvfs("/", &vfs), 0);
    EXPECT_EQ(_MOUNT_READONLY, ST_RDONLY);
    EXPECT_EQ(_MOUNT_NOSUID, ST_NOSUID);
    iofunc_mount_t mount = { .flags = _MOUNT_READONLY };
    EXPECT(mount.flags & ST_RDONLY);

    return qnx_result("qnx_reach");
}
