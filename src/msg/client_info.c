/*
 * ConnectClientInfo(): who is on the other end of a server connection.  The
 * effective ids and the groups are the kernel's record from when the client
 * connected (SO_PEERCRED, SO_PEERGROUPS); the real and saved ids and the
 * session come from /proc, as they are now.  Nothing comes from the client.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"

static int fill(int scoid, struct _client_info *info, int ngroups, int whole);

static void proc_ids(pid_t pid, struct _cred_info *cr)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    unsigned r, e, s, fs;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "Uid: %u %u %u %u", &r, &e, &s, &fs) == 4) {
            cr->ruid = r;
            cr->suid = s;
        } else if (sscanf(line, "Gid: %u %u %u %u", &r, &e, &s, &fs) == 4) {
            cr->rgid = r;
            cr->sgid = s;
        }
    }
    fclose(f);
}

/* The kernel's record only (effective ids, groups): no /proc read. */
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
    if (pm_scoid_peer(scoid, &p) < 0)
        return -1;
    if (!info) {
        if (p.fd >= 0)
            close(p.fd);
        return pm_fail(EFAULT, "no _client_info to fill");
    }
    memset(info, 0, sizeof *info);
    info->nd = ND_LOCAL_NODE;
    info->pid = p.pid;
    struct _cred_info *cr = &info->cred;
    cr->euid = cr->ruid = cr->suid = p.uid;
    cr->egid = cr->rgid = cr->sgid = p.gid;
    if (whole) {
        pid_t sid = getsid(p.pid);
        info->sid = sid < 0 ? 0 : sid;
        proc_ids(p.pid, cr);
    }

    if (ngroups > NGROUPS_MAX_CRED)
        ngroups = NGROUPS_MAX_CRED;
    gid_t groups[NGROUPS_MAX_CRED * 4];
    socklen_t len = sizeof groups;
    if (ngroups > 0 && p.fd >= 0 &&
        getsockopt(p.fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
        uint32_t n = len / sizeof(gid_t);
        if (n > (uint32_t)ngroups)
            n = (uint32_t)ngroups; /* ngroups counts what grouplist holds */
        cr->ngroups = n;
        for (uint32_t i = 0; i < n; i++)
            cr->grouplist[i] = groups[i];
    }
    if (p.fd >= 0)
        close(p.fd);
    return 0;
}
