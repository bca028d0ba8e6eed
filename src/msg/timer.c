/*
 * QNX's timers: TimerCreate(), TimerSettime(), TimerInfo(), TimerDestroy(),
 * and, through them, timer_create() with a QNX event (compat/timer_posix.c).
 *
 * A timer whose event Linux's kernel can deliver itself (SIGEV_SIGNAL,
 * SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID, or no event: SIGALRM) is a
 * glibc POSIX timer, kept under the QNX id.  One whose event only peermap
 * can deliver (SIGEV_PULSE, SIGEV_SIGNAL_CODE, SIGEV_SIGNAL_THREAD, a
 * registered event) is a timerfd on the chosen clock, watched by one
 * service thread per process (common/service.h) that delivers the event at
 * each expiry (event.c): a pulse goes out on sigev_coid, this process's
 * connection, exactly as if the program had called MsgSendPulse().
 *
 * Decisions:
 *  - Periods are the kernel's: a periodic timerfd re-arms itself from its
 *    previous expiry, so no error accumulates; the service thread only adds
 *    the time it takes to wake and send (BENCHMARKS.md, "Timer pulses").
 *  - Expiries the thread finds together (it was late) are delivered one by
 *    one, up to 64 at a time; the rest, and any whose pulse does not fit in
 *    the channel's queue (EAGAIN), are counted as overruns (TimerInfo(),
 *    timer_getoverrun()), as QNX counts undelivered expiries.
 *  - SIGEV_SIGNAL_THREAD signals the thread that created the timer.
 *  - Timers are not inherited by fork() (POSIX): the child starts with none.
 *  - TIMER_TOLERANCE and TIMER_PRECISE are accepted without effect (Linux
 *    has no timer harmonization to tune).  TimerInfo() of another process
 *    is EPERM: its timers are in its own library.
 *  - Ids are small integers, reused after TimerDestroy(), as on QNX.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/service.h"
#include "msg/event.h"
#include "msg/msg.h"
#include "msg/timer.h"

#define BURST_MAX 64

struct pm_timer {
    int used;
    uint32_t gen;        /* bumped when the id is freed: stale epoll events */
    int kernel;          /* a glibc timer (kt), else a timerfd (tfd) */
    timer_t kt;
    int tfd;
    clockid_t clock;
    struct sigevent ev;
    pid_t tid;           /* the creator, for SIGEV_SIGNAL_THREAD */
    int abs;             /* last armed with TIMER_ABSTIME */
    int expired;         /* has expired since last armed */
    uint32_t overruns;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pm_timer *timers;
static int ntimers;
static int ep = -1;      /* the service thread's epoll set, -1 until needed */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* fork(): the child has no service thread and no timers. */
static void child_after_fork(void)
{
    for (int i = 0; i < ntimers; i++)
        if (timers[i].used && !timers[i].kernel)
            close(timers[i].tfd);
    if (ep >= 0)
        close(ep);
    ep = -1;
    free(timers);
    timers = NULL;
    ntimers = 0;
    pthread_mutex_init(&lock, NULL);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, child_after_fork);
}

static void fire(int id, uint32_t gen)
{
    pthread_mutex_lock(&lock);
    struct pm_timer *t = id < ntimers ? &timers[id] : NULL;
    if (!t || !t->used || t->gen != gen || t->kernel) {
        pthread_mutex_unlock(&lock);
        return;
    }
    uint64_t count = 0;
    if (read(t->tfd, &count, sizeof count) != (ssize_t)sizeof count) {
        pthread_mutex_unlock(&lock);
        return; /* re-armed meanwhile: nothing expired */
    }
    struct pm_event_origin from = { .pid = getpid(), .uid = geteuid(), .tid = t->tid };
    t->expired = 1;
    /* Delivered with the table locked (no delivery waits: pulses go out
     * with MSG_DONTWAIT), so that once TimerDestroy() or a disarming
     * TimerSettime() has returned, no pulse of the old setting follows. */
    uint64_t sent = 0, burst = count < BURST_MAX ? count : BURST_MAX;
    for (uint64_t i = 0; i < burst; i++) {
        if (pm_event_deliver(&t->ev, &from) < 0)
            break; /* full queue, or the coid is gone: these are overruns */
        sent++;
    }
    uint64_t over = count - sent + (uint64_t)t->overruns;
    t->overruns = over > UINT32_MAX ? UINT32_MAX : (uint32_t)over;
    pthread_mutex_unlock(&lock);
}

static void *service(void *arg)
{
    int fd = (int)(intptr_t)arg;
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(fd, evs, 16, -1);
        for (int i = 0; i < n; i++)
            fire((int)(evs[i].data.u64 & 0xffffffffu), (uint32_t)(evs[i].data.u64 >> 32));
    }
    return NULL;
}

