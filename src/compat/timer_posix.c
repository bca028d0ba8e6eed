/*
 * timer_create() & co. with QNX's events (<peermap_qnx.h>).
 *
 * Decisions:
 *  - An event only peermap can deliver (SIGEV_PULSE, SIGEV_SIGNAL_CODE,
 *    SIGEV_SIGNAL_THREAD, a registered event) makes a peermap timer
 *    (TimerCreate(3)); anything else - SIGEV_SIGNAL, SIGEV_NONE,
 *    SIGEV_THREAD, SIGEV_THREAD_ID, NULL - goes to glibc's timer_create()
 *    untouched, so those timers behave exactly as glibc makes them.
 *  - A peermap timer's timer_t is PM_TIMER_TAG | id: above any int (glibc's
 *    kernel timer ids) and positive (glibc's SIGEV_THREAD timers have the
 *    top bit set), so every later call can tell whose timer it is.
 */
#define PEERMAP_NO_QNX_NAMES
#include <peermap_qnx.h>

#include <stdint.h>

#include "common/internal.h"
#include "msg/timer.h"

#define PM_TIMER_TAG ((intptr_t)1 << 40)

static int ours(timer_t t, int *id)
{
    intptr_t v = (intptr_t)t;
    if (v < PM_TIMER_TAG || v > PM_TIMER_TAG + INT32_MAX)
        return 0;
    *id = (int)(v - PM_TIMER_TAG);
    return 1;
}

PM_EXPORT int pm_timer_create(clockid_t clock_id, struct sigevent *evp, timer_t *timerid)
{
    if (!pm_timer_is_ours(evp))
        return timer_create(clock_id, evp, timerid);
    if (!timerid) {
        pm_begin();
        return pm_fail(EFAULT, "timer_create(): no timer id");
    }
    int id = TimerCreate(clock_id, evp);
    if (id < 0)
        return -1;
    *timerid = (timer_t)(PM_TIMER_TAG + id);
    return 0;
}

PM_EXPORT int pm_timer_delete(timer_t timerid)
{
    int id;
    return ours(timerid, &id) ? TimerDestroy(id) : timer_delete(timerid);
}

PM_EXPORT int pm_timer_settime(timer_t timerid, int flags, const struct itimerspec *value,
                               struct itimerspec *ovalue)
{
    int id;
    if (!ours(timerid, &id))
        return timer_settime(timerid, flags, value, ovalue);
    pm_begin();
    if (!value)
        return pm_fail(EFAULT, "timer_settime(): no value");
    return pm_timer_set(id, flags, value, ovalue);
}

PM_EXPORT int pm_timer_gettime(timer_t timerid, struct itimerspec *value)
{
    int id;
    if (!ours(timerid, &id))
        return timer_gettime(timerid, value);
    pm_begin();
    if (!value)
        return pm_fail(EFAULT, "timer_gettime(): no value");
    return pm_timer_get(id, value);
}

PM_EXPORT int pm_timer_getoverrun(timer_t timerid)
{
    int id;
    if (!ours(timerid, &id))
        return timer_getoverrun(timerid);
    pm_begin();
    return pm_timer_overruns(id, 0);
}
