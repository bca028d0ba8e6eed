/*
 * Connecting to what the path space resolved, and proving that the channel
 * answering is the manager's.  A channel is found by (pid, chid); between
 * resolving and connecting the manager may have closed that channel, or
 * died and had its pid reused, and someone else may be listening under the
 * same address.  So before a byte is sent, the kernel's record of the
 * listening end must name the entry's manager: the live process holding
 * its pid (dial.c), having listened with the entry owner's uid (or root's,
 * for a manager that made its channel before dropping root), and - where
 * the kernel gives pidfds - the very process whose start time the resolver
 * checked (its process key), so that a process that got the pid since is
 * refused whoever's it is.  A result from the resolution cache is checked
 * for what its stamps cannot show: the manager still holds the owner's
 * uid.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/neutrino.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/pathspace_internal.h"
#include "trust/trust.h"

int pm_pathspace_connect(const struct pm_ps_match *m, int cof_flags)
{
    return pm_pathspace_connect_index(m, 0, cof_flags);
}

int pm_pathspace_connect_index(const struct pm_ps_match *m, unsigned index, int cof_flags)
{
    struct pm_peer_id id = { .pidfd = -1 };
    int coid = pm_connect_attach_id(m->pid, m->chid, index, cof_flags, &id);
    if (coid < 0) {
        /* The manager went away between resolving and connecting: for the
         * caller nobody serves the path. */
        int e = errno;
        return pm_fail_over(e == ESRCH ? ENOENT : e, "%s: its manager (pid %d) is gone",
                            m->path, (int)m->pid);
    }
    /* The listener is the live process holding m->pid (dial.c proved it):
     * the uid it listened with must be the entry owner's (or root's), and
     * it must be the very process the resolver saw (its key: a process
     * that got the pid since has another), still holding the owner's uid
     * when the result came from the cache. */
    const char *why = NULL;
    uint64_t key;
    if (id.pid != m->pid || (id.uid != m->uid && id.uid != 0))
        why = "the listener is not the entry owner's";
    else if (m->key && id.pidfd >= 0 && (pm_peer_key(&id, &key) < 0 || key != m->key))
        why = "the listener is another process than the one that attached";
    else if (m->key && id.pidfd < 0 && id.pid != getpid() &&
             (pm_proc_key(id.pid, &key) < 0 || key != m->key))
        /* No SO_PEERPIDFD (Linux < 6.5): dial.c proved the listener is the
         * process holding the pid now; its key is that holder's. */
        why = "the listener is another process than the one that attached";
    else if (m->cached && !pm_ps_listener_holds(&id, m->uid))
        why = "the manager no longer holds the entry owner's uid";
    pid_t lpid = id.pid;
    uid_t luid = id.uid;
    pm_peer_release(&id);
    if (why) {
        ConnectDetach(coid);
        return pm_fail_over(ENOENT, "%s: channel %d of pid %d is not its manager's (the "
                            "listener is pid %d, uid %u; the entry is uid %u's: %s): refused",
                            m->path, m->chid, (int)m->pid, (int)lpid, (unsigned)luid,
                            (unsigned)m->uid, why);
    }
    return coid;
}