/* The service thread's epoll set, started on first use (lock held). */
static int service_locked(void)
{
    if (ep >= 0)
        return ep;
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return -1;
    int e = pm_service_start(service, (void *)(intptr_t)fd);
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    ep = fd;
    return ep;
}

/* A free id (lock held), or -1. */
static int alloc_locked(void)
{
    for (int i = 0; i < ntimers; i++)
        if (!timers[i].used)
            return i;
    int n = ntimers ? ntimers * 2 : 16;
    struct pm_timer *t = realloc(timers, (size_t)n * sizeof *t);
    if (!t)
        return -1;
    memset(t + ntimers, 0, (size_t)(n - ntimers) * sizeof *t);
    timers = t;
    int id = ntimers;
    ntimers = n;
    return id;
}

/* Does peermap deliver this event (a timerfd timer), or the kernel? */
static int ours(const struct sigevent *ev)
{
    if (ev->sigev_notify & SIGEV_FLAG_HANDLE)
        return 1;
    int type = SIGEV_GET_TYPE(ev);
    return type == SIGEV_PULSE || type == SIGEV_SIGNAL_CODE || type == SIGEV_SIGNAL_THREAD;
}

int pm_timer_is_ours(const struct sigevent *ev)
{
    return ev && ours(ev);
}

PM_EXPORT int TimerCreate(clockid_t clock_id, const struct sigevent *event)
{
    pm_begin();
    pthread_once(&once, install_atfork);
    if (event && pm_event_check(event) < 0)
        return -1;
    if (event && SIGEV_GET_TYPE(event) == SIGEV_UNBLOCK)
        return pm_fail(EINVAL, "TimerCreate(): SIGEV_UNBLOCK is for TimerTimeout()");
    struct pm_timer t = { .used = 1, .clock = clock_id, .tid = gettid(), .tfd = -1 };
    if (event)
        t.ev = *event;
    if (event && ours(event)) {
        t.tfd = timerfd_create(clock_id, TFD_CLOEXEC | TFD_NONBLOCK);
        if (t.tfd < 0)
            return pm_fail(errno == EMFILE || errno == ENFILE ? EAGAIN : EINVAL,
                           "TimerCreate(): clock %d: %m", (int)clock_id);
    } else {
        /* The kernel's own timer, without QNX's flag bits (glibc would
         * refuse them). */
        struct sigevent kev;
        if (event) {
            kev = *event;
            kev.sigev_notify &= SIGEV_TYPE_MASK;
        }
        t.kernel = 1;
        if (timer_create(clock_id, event ? &kev : NULL, &t.kt) < 0)
            return pm_fail(errno, "TimerCreate(): %m");
    }
    pthread_mutex_lock(&lock);
    int id = alloc_locked();
    int efd = id >= 0 && !t.kernel ? service_locked() : 0;
    if (id >= 0 && efd >= 0) {
        t.gen = timers[id].gen;
        struct epoll_event e = { .events = EPOLLIN,
                                 .data.u64 = ((uint64_t)t.gen << 32) | (uint32_t)id };
        if (!t.kernel && epoll_ctl(efd, EPOLL_CTL_ADD, t.tfd, &e) < 0)
            efd = -1;
    }
    if (id < 0 || efd < 0) {
        int e = errno;
        pthread_mutex_unlock(&lock);
        if (t.kernel)
            timer_delete(t.kt);
        else
            close(t.tfd);
        return pm_fail(id < 0 ? EAGAIN : e ? e : EAGAIN,
                       "TimerCreate(): cannot make the timer: %s",
                       id < 0 ? "out of memory" : strerror(e));
    }
    timers[id] = t;
    pthread_mutex_unlock(&lock);
    return id;
}

/* The timer behind id (lock held), or NULL with EINVAL. */
static struct pm_timer *get_locked(int id)
{
    if (id < 0 || id >= ntimers || !timers[id].used) {
        pm_fail(EINVAL, "no timer %d", id);
        return NULL;
    }
    return &timers[id];
}

PM_EXPORT int TimerDestroy(int id)
{
    pm_begin();
    pthread_mutex_lock(&lock);
    struct pm_timer *t = get_locked(id);
    if (!t) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (t->kernel) {
        timer_delete(t->kt);
    } else {
        epoll_ctl(ep, EPOLL_CTL_DEL, t->tfd, NULL);
        close(t->tfd);
    }
    uint32_t gen = t->gen + 1;
    memset(t, 0, sizeof *t);
    t->gen = gen;
    pthread_mutex_unlock(&lock);
    return 0;
}

static struct timespec ts_of(uint64_t ns)
{
    return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
                              .tv_nsec = (long)(ns % 1000000000u) };
}

