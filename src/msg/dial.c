/*
 * From (pid, chid) to a connected socket whose listener is proven to be
 * that process.
 *
 * Abstract socket names belong to whoever binds them first, so a name
 * proves nothing: another user can bind "peermap.ch.<pid>.<chid>" before a
 * process gets <pid> (and that process's channel then takes a random name,
 * channel.c), or keep a listener made while its own process held <pid>
 * after that process has exited.  A client therefore sends nothing until
 * the kernel has vouched for the listener: SO_PEERCRED names the process
 * that called listen(), by pid; SO_PEERPIDFD names that very process, and
 * if it is still alive it is the one holding <pid> now (trust.h,
 * pm_peer_is_pid()).  On kernels without SO_PEERPIDFD (Linux < 6.5) the
 * pid must match and the listener's uid (as the kernel recorded it at
 * listen()) must be one the process holding <pid> now holds: that stops
 * every other user, but not a process of the target's own user that held
 * the pid before.  A listener root made is accepted there as it stands
 * (only a root process can make one, and root is outside the threat
 * model): a manager that made its channels as root and then gave root up,
 * QNX's usual start-up, no longer holds uid 0.
 *
 * The fast path is one connect() to the predictable name and the checks
 * (two getsockopt(), one pidfd_send_signal()).  Only when that listener is
 * absent or not the process do we read /proc/net/unix for the channel's
 * unpredictable names and try each.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "trust/trust.h"

/* Why the predictable name was not the channel, for the caller's reason. */
struct why {
    pid_t squatter;   /* the process listening there instead, or 0 */
    uid_t uid;
    int full;         /* a listener's backlog stayed full */
    int nofd;         /* no descriptor left to check a listener with */
};

/* Is the listener fd reached the live process `pid`?  1, 0, or -1 with
 * errno when it cannot be told (out of descriptors for the pidfd).  When
 * it is and `keep` is given, the kernel's record of the listener (its
 * pidfd included) is handed over there. */
static int is_target(int fd, pid_t pid, struct why *why, struct pm_peer_id *keep)
{
    struct pm_peer_id id;
    if (pm_peer_get(fd, &id) < 0)
        return errno == EMFILE || errno == ENFILE ? -1 : 0;
    int ok = pm_peer_is_pid(&id, pid);
    if (ok < 0) /* no SO_PEERPIDFD: the uid rule (see above) */
        ok = id.pid == pid && (id.uid == 0 || pm_proc_holds_uid(pid, id.uid) == 1);
    if (!ok && !why->squatter) {
        why->squatter = id.pid;
        why->uid = id.uid;
    }
    if (ok && keep)
        *keep = id;
    else
        pm_peer_release(&id);
    return ok;
}

/* Connect to abstract `name` (len bytes).  The socket is made non-blocking
 * so that a listener whose backlog is full cannot hold us past the deadline
 * (connect() to it would sleep); it is blocking again on return.  The fd,
 * or -1 with errno (ECONNREFUSED: nobody listens there). */
