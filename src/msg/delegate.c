/*
 * Connections that speak for another process.
 *
 * The FUSE export (src/export/) turns each open() a program makes on the
 * mount into an open on the resource manager.  For the manager's iofunc
 * checks to judge the program and not the export, the export's connection
 * says whom it speaks for: its first datagram is PM_WIRE_DELEGATE with the
 * caller's pid, ids and groups (which the export has from the kernel: the
 * FUSE request and /proc).  ConnectClientInfo() - and with it
 * iofunc_client_info() and every iofunc check - then reports that caller.
 *
 * Whom the server believes.  A process that may speak for others could
 * claim to be anyone, so the claim is honoured only when the connection's
 * kernel credentials (SO_PEERCRED, taken at connect time) are root's or the
 * server's own effective uid: root could reach the server as anyone anyway,
 * and the server's own user could run the server itself.  Any other
 * connection that sends the claim loses its connection (its next message
 * fails with ESRCH): a failed delegation never silently goes on with the
 * sender's own identity.  The claim must come before the connection's
 * first message (it names the caller of a whole open) and only once.
 *
 * Shares.  The connection then counts against the caller's user's share of
 * the server (peermap_set_client_limits(3)), not the sender's: a root
 * export is exempt from shares, the users it speaks for are not.
 *
 * Reused pids.  A manager may hand the caller's pid to mmap_peer() - or to
 * munmap_peer() when the open closes, which through the export comes after
 * the program has gone.  So the caller is recorded as a client process
 * (clients.h: its process key, taken now, while it waits for its open)
 * for as long as the connection lasts, and mmap_peer() on its pid fails
 * with ESRCH once another process holds it, as for a direct client.
 *
 * How a manager tells.  On a delegated connection, ConnectClientInfo()
 * reports the caller, while MsgInfo()/_msg_info.pid still name the sending
 * process (the export): a manager that wants to know compares the two.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/sigsafe.h"
#include "msg/clients.h"
#include "msg/msg.h"
#include "trust/trust.h"

int pm_delegate_announce(int coid, const struct pm_wire_delegate *who)
{
    if (!who || who->ngroups > PM_WIRE_DELEGATE_GROUPS || who->pid <= 0)
        return pm_fail(EINVAL, "delegation: bad caller description");
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return -1;
    /* Timed sends (pm_msg_thread_timeout()) look at their deadline whenever
     * a wait for a reply has lasted a slice. */
    struct timeval slice = { .tv_usec = PM_MEMMGR_SLICE_MS * 1000 };
    c->sliced = setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) == 0;
    struct pm_wire_send h = { .kind = PM_WIRE_DELEGATE, .coid = coid, .tid = pm_self_tid(),
                              .srclen = sizeof *who };
    iov_t v[2] = { { &h, sizeof h }, { (void *)who, sizeof *who } };
    /* Before any message: the server marks the connection before it sees
     * the open that the claim is for. */
    ssize_t r = pm_sendmsg_fds(c->fd, v, 2, NULL, 0, 0);
    int e = errno;
    pm_cconn_put(c);
    if (r != (ssize_t)(sizeof h + sizeof *who))
        return pm_fail(e == EPIPE || e == ECONNRESET ? ESRCH : e,
                       "cannot announce the caller on connection %d", coid);
    return 0;
}

int pm_delegate_accept(struct pm_sconn *c, const void *body)
{
    struct pm_wire_delegate w;
    memcpy(&w, body, sizeof w);
    /* Once, before the first message (seq 0: none has come yet). */
    if (c->delegate.on || c->busy || c->seq != 0)
        return EPERM;
    /* The kernel's word on who sent it, never the body's. */
    if (c->uid != 0 && c->uid != geteuid())
        return EPERM;
    if (w.version != PM_WIRE_DELEGATE_VERSION || w.pid <= 0 ||
        w.ngroups > PM_WIRE_DELEGATE_GROUPS)
        return EPERM;
    /* A root export is exempt from every share; the callers it speaks for
     * are not.  The connection moves to the caller's user's share, so that
     * one user opening files through the export by the thousand takes
     * only that user's part of this server (limits.c). */
    if (w.euid != c->share) {
        if (pm_limits_admit(w.euid) < 0)
            return EAGAIN;
        pm_limits_leave(c->share);
        c->share = w.euid;
    }
    struct pm_delegate *d = &c->delegate;
    d->pid = w.pid;
    d->ruid = w.ruid;
    d->euid = w.euid;
    d->suid = w.suid;
    d->rgid = w.rgid;
    d->egid = w.egid;
    d->sgid = w.sgid;
    d->ngroups = w.ngroups;
    for (uint32_t i = 0; i < w.ngroups; i++)
        d->groups[i] = w.groups[i];
    d->on = 1;
    /* Key 0 (gone already, or hidden): no process at that pid can be
     * shown to be the caller, so mmap_peer() on it fails safe. */
    uint64_t key;
    if (pm_proc_key(w.pid, &key) < 0)
        key = 0;
    pm_clients_add(w.pid, key);
    return 0;
}

int pm_delegate_fill(int scoid, struct _client_info *info, int ngroups, int whole)
{
    int slot = PM_SCOID_SLOT(scoid);
    struct pm_channel *ch = scoid > 0 ? pm_channel_get(PM_SCOID_CHID(scoid)) : NULL;
    if (!ch)
        return 0;  /* let the ordinary path say ESRCH */
    struct pm_delegate d = { 0 };
    pm_mutex_lock(&ch->lock);
    /* A stranger's message on it (sender.c) is judged as its sender:
     * the delegation is the connector's word, not the stranger's. */
    if (slot > 0 && slot < ch->nconns && ch->conns[slot].fd >= 0 &&
        !pm_sconn_stranger(&ch->conns[slot]))
        d = ch->conns[slot].delegate;
    pm_mutex_unlock(&ch->lock);
    pm_channel_put(ch);
    if (!d.on)
        return 0;

    memset(info, 0, sizeof *info);
    info->nd = ND_LOCAL_NODE;
    info->pid = d.pid;
    if (whole) {
        pid_t sid = getsid(d.pid);
        info->sid = sid < 0 ? 0 : sid;
    }
    struct _cred_info *cr = &info->cred;
    cr->ruid = d.ruid;
    cr->euid = d.euid;
    cr->suid = d.suid;
    cr->rgid = d.rgid;
    cr->egid = d.egid;
    cr->sgid = d.sgid;
    if (ngroups > NGROUPS_MAX_CRED)
        ngroups = NGROUPS_MAX_CRED;
    uint32_t n = d.ngroups;
    if (ngroups < 0)
        ngroups = 0;
    if (n > (uint32_t)ngroups)
        n = (uint32_t)ngroups;
    cr->ngroups = n;
    for (uint32_t i = 0; i < n; i++)
        cr->grouplist[i] = d.groups[i];
    return 1;
}
