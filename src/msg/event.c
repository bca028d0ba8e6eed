/*
 * MsgDeliverEvent(): a server notifies a client that something it asked to
 * hear about has happened, with a pulse or a signal.
 */
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "trust/trust.h"

PM_EXPORT void _pm_sigev_pulse_init(struct sigevent *e, int coid, int priority,
                                    int code, int value)
{
    memset(e, 0, sizeof *e);
    e->sigev_notify = SIGEV_PULSE;
    e->sigev_signo = coid;
    e->sigev_value.sival_int = value;
    PM_SIGEV_CODE(e) = code;
    PM_SIGEV_PRIORITY(e) = priority;
    /* Record where the connection leads: the server that delivers the
     * event cannot resolve our coid numbers. */
    struct pm_cconn *c = pm_cconn_get(coid);
    if (c) {
        PM_SIGEV_PID(e) = c->pid;
        PM_SIGEV_CHID(e) = c->chid;
        pm_cconn_put(c);
    }
}

static int deliver_pulse(const struct sigevent *e)
{
    pid_t pid = PM_SIGEV_PID(e);
    int chid = PM_SIGEV_CHID(e);
    if (pid <= 0 || chid <= 0)
        return pm_fail(EINVAL, "the event's connection %d was not made with "
                       "ConnectAttach() when SIGEV_PULSE_INIT() ran", e->sigev_signo);
    /* One connection per delivery keeps no state in the server; pulses are
     * events, not a fast path. */
    int coid = ConnectAttach(ND_LOCAL_NODE, pid, chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return pm_fail(ESRCH, "the event's channel (%d of PID %d) is gone",
                       chid, (int)pid);
    int rc = MsgSendPulse(coid, PM_SIGEV_PRIORITY(e), PM_SIGEV_CODE(e),
                          e->sigev_value.sival_int);
    int err = errno;
    ConnectDetach(coid);
    errno = err;
    return rc;
}

/*
 * A signal for the client behind a connection: to that process, never to
 * whoever holds its pid number now.  Through its pidfd (SO_PEERPIDFD on
 * the connection); without one, only if the process at that pid still has
 * the client's key (a window of a few system calls).
 */
static int signal_client(const struct pm_peer *peer, const struct sigevent *e)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = e->sigev_signo;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value = e->sigev_value;
    struct pm_peer_id id;
    int rc;
    if (peer->fd >= 0 && pm_peer_get(peer->fd, &id) == 0 && id.pidfd >= 0) {
        rc = pidfd_send_signal(id.pidfd, e->sigev_signo, &si, 0);
        int err = errno;
        pm_peer_release(&id);
        errno = err;
    } else {
        uint64_t now;
        if (!peer->who.key || pm_proc_key(peer->pid, &now) < 0 || now != peer->who.key) {
            errno = ESRCH;
            rc = -1;
        } else {
            rc = sigqueue(peer->pid, e->sigev_signo, e->sigev_value);
        }
    }
    if (rc < 0)
        return pm_fail(errno, "signal %d to the client (PID %d): %s%s", e->sigev_signo,
                       (int)peer->pid, strerror(errno),
                       errno == ESRCH ? " (it has exited)" : "");
    return 0;
}

PM_EXPORT int MsgDeliverEvent(rcvid_t rcvid, const struct sigevent *event)
{
    struct pm_peer peer;
    pm_begin();
    if (!event)
        return pm_fail(EFAULT, "no event");
    /* As on QNX, the client may have been replied to already: what must
     * still exist is its connection. */
    if (rcvid <= 0 || pm_scoid_peer((int)(rcvid >> 8), &peer) < 0)
        return pm_fail(ESRCH, "rcvid %ld: no such client", (long)rcvid);
    int rc;
    switch (event->sigev_notify) {
    case SIGEV_NONE:
        rc = 0;
        break;
    case SIGEV_PULSE:
        rc = deliver_pulse(event);
        break;
    case SIGEV_SIGNAL:
        rc = signal_client(&peer, event);
        break;
    default:
        rc = pm_fail(EINVAL, "event type %d is not supported (SIGEV_PULSE, "
                     "SIGEV_SIGNAL, SIGEV_NONE are)", event->sigev_notify);
    }
    if (peer.fd >= 0) {
        int e = errno;
        close(peer.fd);
        errno = e;
    }
    return rc;
}
