/*
 * MsgDeliverEvent(), MsgVerifyEvent(), and delivering an event in this
 * process (for a server in the same process, for timers, for the relay).
 *
 * Where QNX's sigevent members are (<sys/siginfo.h>, the compatibility
 * layer's, which this code reads through the same names):
 *   sigev_notify                 type in the low 8 bits (SIGEV_TYPE_MASK),
 *                                QNX's SIGEV_FLAG_* above
 *   sigev_signo = sigev_coid = sigev_handle     (one union, as on QNX)
 *   sigev_value                  glibc's
 *   sigev_code     _sigev_un._pad[0]
 *   sigev_priority _sigev_un._pad[1]
 *   sigev_notify_function / sigev_notify_attributes: glibc's (SIGEV_THREAD)
 * Delivery reads nothing else: an event filled field by field works
 * everywhere a SIGEV_PULSE_INIT() one does.  (_pad[2] and [3], where
 * SIGEV_PULSE_INIT() records where the connection led, are not needed.)
 *
 * Decisions:
 *  - A pulse from an event is sent with MsgSendPulse() on sigev_coid of the
 *    process the event is for: with that process's connection, so it can
 *    reach only what that process could reach itself (event.h).
 *  - Signals are queued to ourselves with rt_sigqueueinfo(), si_pid and
 *    si_uid naming the process that delivered the event (the server, as on
 *    QNX; ourselves for a timer); SIGEV_SIGNAL_CODE puts sigev_code in
 *    si_code; SIGEV_SIGNAL_THREAD signals the client thread whose message
 *    the rcvid was; glibc's SIGEV_THREAD_ID signals the thread it names.
 *  - SIGEV_THREAD starts a detached thread running sigev_notify_function
 *    (sigev_value) with sigev_notify_attributes and every signal blocked
 *    (as glibc's SIGEV_THREAD timers run theirs); at most
 *    PM_EVENT_MAX_THREADS of them at once (EAGAIN beyond), so that a stream
 *    of events cannot exhaust the process.
 *  - SIGEV_UNBLOCK (for TimerTimeout()) and SIGEV_INTR are not
 *    deliverable: EINVAL.
 *  - MsgDeliverEvent(0, ev) delivers to this process (QNX: "the active
 *    thread"'s process).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/event.h"
#include "msg/msg.h"

#define PM_EVENT_MAX_THREADS 64

PM_EXPORT void _pm_sigev_pulse_init(struct sigevent *e, int coid, int priority,
                                    int code, int value)
{
    int saved = errno;
    memset(e, 0, sizeof *e);
    e->sigev_notify = SIGEV_PULSE;
    e->sigev_coid = coid;
    e->sigev_value.sival_int = value;
    PM_SIGEV_CODE(e) = code;
    PM_SIGEV_PRIORITY(e) = priority;
    struct pm_cconn *c = pm_cconn_get(coid);
    if (c) {
        PM_SIGEV_PID(e) = c->pid;
        PM_SIGEV_CHID(e) = c->chid;
        pm_cconn_put(c);
    }
    pm_begin(); /* a macro's helper: no reason, errno untouched */
    errno = saved;
}

int pm_event_check(const struct sigevent *ev)
{
    if (ev->sigev_notify & SIGEV_FLAG_HANDLE)
        return 0; /* its owner's copy is what counts */
    int type = SIGEV_GET_TYPE(ev);
    switch (type) {
    case SIGEV_NONE:
    case SIGEV_UNBLOCK:
        return 0;
    case SIGEV_PULSE:
        if (ev->sigev_code < -128 || ev->sigev_code > 127)
            return pm_fail(EINVAL, "pulse code %d does not fit in 8 bits", ev->sigev_code);
        if (ev->sigev_coid < 0)
            return pm_fail(EINVAL, "pulse event with no connection (sigev_coid %d)",
                           ev->sigev_coid);
        return 0;
    case SIGEV_SIGNAL:
    case SIGEV_SIGNAL_CODE:
    case SIGEV_SIGNAL_THREAD:
    case SIGEV_THREAD_ID:
        if (ev->sigev_signo <= 0 || ev->sigev_signo >= NSIG)
            return pm_fail(EINVAL, "signal event with signal number %d", ev->sigev_signo);
        return 0;
    case SIGEV_THREAD:
        if (!ev->sigev_notify_function)
            return pm_fail(EINVAL, "SIGEV_THREAD event without a function");
        return 0;
    case SIGEV_PM_CONNECTION:
        return 0;
    case SIGEV_INTR:
        return pm_fail(EINVAL, "event type %#x is not available on Linux", type);
    default:
        return pm_fail(EINVAL, "unknown event type %#x", type);
    }
}

