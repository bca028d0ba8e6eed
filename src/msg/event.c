/*
 * MsgDeliverEvent(): a server notifies a client that something it asked to
 * hear about has happened, with a pulse or a signal.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"

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
    pid_t client = peer.pid;
    if (peer.fd >= 0)
        close(peer.fd);
    switch (event->sigev_notify) {
    case SIGEV_NONE:
        return 0;
    case SIGEV_PULSE:
        return deliver_pulse(event);
    case SIGEV_SIGNAL:
        /* sigqueue() lets the kernel fill in who sent it. */
        if (sigqueue(client, event->sigev_signo, event->sigev_value) < 0)
            return pm_fail(errno, "signal %d to PID %d: %m", event->sigev_signo,
                           (int)client);
        return 0;
    default:
        return pm_fail(EINVAL, "event type %d is not supported (SIGEV_PULSE, "
                       "SIGEV_SIGNAL, SIGEV_NONE are)", event->sigev_notify);
    }
}
