/*
 * <peermap_qnx.h> - standard names whose QNX meaning needs the library.
 *
 * A few POSIX functions do more on QNX than glibc's do, and QNX code
 * relies on it:
 *   pthread_create()  accepts a NULL thread-id pointer (glibc crashes);
 *   timer_create() & co. accept a SIGEV_PULSE event (glibc: EINVAL) and
 *                     the other QNX-only event types;
 *   poll(), select()  wait on descriptors from pm_open() by asking their
 *                     manager (_IO_NOTIFY), as QNX's C library does.
 * This header maps those names to peermap's functions, which do what QNX
 * does and hand everything else to glibc unchanged.  It is meant for QNX
 * code only: the QNX compatibility include layer includes it from its
 * <pthread.h>, <time.h>, <signal.h>, <poll.h> and <sys/select.h>; a Linux
 * program that does not include it sees glibc's functions, untouched.
 * Define PEERMAP_NO_QNX_NAMES before including it to get the declarations
 * without the mapping.
 */
#ifndef PEERMAP_QNX_H
#define PEERMAP_QNX_H

/* The C library's declarations come first: a mapping made before them
 * would rename glibc's own (fortified) inline definitions too. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <time.h>

#include <sys/neutrino.h>

#ifdef __cplusplus
extern "C" {
#endif

/* pthread_create(); thread may be NULL. */
int pm_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                      void *(*start)(void *), void *arg);

/* POSIX timers with QNX's events: SIGEV_PULSE, SIGEV_SIGNAL_CODE and
 * SIGEV_SIGNAL_THREAD are peermap's timers (TimerCreate(3)); SIGEV_NONE,
 * SIGEV_SIGNAL, SIGEV_THREAD and SIGEV_THREAD_ID are glibc's, unchanged.
 * The timer_t values of the two never collide, so each call goes where its
 * timer lives. */
int pm_timer_create(clockid_t clock_id, struct sigevent *evp, timer_t *timerid);
int pm_timer_delete(timer_t timerid);
int pm_timer_settime(timer_t timerid, int flags, const struct itimerspec *value,
                     struct itimerspec *ovalue);
int pm_timer_gettime(timer_t timerid, struct itimerspec *value);
int pm_timer_getoverrun(timer_t timerid);

/* poll() and select() that understand descriptors from pm_open()
 * (ionotify(3)); other descriptors are waited on as the kernel does. */
int pm_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int pm_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
              struct timeval *timeout);

#ifdef __cplusplus
}
#endif

#ifndef PEERMAP_NO_QNX_NAMES
#define pthread_create    pm_pthread_create
#define timer_create      pm_timer_create
#define timer_delete      pm_timer_delete
#define timer_settime     pm_timer_settime
#define timer_gettime     pm_timer_gettime
#define timer_getoverrun  pm_timer_getoverrun
#define poll              pm_poll
#define select            pm_select
#endif

#endif