static int queue_signal(int signo, int code, union sigval value, pid_t tid,
                        const struct pm_event_origin *from)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = signo;
    si.si_code = code;
    si.si_pid = from->pid;
    si.si_uid = from->uid;
    si.si_value = value;
    /* To ourselves the kernel takes any si_code and keeps si_pid as given. */
    long r = tid > 0 ? syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, signo, &si)
                     : syscall(SYS_rt_sigqueueinfo, getpid(), signo, &si);
    if (r < 0)
        return pm_fail(errno, "signal %d%s: %m", signo, tid > 0 ? " to a thread" : "");
    return 0;
}

/* SIGEV_THREAD: the function and its argument travel to the new thread. */
struct notify_thread {
    void (*fn)(union sigval);
    union sigval value;
};
static atomic_int live_threads;

static void *notify_main(void *arg)
{
    struct notify_thread t = *(struct notify_thread *)arg;
    free(arg);
    t.fn(t.value);
    atomic_fetch_sub(&live_threads, 1);
    return NULL;
}

static int start_thread(const struct sigevent *ev)
{
    if (atomic_fetch_add(&live_threads, 1) >= PM_EVENT_MAX_THREADS) {
        atomic_fetch_sub(&live_threads, 1);
        return pm_fail(EAGAIN, "SIGEV_THREAD: %d notification threads already run",
                       PM_EVENT_MAX_THREADS);
    }
    struct notify_thread *t = malloc(sizeof *t);
    if (!t) {
        atomic_fetch_sub(&live_threads, 1);
        return pm_fail(ENOMEM, "SIGEV_THREAD: out of memory");
    }
    t->fn = ev->sigev_notify_function;
    t->value = ev->sigev_value;
    pthread_attr_t own, *a = (pthread_attr_t *)ev->sigev_notify_attributes;
    if (!a) {
        pthread_attr_init(&own);
        a = &own;
    }
    int det = PTHREAD_CREATE_DETACHED, old = PTHREAD_CREATE_JOINABLE;
    pthread_attr_getdetachstate(a, &old);
    pthread_attr_setdetachstate(a, det);
    /* As glibc's SIGEV_THREAD timers do: the function runs with every
     * signal blocked, whichever thread delivered the event. */
    sigset_t all, oldmask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &oldmask);
    pthread_t th;
    int e = pthread_create(&th, a, notify_main, t);
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    if (a == &own)
        pthread_attr_destroy(&own);
    else
        pthread_attr_setdetachstate(a, old);
    if (e) {
        free(t);
        atomic_fetch_sub(&live_threads, 1);
        return pm_fail(e == EAGAIN ? EAGAIN : e, "SIGEV_THREAD: cannot start a thread");
    }
    return 0;
}

int pm_event_deliver(const struct sigevent *ev, const struct pm_event_origin *from)
{
    if (ev->sigev_notify & SIGEV_FLAG_HANDLE)
        return pm_event_registered_deliver((unsigned)ev->sigev_handle,
                                           (int64_t)(intptr_t)ev->sigev_value.sival_ptr, from);
    if (pm_event_check(ev) < 0)
        return -1;
    switch (SIGEV_GET_TYPE(ev)) {
    case SIGEV_NONE:
        return 0;
    case SIGEV_PULSE:
        if (from->foreign && PM_EVENT_SYSTEM_CODE(ev->sigev_code))
            return pm_fail(EPERM, "pulse code %d is the system's: not from another process",
                           ev->sigev_code);
        if (MsgSendPulse(ev->sigev_coid, ev->sigev_priority, ev->sigev_code,
                         ev->sigev_value.sival_int) < 0) {
            /* QNX: a connection that does not exist is ESRCH, one whose
             * channel went away EBADF (MsgVerifyEvent(3)). */
            int e = errno == EBADF ? ESRCH : errno == ESRCH ? EBADF : errno;
            return pm_fail_over(e, "pulse on connection %d: %s", ev->sigev_coid,
                                e == ESRCH ? "no such connection" : strerror(errno));
        }
        return 0;
    case SIGEV_SIGNAL:
        return queue_signal(ev->sigev_signo, SI_QUEUE, ev->sigev_value, 0, from);
    case SIGEV_SIGNAL_CODE:
        return queue_signal(ev->sigev_signo, ev->sigev_code, ev->sigev_value, 0, from);
    case SIGEV_SIGNAL_THREAD:
        if (from->tid <= 0)
            return pm_fail(EINVAL, "SIGEV_SIGNAL_THREAD: no client thread to signal");
        return queue_signal(ev->sigev_signo, ev->sigev_code ? ev->sigev_code : SI_QUEUE,
                            ev->sigev_value, from->tid, from);
    case SIGEV_THREAD_ID:
        return queue_signal(ev->sigev_signo, SI_QUEUE, ev->sigev_value,
                            ev->_sigev_un._tid, from);
    case SIGEV_THREAD:
        return start_thread(ev);
    default: /* SIGEV_UNBLOCK, SIGEV_PM_CONNECTION (no connection here) */
        return pm_fail(EINVAL, "event type %#x cannot be delivered",
                       SIGEV_GET_TYPE(ev));
    }
}