static int knock(const char *name, size_t len, int cloexec, struct why *why)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, name, len);
    socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | (cloexec ? SOCK_CLOEXEC : 0), 0);
    if (fd < 0)
        return -1;
    int64_t deadline = 0;
    int nap_ms = 1;
    while (connect(fd, (struct sockaddr *)&sa, slen) < 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EAGAIN) {
            close(fd);
            errno = e == ENOENT ? ECONNREFUSED : e;
            return -1;
        }
        /* The listener's backlog is full: its server is slow to accept (or
         * flooded).  Knock again, for at most the deadline. */
        if (!deadline)
            deadline = pm_now_ns() + pm_timeout_ns();
        if (pm_now_ns() >= deadline) {
            close(fd);
            why->full = 1;
            errno = EAGAIN;
            return -1;
        }
        poll(NULL, 0, nap_ms);
        if (nap_ms < 16)
            nap_ms *= 2;
    }
    if (fcntl(fd, F_SETFL, O_RDWR) < 0) { /* blocking again */
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The channel's unpredictable names, from the kernel's list of Unix
 * sockets: listeners whose abstract name is the prefix plus exactly
 * PM_CHANNEL_ALT_HEX hex digits.  Tries each; the first that is the
 * process wins.  The fd, or -1. */
static int scan(pid_t pid, const char *prefix, size_t plen, int cloexec, struct why *why,
                struct pm_peer_id *keep)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int fd = -1;
    /* "Num RefCount Protocol Flags Type St Inode Path"; abstract names
     * start with '@' (their NUL shown as '@'). */
    while (fd < 0 && getline(&line, &cap, f) > 0) {
        unsigned flags;
        char path[128];
        if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %127s", &flags, path) != 2)
            continue;
        if (!(flags & 0x10000) /* __SO_ACCEPTCON: listening */ || path[0] != '@' ||
            strlen(path + 1) != plen - 1 + 1 + PM_CHANNEL_ALT_HEX ||
            memcmp(path + 1, prefix + 1, plen - 1) != 0 || path[plen] != '.' ||
            strspn(path + plen + 1, "0123456789abcdef") != PM_CHANNEL_ALT_HEX)
            continue;
        char name[108];
        name[0] = 0;
        size_t len = strlen(path + 1) + 1;
        memcpy(name + 1, path + 1, len - 1);
        int c = knock(name, len, cloexec, why);
        int t = c >= 0 ? is_target(c, pid, why, keep) : 0;
        if (c >= 0 && t != 1) {
            close(c);
            c = -1;
        }
        if (t < 0) {
            why->nofd = 1;
            break;
        }
        fd = c;
    }
    free(line);
    fclose(f);
    return fd;
}

int pm_channel_dial(pid_t pid, int chid, int cloexec)
{
    return pm_channel_dial_id(pid, chid, cloexec, NULL);
}

int pm_channel_dial_id(pid_t pid, int chid, int cloexec, struct pm_peer_id *keep)
{
    struct why why = { 0 };
    char name[108];
    size_t len;

    if (pid == getpid()) {
        /* Our own channel: its name is the one we bound, and a name is the
         * socket that holds it - no one else can be listening on it. */
        struct pm_channel *ch = pm_channel_get(chid);
        if (ch && ch->owner != pid) {
            pm_channel_put(ch); /* a fork child's copy: its parent's channel */
            ch = NULL;
        }
        if (!ch)
            return pm_fail_over(ESRCH, "no channel %d in this process", chid);
        len = ch->namelen;
        memcpy(name, ch->name, len);
        pm_channel_put(ch);
        int fd = knock(name, len, cloexec, &why);
        if (fd < 0)
            return pm_fail(errno == ECONNREFUSED ? ESRCH : errno,
                           "channel %d of this process: %m", chid);
        if (keep)
            *keep = (struct pm_peer_id){ .pid = pid, .uid = geteuid(), .gid = getegid(),
                                         .pidfd = -1 };
        return fd;
    }

    pm_channel_name(pid, chid, name, sizeof name, &len);
    int fd = knock(name, len, cloexec, &why);
    if (fd < 0 && errno != ECONNREFUSED && errno != EAGAIN)
        return pm_fail(errno == EMFILE || errno == ENFILE ? EAGAIN : errno,
                       "connecting to channel %d of process %d: %m", chid, (int)pid);
    int t = fd >= 0 ? is_target(fd, pid, &why, keep) : 0;
    if (t == 1)
        return fd;
    if (fd >= 0)
        close(fd);
    if (t < 0)
        why.nofd = 1;
    else if ((fd = scan(pid, name, len, cloexec, &why, keep)) >= 0)
        return fd;
    if (why.nofd)
        return pm_fail(EAGAIN, "channel %d of process %d: no descriptor left to "
                       "check who listens there", chid, (int)pid);
    if (why.full)
        return pm_fail(EAGAIN, "channel %d of process %d: its server accepts no "
                       "connection (backlog full) within %lld ms", chid, (int)pid,
                       (long long)(pm_timeout_ns() / 1000000));
    if (why.squatter)
        return pm_fail(ESRCH, "no channel %d in process %d (its name is held by "
                       "process %d of uid %u, which is not that process: nothing "
                       "was sent to it)", chid, (int)pid, (int)why.squatter,
                       (unsigned)why.uid);
    return pm_fail(ESRCH, "no channel %d in process %d", chid, (int)pid);
}
