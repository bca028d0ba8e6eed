/*
 * Connecting to what the path space resolved, and proving that the channel
 * answering is the manager's.  A channel is found by (pid, chid); between
 * resolving and connecting the manager may have closed that channel, or
 * died and had its pid reused, and someone else may be listening under the
 * same address.  So before a byte is sent, the kernel's record of the
 * listening end (SO_PEERCRED: the pid and uid of the process that called
 * listen()) must name the entry's manager: the same pid, and the entry
 * owner's uid (or root's, for a manager that made its channel before
 * dropping root).  A process of another user that got the manager's pid
 * number fails the uid; one of the same user is that user's own business.
 */
#include <string.h>
#include <sys/socket.h>

#include <sys/neutrino.h>

#include "common/internal.h"
#include "resmgr/pathspace.h"

int pm_pathspace_connect(const struct pm_ps_match *m, int cof_flags)
{
    return pm_pathspace_connect_index(m, 0, cof_flags);
}

int pm_pathspace_connect_index(const struct pm_ps_match *m, unsigned index, int cof_flags)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    int coid = ConnectAttach(ND_LOCAL_NODE, m->pid, m->chid, index, cof_flags);
    if (coid < 0) {
        /* The manager went away between resolving and connecting: for the
         * caller nobody serves the path. */
        int e = errno;
        return pm_fail_over(e == ESRCH ? ENOENT : e, "%s: its manager (pid %d) is gone",
                            m->path, (int)m->pid);
    }
    if (getsockopt(coid & ~_NTO_SIDE_CHANNEL, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
        ConnectDetach(coid);
        return pm_fail_over(ENOENT, "%s: its manager (pid %d) is gone", m->path, (int)m->pid);
    }
    if (cr.pid != m->pid || (cr.uid != m->uid && cr.uid != 0)) {
        ConnectDetach(coid);
        return pm_fail_over(ENOENT, "%s: channel %d of pid %d is not its manager's (the "
                            "listener is pid %d, uid %u; the entry is uid %u's): refused",
                            m->path, m->chid, (int)m->pid, (int)cr.pid, (unsigned)cr.uid,
                            (unsigned)m->uid);
    }
    return coid;
}