static uint64_t ns_of(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

int pm_timer_set(int id, int flags, const struct itimerspec *value, struct itimerspec *ovalue)
{
    pthread_mutex_lock(&lock);
    struct pm_timer *t = get_locked(id);
    if (!t) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    struct itimerspec old;
    int r = t->kernel ? timer_settime(t->kt, flags & TIMER_ABSTIME, value, &old)
                      : timerfd_settime(t->tfd, (flags & TIMER_ABSTIME) ? TFD_TIMER_ABSTIME : 0,
                                        value, &old);
    int e = errno;
    if (r == 0) {
        t->abs = !!(flags & TIMER_ABSTIME);
        t->expired = 0;
    }
    pthread_mutex_unlock(&lock);
    if (r < 0)
        return pm_fail(e, "timer %d: %s", id, strerror(e));
    if (ovalue)
        *ovalue = old;
    return 0;
}

int pm_timer_get(int id, struct itimerspec *value)
{
    pthread_mutex_lock(&lock);
    struct pm_timer *t = get_locked(id);
    int r = !t ? -1 : t->kernel ? timer_gettime(t->kt, value) : timerfd_gettime(t->tfd, value);
    int e = errno;
    pthread_mutex_unlock(&lock);
    return r < 0 && t ? pm_fail(e, "timer %d: %s", id, strerror(e)) : r;
}

int pm_timer_overruns(int id, int reset)
{
    pthread_mutex_lock(&lock);
    struct pm_timer *t = get_locked(id);
    int n = -1;
    if (t && t->kernel) {
        n = timer_getoverrun(t->kt);
    } else if (t) {
        n = t->overruns > INT32_MAX ? INT32_MAX : (int)t->overruns;
        if (reset)
            t->overruns = 0;
    }
    pthread_mutex_unlock(&lock);
    return n;
}

PM_EXPORT int TimerSettime(int id, int flags, const struct _itimer *itime,
                           struct _itimer *oitime)
{
    pm_begin();
    if (!itime)
        return pm_fail(EFAULT, "TimerSettime(): no time");
    if (flags & TIMER_TOLERANCE) {
        /* Sets the tolerance, not the time: nothing to tune on Linux. */
        if (oitime)
            memset(oitime, 0, sizeof *oitime);
        return 0;
    }
    struct itimerspec v = { .it_value = ts_of(itime->nsec),
                            .it_interval = ts_of(itime->interval_nsec) }, o;
    if (pm_timer_set(id, flags & TIMER_ABSTIME, &v, &o) < 0)
        return -1;
    if (oitime) {
        oitime->nsec = ns_of(&o.it_value);
        oitime->interval_nsec = ns_of(&o.it_interval);
    }
    return 0;
}

PM_EXPORT int TimerInfo(pid_t pid, int id, int flags, struct _timer_info *info)
{
    pm_begin();
    if (pid != 0 && pid != getpid())
        return pm_fail(EPERM, "TimerInfo(): the timers of PID %d are in its own "
                       "library; only this process's can be read", (int)pid);
    if (!info && (flags & ~_NTO_TIMER_RESET_OVERRUNS))
        return pm_fail(EFAULT, "TimerInfo(): no info");
    pthread_mutex_lock(&lock);
    if (flags & _NTO_TIMER_SEARCH)
        while (id >= 0 && id < ntimers && !timers[id].used)
            id++;
    struct pm_timer *t = get_locked(id);
    if (!t) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    struct pm_timer copy = *t;
    if ((flags & _NTO_TIMER_RESET_OVERRUNS) && !t->kernel)
        t->overruns = 0;
    pthread_mutex_unlock(&lock);
    struct itimerspec cur;
    int r = copy.kernel ? timer_gettime(copy.kt, &cur) : timerfd_gettime(copy.tfd, &cur);
    if (r < 0)
        return pm_fail(errno, "TimerInfo(): %m");
    if (info) {
        memset(info, 0, sizeof *info);
        struct timespec now;
        clock_gettime(copy.clock, &now);
        uint64_t left = ns_of(&cur.it_value);
        info->otime.nsec = left;
        info->otime.interval_nsec = ns_of(&cur.it_interval);
        info->itime.nsec = left ? ns_of(&now) + left : 0;
        info->itime.interval_nsec = info->otime.interval_nsec;
        info->flags = _NTO_TI_TARGET_PROCESS;
        if (left)
            info->flags |= _NTO_TI_ACTIVE;
        if (copy.abs)
            info->flags |= _NTO_TI_ABSOLUTE;
        if (copy.expired && !left)
            info->flags |= _NTO_TI_EXPIRED;
        if (copy.clock == CLOCK_REALTIME)
            info->flags |= _NTO_TI_TOD_BASED;
        info->notify = copy.ev.sigev_notify;
        info->clockid = copy.clock;
        info->overruns = copy.kernel ? (uint32_t)timer_getoverrun(copy.kt) : copy.overruns;
        info->event = copy.ev;
    }
    return id;
}
