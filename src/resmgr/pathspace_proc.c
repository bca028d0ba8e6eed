/*
 * Is an entry's manager still the process that attached, and is it still
 * the entry owner's?  A pid alone is not enough (pids are reused), so
 * entries also carry the process start time, field 22 of /proc/PID/stat,
 * which a new process with the same pid cannot share unless it started in
 * the same clock tick (trust/proc.c reads it).  And an entry speaks for its
 * owner only while the manager holds the owner's uid, so that a manager
 * that another user could now control no longer carries its owner's word.
 * One exception keeps QNX's usual start-up working (attach as root, then
 * drop privileges): root's entry still speaks for a manager that dropped
 * root as long as the kernel keeps it non-dumpable - the files of
 * /proc/PID then belong to root, and no other user may ptrace it or read
 * its memory.  Dropping privileges makes a process non-dumpable; an exec()
 * of an ordinary program (or PR_SET_DUMPABLE) makes it the new user's, and
 * root's word goes with that.
 *
 * The order makes the answer about one process: a pidfd is taken first,
 * then the start time is read, then the uids are asked through the pidfd,
 * which fails if its process has exited meanwhile - so the process whose
 * start time was read is the one whose uids were read.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resmgr/pathspace_internal.h"
#include "trust/trust.h"

/* Is the process non-dumpable?  The files in its /proc directory are then
 * root's (the directory itself keeps the process's owner). */
static int root_only(pid_t pid)
{
    char path[40];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    return stat(path, &st) == 0 && st.st_uid == 0;
}

enum pm_ps_state pm_ps_manager_state(pid_t pid, uint64_t start, uid_t owner)
{
    return pm_ps_manager_state_key(pid, start, owner, NULL);
}

enum pm_ps_state pm_ps_manager_state_key(pid_t pid, uint64_t start, uid_t owner,
                                         uint64_t *key)
{
    uint64_t now;
    if (key)
        *key = 0;
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0 && errno == ESRCH)
        return PM_PS_GONE;
    if (pm_proc_start(pid, &now) < 0) {
        int e = errno;
        if (pidfd >= 0)
            close(pidfd);
        /* Hidden by hidepid: alive as far as anyone here can tell, and the
         * entry is in its owner's own directory. */
        return e == EACCES ? PM_PS_LIVE : PM_PS_GONE;
    }
    if (now != start) {
        if (pidfd >= 0)
            close(pidfd);
        return PM_PS_GONE;
    }
    int held = pidfd >= 0 ? pm_pidfd_holds_uid(pidfd, owner) : (errno = ENOTSUP, -1);
    if (held < 0 && errno == ESRCH) {
        if (pidfd >= 0)
            close(pidfd);
        return PM_PS_GONE;
    }
    /* Kernels without PIDFD_GET_INFO (< 6.13): /proc, read while the pidfd
     * is held and checked against the start time above.  Everything below
     * - the dropped-root rule, the key - must not depend on which of the
     * two answered. */
    if (held < 0)
        held = pm_proc_holds_uid(pid, owner);
    if (held == 0 && owner == 0 && pidfd >= 0 && root_only(pid) && pm_pidfd_alive(pidfd))
        held = 1; /* dropped root, still out of every other user's reach */
    if (key && held == 1 && pidfd >= 0 && pm_pidfd_key(pidfd, key) < 0)
        *key = 0;
    if (pidfd >= 0)
        close(pidfd);
    if (held < 0) {
        /* Raced with its exit, or status hidden: decide on what is known. */
        uint64_t again;
        if (pm_proc_start(pid, &again) < 0 && errno == ESRCH)
            return PM_PS_GONE;
        return PM_PS_LIVE;
    }
    return held ? PM_PS_LIVE : PM_PS_FOREIGN;
}

int pm_ps_listener_holds(const struct pm_peer_id *id, uid_t owner)
{
    if (id->pidfd < 0) /* our own process, or no pidfds: the uid rule */
        return id->pid == getpid() ? 1 : pm_proc_holds_uid(id->pid, owner) == 1;
    int held = pm_pidfd_holds_uid(id->pidfd, owner);
    if (held < 0 && errno != ESRCH)
        held = pm_proc_holds_uid(id->pid, owner);
    if (held == 0 && owner == 0 && root_only(id->pid) && pm_pidfd_alive(id->pidfd))
        held = 1;
    return held == 1;
}
