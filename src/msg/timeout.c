/*
 * TimerTimeout() and timer_timeout(): a deadline for the next blocking
 * message-passing call of this thread.
 *
 * Decisions:
 *  - The timeout is this thread's and is used up (cleared) by the next
 *    MsgSend*() or MsgReceive*()/MsgReceivePulse*() of the thread, whether
 *    or not that call blocks in a state the flags name - as QNX clears it
 *    at the next kernel call.  Other calls (the C library's) neither use
 *    nor clear it: they are not ours to time out.
 *  - States: _NTO_TIMEOUT_SEND (the server has not received the message
 *    yet), _NTO_TIMEOUT_REPLY (it has, and has not replied) and
 *    _NTO_TIMEOUT_RECEIVE.  Whether a sender is still send-blocked is the
 *    kernel's answer: bytes of our message still in our socket's send
 *    queue (SIOCOUTQ) mean the server has not taken it.  A timeout in a
 *    state the flags do not name is not used: the call goes on waiting.
 *    The other QNX states (mutex, condvar, nanosleep...) belong to calls
 *    peermap does not provide: asking for them is EINVAL, rather than a
 *    timeout that silently never happens.
 *  - notify: NULL or SIGEV_UNBLOCK (the call fails with ETIMEDOUT); other
 *    events are EINVAL.  ntime NULL: the call fails at once if it would
 *    block.  TIMER_ABSTIME: ntime is a time of clock `id`; it becomes a
 *    deadline on CLOCK_MONOTONIC when set (a later change of the realtime
 *    clock does not move it).
 *  - A REPLY timeout on a channel made with _NTO_CHF_UNBLOCK is a request
 *    to be unblocked, as a signal is: the server gets _PULSE_CODE_UNBLOCK
 *    and decides (the client waits for its answer, as on QNX).
 *  - Returns the flags of the timeout it replaces (0 if none); otime gets
 *    the time that one had left.
 */
#include <string.h>
#include <time.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "msg/timeout.h"

#define SUPPORTED (_NTO_TIMEOUT_SEND | _NTO_TIMEOUT_REPLY | _NTO_TIMEOUT_RECEIVE)

static _Thread_local struct {
    int flags;          /* armed states, 0 when none */
    int64_t deadline;   /* pm_now_ns() deadline */
} tt;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) < 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int arm(clockid_t id, int flags, const struct sigevent *notify, int have_time,
               uint64_t ntime, uint64_t *otime)
{
    pm_begin();
    int states = flags & ~TIMER_ABSTIME;
    if (states & ~SUPPORTED)
        return pm_fail(EINVAL, "TimerTimeout(): flags %#x name states peermap has no "
                       "calls for (only _NTO_TIMEOUT_SEND, _REPLY and _RECEIVE)",
                       (unsigned)(states & ~SUPPORTED));
    if (notify && SIGEV_GET_TYPE(notify) != SIGEV_UNBLOCK)
        return pm_fail(EINVAL, "TimerTimeout(): only SIGEV_UNBLOCK (or NULL) is "
                       "supported as the event");
    int64_t now = pm_now_ns(), deadline = now;
    if (have_time) {
        if (flags & TIMER_ABSTIME) {
            int64_t c = clock_ns(id);
            if (c < 0)
                return pm_fail(EINVAL, "TimerTimeout(): clock %d: %m", (int)id);
            deadline = now + ((int64_t)ntime - c);
        } else {
            if (clock_ns(id) < 0)
                return pm_fail(EINVAL, "TimerTimeout(): clock %d: %m", (int)id);
            deadline = ntime > (uint64_t)INT64_MAX - (uint64_t)now ? INT64_MAX
                                                                  : now + (int64_t)ntime;
        }
    }
    int old = tt.flags;
    if (otime)
        *otime = old && tt.deadline > now ? (uint64_t)(tt.deadline - now) : 0;
    tt.flags = states;
    tt.deadline = deadline;
    return old;
}

PM_EXPORT int TimerTimeout(clockid_t id, int flags, const struct sigevent *notify,
                           const uint64_t *ntime, uint64_t *otime)
{
    return arm(id, flags, notify, ntime != NULL, ntime ? *ntime : 0, otime);
}

PM_EXPORT int timer_timeout(clockid_t id, int flags, const struct sigevent *notify,
                            const struct timespec *ntime, struct timespec *otime)
{
    if (ntime && (ntime->tv_sec < 0 || ntime->tv_nsec < 0 || ntime->tv_nsec >= 1000000000)) {
        pm_begin();
        return pm_fail(EINVAL, "timer_timeout(): bad time");
    }
    uint64_t n = ntime ? (uint64_t)ntime->tv_sec * 1000000000u + (uint64_t)ntime->tv_nsec : 0;
    uint64_t o = 0;
    int r = arm(id, flags, notify, ntime != NULL, n, otime ? &o : NULL);
    if (r >= 0 && otime) {
        otime->tv_sec = (time_t)(o / 1000000000u);
        otime->tv_nsec = (long)(o % 1000000000u);
    }
    return r;
}

int pm_timeout_take(int states, int64_t *deadline)
{
    int f = tt.flags & states;
    *deadline = tt.deadline;
    tt.flags = 0;
    return f;
}
