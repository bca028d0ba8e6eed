/*
 * Connecting to what the path space resolved, and proving that the channel
 * answering is the manager's.  A channel is found by (pid, chid); between
 * resolving and connecting the manager may have closed that channel, or
 * died and had its pid reused, and someone else may be listening under the
 * same address.  So before a byte is sent, the kernel's record of the
 * listening end must name the entry's manager: the same pid, a uid that is
 * the entry owner's (or root's, for a manager that made its channel before
 * dropping root), and - where the kernel gives a pidfd for socket peers -
 * the very process whose start time the entry records.
 */
#include <string.h>

#include <sys/neutrino.h>

#include "common/internal.h"
#include "resmgr/pathspace.h"
#include "trust/trust.h"

int pm_pathspace_connect(const struct pm_ps_match *m, int cof_flags)
{
    struct pm_peer_id id;
    int coid = ConnectAttach(ND_LOCAL_NODE, m->pid, m->chid, 0, cof_flags);
    if (coid < 0) {
        /* The manager went away between resolving and connecting: for the
         * caller nobody serves the path. */
        int e = errno;
        return pm_fail_over(e == ESRCH ? ENOENT : e, "%s: its manager (pid %d) is gone",
                            m->path, (int)m->pid);
    }
    if (pm_peer_get(coid, &id) < 0) {
        ConnectDetach(coid);
        return pm_fail_over(ENOENT, "%s: its manager (pid %d) is gone", m->path, (int)m->pid);
    }
    int ok = id.pid == m->pid && (id.uid == m->uid || id.uid == 0);
    if (ok && id.pidfd >= 0) {
        /* Start time first, pidfd last: if the listener still holds the pid
         * after the start time was read, it held it then too - it is the
         * process the entry names, not a later one with its number. */
        uint64_t start;
        if (pm_proc_start(m->pid, &start) == 0)
            ok = start == m->start;
        else
            ok = errno == EACCES;   /* hidepid: the pid check below must do */
        ok = ok && pm_pidfd_pid(id.pidfd) == m->pid;
    }
    pid_t pid = id.pid;
    uid_t uid = id.uid;
    pm_peer_release(&id);
    if (!ok) {
        ConnectDetach(coid);
        return pm_fail_over(ENOENT, "%s: channel %d of pid %d is not its manager's (the "
                            "listener is pid %d, uid %u; the entry is uid %u's): refused",
                            m->path, m->chid, (int)m->pid, (int)pid, (unsigned)uid,
                            (unsigned)m->uid);
    }
    return coid;
}
