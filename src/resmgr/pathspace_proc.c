/*
 * Is an entry's manager still the process that attached?  A pid alone is not
 * enough (pids are reused), so entries also carry the process start time,
 * field 22 of /proc/PID/stat, which a new process with the same pid cannot
 * share unless it started in the same clock tick.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resmgr/pathspace_internal.h"

/* Read a small /proc file whole.  Length, or -1 with errno. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    int err = errno;
    close(fd);
    if (n < 0) {
        errno = err;
        return -1;
    }
    buf[n] = 0;
    return n;
}

/* "Threads:" in /proc/PID/status counts the group's threads, the exited
 * leader included while others live: more than one means some still run. */
static int other_threads_live(pid_t pid)
{
    char buf[4096];
    if (read_proc(pid, "status", buf, sizeof buf) < 0)
        return 0;
    const char *t = strstr(buf, "\nThreads:");
    return t && atoi(t + 9) > 1;
}

/* /proc/PID hidden (hidepid) or unreadable: kill(pid, 0) still tells
 * "no such process" (ESRCH) from "someone else's" (EPERM). */
static int gone_or_hidden(pid_t pid)
{
    if (kill(pid, 0) == 0 || errno == EPERM) {
        errno = EACCES;
        return -1;
    }
    errno = ESRCH;
    return -1;
}

int pm_ps_proc_start(pid_t pid, uint64_t *start)
{
    char buf[1024];
    if (pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    if (read_proc(pid, "stat", buf, sizeof buf) < 0)
        return gone_or_hidden(pid);
    /* The command name (field 2) may hold spaces and parentheses: the
     * fields after it start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return gone_or_hidden(pid);
    p++;
    /* Field 3 is the state.  A zombie's channel is gone with it - unless
     * only the main thread has exited (a thread-pool server whose main
     * thread ended in thread_pool_start(), as QNX's guide writes them)
     * while other threads still serve. */
    while (*p == ' ')
        p++;
    if ((*p == 'Z' || *p == 'X' || *p == 'x') && !other_threads_live(pid)) {
        errno = ESRCH;
        return -1;
    }
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return gone_or_hidden(pid);
        p++;
    }
    char *end;
    *start = strtoull(p, &end, 10);
    if (end == p)
        return gone_or_hidden(pid);
    return 0;
}

/* Does the process hold `uid` as its real, effective, saved or filesystem
 * uid?  1, 0, or -1 when /proc does not say. */
static int holds_uid(pid_t pid, uid_t uid)
{
    char buf[2048];
    if (read_proc(pid, "status", buf, sizeof buf) < 0)
        return -1;
    char *p = strstr(buf, "\nUid:");
    if (!p)
        return -1;
    p += 5;
    for (int i = 0; i < 4; i++) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            return -1;
        if ((uid_t)v == uid)
            return 1;
        p = end;
    }
    return 0;
}

enum pm_ps_state pm_ps_manager_state(pid_t pid, uint64_t start, uid_t owner)
{
    uint64_t now;
    if (pm_ps_proc_start(pid, &now) < 0)
        /* Hidden by hidepid: alive as far as anyone here can tell. */
        return errno == EACCES ? PM_PS_LIVE : PM_PS_GONE;
    if (now != start)
        return PM_PS_GONE;
    /* Root's entries are trusted whatever the manager became (a manager may
     * attach as root and then drop privileges). */
    if (owner == 0)
        return PM_PS_LIVE;
    int held = holds_uid(pid, owner);
    if (held < 0) {
        /* Raced with its exit, or status hidden: decide on what is known. */
        uint64_t again;
        if (pm_ps_proc_start(pid, &again) < 0 && errno == ESRCH)
            return PM_PS_GONE;
        return PM_PS_LIVE;
    }
    return held ? PM_PS_LIVE : PM_PS_FOREIGN;
}
