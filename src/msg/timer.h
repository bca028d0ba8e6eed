/* Timers by id (timer.c), for the POSIX names (compat/timer_posix.c). */
#ifndef PEERMAP_MSG_TIMER_H
#define PEERMAP_MSG_TIMER_H

#include <signal.h>
#include <time.h>

/* Does peermap deliver this event (SIGEV_PULSE & co.), rather than the
 * kernel?  1 or 0. */
int pm_timer_is_ours(const struct sigevent *ev);

/* timer_settime()/timer_gettime()/timer_getoverrun() on timer `id`.
 * 0 (or the count), or -1 with errno. */
int pm_timer_set(int id, int flags, const struct itimerspec *value, struct itimerspec *ovalue);
int pm_timer_get(int id, struct itimerspec *value);
int pm_timer_overruns(int id, int reset);

#endif
