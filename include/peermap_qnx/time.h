/* <peermap_qnx/time.h> - POSIX timers with QNX's events, and QNX's
 * timer_timeout() (see <peermap_qnx.h>).  Include after the C library's
 * <time.h>. */
#ifndef PEERMAP_QNX_TIME_H
#define PEERMAP_QNX_TIME_H

#ifdef __cplusplus
extern "C" {
#endif

struct sigevent;

/* SIGEV_PULSE, SIGEV_SIGNAL_CODE, SIGEV_SIGNAL_THREAD and registered events
 * make peermap's timers (TimerCreate(3)); SIGEV_NONE, SIGEV_SIGNAL,
 * SIGEV_THREAD, SIGEV_THREAD_ID and NULL glibc's, unchanged.  Their timer_t
 * values never collide, so each call goes where its timer lives. */
int pm_timer_create(clockid_t clock_id, struct sigevent *evp, timer_t *timerid);
int pm_timer_delete(timer_t timerid);
int pm_timer_settime(timer_t timerid, int flags, const struct itimerspec *value,
                     struct itimerspec *ovalue);
int pm_timer_gettime(timer_t timerid, struct itimerspec *value);
int pm_timer_getoverrun(timer_t timerid);

/* QNX declares it in <time.h>; TimerTimeout(3). */
int timer_timeout(clockid_t id, int flags, const struct sigevent *notify,
                  const struct timespec *ntime, struct timespec *otime);

#ifdef __cplusplus
}
#endif

#ifndef PEERMAP_NO_QNX_NAMES
#define timer_create     pm_timer_create
#define timer_delete     pm_timer_delete
#define timer_settime    pm_timer_settime
#define timer_gettime    pm_timer_gettime
#define timer_getoverrun pm_timer_getoverrun
#endif

#endif
