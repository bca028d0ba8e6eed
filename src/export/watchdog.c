/*
 * Unmounting after a crash.
 *
 * The mount is made with auto_unmount: fusermount3 waits for the export to
 * die and unmounts.  Its check of whether the mount is dead can run before
 * the kernel has released the dead export's FUSE descriptor (the release
 * of a killed process's files is deferred), and then it leaves the mount:
 * not a hang (every call fails with ENOTCONN) but a corpse in the way.  So
 * a watchdog of our own, a child that holds nothing but a pipe from the
 * export, waits for the export to go; if it went without saying goodbye,
 * the watchdog removes the mount - only the one the export made (same
 * mount point, same device number), lazily (MNT_DETACH), as root with
 * umount2() and otherwise with `fusermount3 -u -z`.
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export/export.h"

static int pipe_w = -1;
static pid_t dog;

/* Is our mount (dev) still at mnt?  From /proc/self/mountinfo: field 3 is
 * major:minor, field 5 the mount point (octal escapes: none in ours). */
static int still_mounted(const char *mnt, dev_t dev)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned maj, min;
        char point[4096];
        if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, point) == 3)
            found = maj == major(dev) && min == minor(dev) && strcmp(point, mnt) == 0;
    }
    fclose(f);
    return found;
}

static void watch(int fd, const char *mnt, dev_t dev)
{
    char c;
    ssize_t r;
    do
        r = read(fd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r == 1)
        _exit(0);  /* a clean exit: the export unmounts itself */
    for (int i = 0; i < 50 && still_mounted(mnt, dev); i++) {
        if (geteuid() == 0) {
            umount2(mnt, MNT_DETACH);
        } else {
            pid_t pid = fork();
            if (pid == 0) {
                execlp("fusermount3", "fusermount3", "-u", "-z", "-q", mnt, (char *)NULL);
                _exit(127);
            }
            if (pid > 0)
                waitpid(pid, NULL, 0);
        }
        usleep(100 * 1000);
    }
    _exit(0);
}

/* The device of the newest mount at mnt (mountinfo lists mounts in the
 * order they were made).  Never stat() the mount point: before the session
 * loop answers the kernel's INIT, that would wait for ourselves. */
static int our_mount(const char *mnt, dev_t *dev)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return errno;
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned maj, min;
        char point[4096];
        if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, point) == 3 &&
            strcmp(point, mnt) == 0 && strstr(line, " - fuse")) {
            *dev = makedev(maj, min);
            found = 1;
        }
    }
    fclose(f);
    return found ? 0 : ENOENT;
}

int pmx_watchdog_start(void)
{
    dev_t dev;
    int err = our_mount(pmx_cfg.mountpoint, &dev);
    if (err)
        return err;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (pid == 0) {
        /* Nothing of the export's: above all not its FUSE descriptor, which
         * would keep the mount alive. */
        close(p[1]);
        if (p[0] != 3 && (dup2(p[0], 3) < 0 || close(p[0]) < 0))
            _exit(1);
        int keep = 3;
        close_range(4, ~0u, 0);
        int null = open("/dev/null", O_RDWR);
        for (int fd = 0; null >= 0 && fd < 3; fd++)
            dup2(null, fd);
        if (null > 3)
            close(null);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);  /* Ctrl-C is for the export */
        watch(keep, pmx_cfg.mountpoint, dev);
    }
    close(p[0]);
    pipe_w = p[1];
    dog = pid;
    return 0;
}

void pmx_watchdog_stop(void)
{
    if (pipe_w < 0)
        return;
    if (write(pipe_w, "q", 1) != 1) {
        /* it is gone already */
    }
    close(pipe_w);
    pipe_w = -1;
    waitpid(dog, NULL, 0);
}
