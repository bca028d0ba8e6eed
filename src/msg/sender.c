/*
 * Each message judged by its sender.
 *
 * A connection's descriptor is an ordinary descriptor: a fork child keeps
 * a copy, SCM_RIGHTS passes one on, exec inherits it, and the process
 * that connected may change its ids afterwards.  The kernel's record of
 * the connector (SO_PEERCRED, client_id.c) is therefore no answer to "who
 * sent this message".  The kernel does say it, per datagram: with
 * SO_PASSCRED on the receiving socket (set on each channel's listener,
 * which accepted sockets inherit; datagrams queued before accept() carry
 * them too) every datagram comes with SCM_CREDENTIALS naming the sending
 * process (its tgid, in our pid namespace; 0 when not visible there) and
 * its REAL uid and gid.  A sender can only put its own pid and one of its
 * own ids there (the kernel checks; CAP_SYS_ADMIN / CAP_SETUID aside, who
 * could have anything anyway).
 *
 * A message is the connector's own when the stamped pid is the
 * connector's and the stamped ids are the real ids it had at accept (and,
 * for a connector whose effective ids were not its real ones, it still
 * has those effective ids: still_as_accepted() below): then
 * it is judged by the record taken at accept, groups and all.  Anything
 * else is a "stranger" (a process holding a copy, or the connector after
 * it changed its real ids): while that message is being served the
 * connection is seen as the stamped pid with every uid the stamped uid,
 * every gid the stamped gid, no supplementary groups and no session.
 * That may be fewer rights than the sender has (its groups, an effective
 * uid above its real one), never more.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "msg/cmsg.h"
#include "msg/msg.h"
#include "trust/trust.h"

/*
 * The stamp names real ids only.  A connector whose effective ids at
 * accept were not its real ones (a set-user-ID or set-group-ID program:
 * real ids its user's, effective root's) sends the same stamp after it
 * gives the effective ids up for good - as such a program does before it
 * acts for its user, or execs its user's code with the connection still
 * open.  Judged by the record taken at accept, its user would then be
 * served as root.  So for such a connector (only: the common connector,
 * effective = real, costs nothing) its effective ids are read now through
 * a pidfd of the process that accept recorded; not those any more, or not
 * readable, or no longer that process: it is served by its real ids, as a
 * stranger.  A process that dropped them for a while only (a saved id
 * keeps the way back) could take them back at will anyway.
 */
static int still_as_accepted(const struct pm_sconn *c)
{
    const struct pm_client_id *w = &c->who;
    if (w->uid == w->ruid && w->gid == w->rgid)
        return 1;
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (pidfd < 0)
        return 0;
    uint64_t key;
    struct pm_proc_creds now;
    int same = w->key && pm_pidfd_key(pidfd, &key) == 0 && key == w->key &&
               pm_pidfd_creds(pidfd, &now) == 0 && now.euid == w->uid && now.egid == w->gid;
    close(pidfd);
    return same;
}

int pm_sender_judge(const struct pm_sconn *c, const struct msghdr *m, struct pm_stranger *s)
{
    struct ucred cr;
    *s = (struct pm_stranger){ 0 };
    if (!pm_cmsg_cred(m, &cr))
        return -1;
    if (cr.pid == c->pid && cr.pid > 0 && cr.uid == c->who.ruid && cr.gid == c->who.rgid &&
        still_as_accepted(c))
        return 0;
    *s = (struct pm_stranger){ .on = 1, .pid = cr.pid, .uid = cr.uid, .gid = cr.gid };
    return 0;
}

void pm_sender_ident(const struct pm_sconn *c, struct pm_peer *p)
{
    p->pid = c->pid;
    p->uid = c->uid;
    p->gid = c->gid;
    p->who = c->who;
    if (!pm_sconn_stranger(c))
        return;
    const struct pm_stranger *s = &c->stranger;
    p->pid = s->pid;
    p->uid = s->uid;
    p->gid = s->gid;
    p->who = (struct pm_client_id){ .pid = s->pid, .uid = s->uid, .gid = s->gid,
                                    .ruid = s->uid, .suid = s->uid,
                                    .rgid = s->gid, .sgid = s->gid };
}

/*
 * A manager may reach the sender of the message it serves by pid
 * (mmap_peer(info.pid)).  Through the ptrace and agent routes a pid alone
 * could name another process once the sender has exited, so a stranger is
 * recorded among the clients (clients.h) for as long as its message is
 * served, keyed by its process key as read now: a sender blocked on its
 * reply is alive, so the key read is normally its own (one that exited
 * already, its pid taken by a new process in between, is the residual
 * window of a key read by pid; key 0 when unreadable fails safe).  The
 * in-band route never serves a stranger (channel.c): the doorbell would
 * go to whichever holder of the descriptor reads it.
 *
 * The key is read through a pidfd together with the ids of the process it
 * names, and kept only while those are the ids the kernel stamped on the
 * message (real ids, at the send): a pid taken over in that window by a
 * process of another user, or a sender that changed its real ids since,
 * is recorded with key 0, which nothing matches.  What is left of the
 * window is a process of the sender's own user, which that user could
 * reach itself.
 */
static uint64_t stranger_key(const struct pm_stranger *from)
{
    int pidfd = (int)syscall(SYS_pidfd_open, from->pid, 0);
    if (pidfd < 0)
        return 0;
    uint64_t key;
    struct pm_proc_creds now;
    int ok = pm_pidfd_key(pidfd, &key) == 0 && pm_pidfd_creds(pidfd, &now) == 0 &&
             now.ruid == from->uid && now.rgid == from->gid;
    close(pidfd);
    return ok ? key : 0;
}

void pm_sender_begin(struct pm_sconn *c, const struct pm_stranger *from)
{
    c->stranger = *from;
    if (!from->on || from->pid <= 0)
        return;
    pm_clients_add(from->pid, stranger_key(from));
}

void pm_sender_end(struct pm_sconn *c)
{
    if (c->stranger.on && c->stranger.pid > 0)
        pm_clients_remove(c->stranger.pid);
    c->stranger.on = 0;
}
