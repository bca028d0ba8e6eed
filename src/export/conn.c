/*
 * A connection to a manager for one caller.
 *
 * Every open on the export is one connection, as every pm_open() is: the
 * manager binds its OCB to it, counts it, checks it and closes it when the
 * connection goes.  The connection speaks for the caller (delegate.c) when
 * the manager will believe it - the export runs as root, or as the
 * manager's own user - so the manager's iofunc checks judge the program
 * that called open(), not the export.  Otherwise (a user's export reaching
 * another user's manager) it speaks as the export itself: the kernel lets
 * only the mounting user into a user's export, so that is the caller's
 * own user - and a caller that lacks one of the export's groups (a process
 * of that user started with fewer) is refused (EACCES), since the manager
 * would judge it with the export's.
 *
 * Every exchange has a deadline (pmx_op_begin() sets it for the thread):
 * a manager that stalls costs the request EIO, never a hung program.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "export/export.h"
#include "msg/msg.h"
#include "resmgr/client.h"

int pmx_err(int e)
{
    switch (e) {
    case ESRCH:
    case EBADF:
    case ECONNRESET:
    case EPIPE:
        return ENXIO;      /* the manager went away */
    case ETIMEDOUT:
        return EIO;        /* it did not answer within the deadline */
    case 0:
        return EIO;
    default:
        return e;
    }
}

uint32_t pmx_ioflag(int flags)
{
    /* What the kernel adds for its own sake, or what concerns the
     * descriptor rather than the open, stays here. */
    int keep = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_LARGEFILE | O_CLOEXEC |
                         O_NOFOLLOW | O_DIRECTORY | O_NOATIME | O_PATH | O_TMPFILE |
                         O_DIRECT | O_ASYNC);
    return pm_open_ioflag(keep);
}

/* Speaking as ourselves for c gives c our rights: only when c has them
 * all (our uid, our gid, and every group of ours; the kernel already
 * admits no other user to a user's export). */
static int caller_holds_ours(const struct pmx_caller *c)
{
    if (c->uid != pmx_cfg.euid || c->gid != pmx_cfg.egid)
        return 0;
    gid_t mine[PM_WIRE_DELEGATE_GROUPS];
    int n = getgroups(PM_WIRE_DELEGATE_GROUPS, mine);
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        int has = mine[i] == c->gid;
        for (uint32_t k = 0; k < c->ngroups && !has; k++)
            has = c->groups[k] == mine[i];
        if (!has)
            return 0;
    }
    return 1;
}

int pmx_connect(const struct pm_ps_match *m, const struct pmx_caller *c, const char *path,
                uint32_t ioflag, uint32_t mode)
{
    int coid;
    if (pmx_cfg.euid != 0 && pmx_cfg.euid != m->uid && !caller_holds_ours(c)) {
        pmx_log("%s: caller pid %d lacks some of this export's ids or groups: refused",
                path, (int)c->pid);
        return -EACCES;
    }
    /* The caller's share of our descriptors (share.c). */
    if (pmx_share_take(c->uid) < 0) {
        pmx_log("%s: uid %u holds its share of this export's descriptors: refused",
                path, (unsigned)c->uid);
        return -EAGAIN;
    }
    /* As pm_open() connects: the listener must be the entry's manager (its
     * owner's uid or root's, the very process the resolver saw), not
     * whoever got its pid and channel number since - a root export would
     * otherwise speak for root callers to them. */
    coid = pm_pathspace_connect(m, _NTO_COF_CLOEXEC);
    if (coid >= 0) {
        /* The coid is the socket: let its waits wake for the deadline. */
        struct timeval slice = { .tv_usec = PM_MEMMGR_SLICE_MS * 1000 };
        setsockopt(coid, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
        if (pmx_cfg.euid == 0 || pmx_cfg.euid == m->uid) {
            struct pm_wire_delegate w;
            pmx_caller_wire(c, &w);
            if (pm_delegate_announce(coid, &w) < 0) {
                int e = errno;
                ConnectDetach(coid);
                errno = e;
                coid = -1;
            }
        }
    }
    if (coid < 0) {
        int e = errno;
        pmx_share_put(c->uid);
        pmx_log("%s: cannot reach its manager (pid %d): %s", path, (int)m->pid,
                peermap_errmsg());
        return -(e == ESRCH ? ENOENT : e);
    }
    if (pm_open_on(coid, m, path, ioflag, mode) < 0) {
        int e = errno;
        ConnectDetach(coid);
        pmx_share_put(c->uid);
        return -(e == ETIMEDOUT ? EIO : e);
    }
    if (pmx_share_bind(coid, c->uid) < 0) {
        pm_close(coid);
        return -ENOMEM;
    }
    return coid;
}

_Thread_local int pmx_release_now;

void pmx_disconnect(int coid)
{
    /* The manager closes its OCB when the connection goes, even if the
     * close message itself fails (gone, or past the deadline). */
    pmx_share_release(coid);
    if (pmx_release_now)
        ConnectDetach(coid);
    else
        pm_close(coid);
}

int pmx_stat(int coid, struct stat *st)
{
    if (pm_fstat(coid, st) < 0)
        return -pmx_err(errno);
    return 0;
}
