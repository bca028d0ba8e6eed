/*
 * ConnectClientInfo(): who is on the other end of a server connection, as
 * fixed when the connection was accepted (client_id.c): the pid and
 * effective ids the kernel recorded at connect(), the real and saved ids
 * and the session read through the client's pidfd at accept, and the
 * groups the kernel recorded at connect() (SO_PEERGROUPS).  Nothing comes
 * from the client, and nothing is looked up by pid later, when the pid may
 * belong to someone else.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"

static int fill(int scoid, struct _client_info *info, int ngroups, int whole);

/* The effective ids and groups only: what access checks need. */
int pm_client_cred(int scoid, struct _client_info *info, int ngroups)
{
    return fill(scoid, info, ngroups, 0);
}

PM_EXPORT int ConnectClientInfo(int scoid, struct _client_info *info, int ngroups)
{
    pm_begin();
    return fill(scoid, info, ngroups, 1);
}

static int fill(int scoid, struct _client_info *info, int ngroups, int whole)
{
    int d = info ? pm_delegate_fill(scoid, info, ngroups, whole) : 0;
    if (d != 0)
        return d > 0 ? 0 : -1;  /* a connection that speaks for a caller */
    struct pm_peer p;
    if (ngroups > NGROUPS_MAX_CRED)
        ngroups = NGROUPS_MAX_CRED;
    /* Room for more than asked: a kernel that records more groups than fit
     * says nothing at all (ERANGE), and QNX gives the first ngroups. */
    gid_t groups[NGROUPS_MAX_CRED * 4];
    int ng = ngroups > 0 && info ? (int)(sizeof groups / sizeof groups[0]) : 0;
    if (pm_scoid_info(scoid, &p, groups, &ng, NULL) < 0)
        return -1;
    if (!info)
        return pm_fail(EFAULT, "no _client_info to fill");
    memset(info, 0, sizeof *info);
    info->nd = ND_LOCAL_NODE;
    info->pid = p.pid;
    struct _cred_info *cr = &info->cred;
    cr->euid = cr->ruid = cr->suid = p.uid;
    cr->egid = cr->rgid = cr->sgid = p.gid;
    if (whole) {
        info->sid = p.who.sid;
        cr->ruid = p.who.ruid;
        cr->suid = p.who.suid;
        cr->rgid = p.who.rgid;
        cr->sgid = p.who.sgid;
    }

    if (ngroups > 0 && ng > 0) {
        uint32_t n = (uint32_t)ng;
        if (n > (uint32_t)ngroups)
            n = (uint32_t)ngroups; /* ngroups counts what grouplist holds */
        cr->ngroups = n;
        for (uint32_t i = 0; i < n; i++)
            cr->grouplist[i] = groups[i];
    }
    return 0;
}
