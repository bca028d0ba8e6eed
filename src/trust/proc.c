/*
 * What /proc says about a process: its start time (a pid alone is not an
 * identity, pids are reused) and the uids it holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust/trust.h"

/* The decimal digits of v at p; returns the end.  (snprintf() is not
 * async-signal-safe, and these readers serve mmap_peer(), which is.) */
static char *put_dec(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = tmp[--n];
    return p;
}

ssize_t pm_proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
    char path[96];
    size_t wl = strlen(what);
    if (pid <= 0 || size == 0 || wl > sizeof path - 32) {
        errno = pid <= 0 ? ESRCH : EINVAL;
        return -1;
    }
    char *p = path;
    memcpy(p, "/proc/", 6);
    p = put_dec(p + 6, (unsigned long)pid);
    *p++ = '/';
    memcpy(p, what, wl + 1);
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

static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t size)
{
    return pm_proc_read(pid, what, buf, size);
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

int pm_proc_start(pid_t pid, uint64_t *start)
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
    /* Field 3 is the state.  A zombie's resources are gone with it -
     * unless only the main thread has exited (a thread-pool server whose
     * main thread ended in thread_pool_start(), as QNX's guide writes them)
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

/* The four ids of a "Uid:" or "Gid:" line of a status file: real,
 * effective, saved, filesystem. */
static int parse_ids(const char *buf, const char *tag, unsigned ids[4])
{
    const char *p = strstr(buf, tag);
    if (!p) {
        errno = EACCES;
        return -1;
    }
    p += strlen(tag);
    for (int i = 0; i < 4; i++) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p) {
            errno = EACCES;
            return -1;
        }
        ids[i] = (unsigned)v;
        p = end;
    }
    return 0;
}

static int read_uid_line(pid_t pid, uid_t ids[4])
{
    char buf[2048];
    if (read_proc(pid, "status", buf, sizeof buf) < 0)
        return gone_or_hidden(pid);
    return parse_ids(buf, "\nUid:", ids);
}

int pm_proc_creds(pid_t pid, struct pm_proc_creds *c)
{
    /* Both lines from one read(): the kernel formats the file from one
     * snapshot of the process's credentials. */
    char buf[4096];
    unsigned u[4], g[4];
    if (pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    if (read_proc(pid, "status", buf, sizeof buf) < 0)
        return gone_or_hidden(pid);
    if (parse_ids(buf, "\nUid:", u) < 0 || parse_ids(buf, "\nGid:", g) < 0)
        return -1;
    *c = (struct pm_proc_creds){ .ruid = u[0], .euid = u[1], .suid = u[2],
                                 .rgid = g[0], .egid = g[1], .sgid = g[2] };
    return 0;
}

int pm_proc_holds_uid(pid_t pid, uid_t uid)
{
    uid_t ids[4];
    if (read_uid_line(pid, ids) < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        if (ids[i] == uid)
            return 1;
    return 0;
}

int pm_proc_uids(pid_t pid, uid_t *ruid, uid_t *euid)
{
    uid_t ids[4];
    if (read_uid_line(pid, ids) < 0)
        return -1;
    *ruid = ids[0];
    *euid = ids[1];
    return 0;
}