static struct pm_event_origin self_origin(pid_t tid)
{
    return (struct pm_event_origin){ .pid = getpid(), .uid = geteuid(), .tid = tid };
}

PM_EXPORT int MsgDeliverEvent(rcvid_t rcvid, const struct sigevent *event)
{
    pm_begin();
    if (!event)
        return pm_fail(EFAULT, "no event");
    if (pm_event_check(event) < 0)
        return -1;
    int type = SIGEV_GET_TYPE(event);
    if (type == SIGEV_PM_CONNECTION) {
        /* Not for the client's library to deliver: the connection itself
         * becomes readable (pm_poll()). */
        if (rcvid <= 0 || rcvid > 0x7fffffff)
            return pm_fail(EINVAL, "SIGEV_PM_CONNECTION needs the client's rcvid");
        return pm_evsock_notify(rcvid, event->sigev_value.sival_int);
    }
    if (rcvid == 0) {
        struct pm_event_origin o = self_origin(gettid());
        return pm_event_deliver(event, &o);
    }
    /* As on QNX the client may have been replied to already: what must
     * still exist is its connection. */
    pid_t pid, tid;
    uid_t uid;
    if (rcvid < 0 || rcvid > 0x7fffffff ||
        pm_evsock_client(rcvid, &pid, &uid, &tid) < 0)
        return pm_fail_over(ESRCH, "rcvid %ld: no such client", (long)rcvid);
    if (pid == getpid()) {
        struct pm_event_origin o = self_origin(tid);
        return pm_event_deliver(event, &o);
    }
    /* What the client's relay will refuse, said here so that the server
     * gets an answer (the relay decides: event_relay.c). */
    if (!(event->sigev_notify & SIGEV_FLAG_HANDLE)) {
        if (type == SIGEV_THREAD)
            return pm_fail(EACCES, "a SIGEV_THREAD event for another process must be "
                           "registered (MsgRegisterEvent()) to be delivered");
        if (type == SIGEV_PULSE && PM_EVENT_SYSTEM_CODE(event->sigev_code))
            return pm_fail(EPERM, "pulse code %d is the system's", event->sigev_code);
        if ((type == SIGEV_SIGNAL || type == SIGEV_SIGNAL_CODE ||
             type == SIGEV_SIGNAL_THREAD || type == SIGEV_THREAD_ID) &&
            geteuid() != 0 && geteuid() != uid)
            return pm_fail(EPERM, "an unregistered signal event for PID %d, of another "
                           "user, is refused (as kill() would be); register it",
                           (int)pid);
        if (type == SIGEV_UNBLOCK)
            return pm_fail(EINVAL, "SIGEV_UNBLOCK is for TimerTimeout(), not for delivery");
    }
    struct pm_evreq r;
    pm_evreq_from_event(&r, event, tid);
    return pm_evsock_send(rcvid, &r);
}

PM_EXPORT int MsgVerifyEvent(rcvid_t rcvid, const struct sigevent *event)
{
    pm_begin();
    if (!event)
        return pm_fail(EFAULT, "no event");
    if (pm_event_check(event) < 0)
        return -1;
    pid_t pid = getpid(), tid = 0;
    uid_t uid;
    if (rcvid != 0 &&
        (rcvid < 0 || rcvid > 0x7fffffff ||
         pm_evsock_client(rcvid, &pid, &uid, &tid) < 0))
        return pm_fail_over(ESRCH, "rcvid %ld: no such client", (long)rcvid);
    if (pid != getpid())
        return pm_evsock_verify(rcvid, event);
    /* In this process we can see everything the event names. */
    if (event->sigev_notify & SIGEV_FLAG_HANDLE)
        return pm_event_registered_find((unsigned)event->sigev_handle);
    if (SIGEV_GET_TYPE(event) == SIGEV_PULSE) {
        struct pm_cconn *c = pm_cconn_get(event->sigev_coid);
        if (!c)
            return pm_fail_over(ESRCH, "pulse event: no connection %d", event->sigev_coid);
        pm_cconn_put(c);
    }
    pm_begin();
    return EOK;
}
