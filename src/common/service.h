/*
 * Threads the library starts for itself (timers, the event relay, the
 * memory manager's pager): "service threads".
 *
 * A service thread never takes a signal: it runs with every signal
 * blocked, so a process-directed signal always goes to one of the
 * application's own threads, exactly as if the library had no threads.
 * Unblocking signals while a service thread waits was tried and rejected:
 * a program that blocks a signal in all its threads to sigwait() for it
 * (a common pattern, set up at any time) would have it taken by the idle
 * library thread instead, and killed by its default action.  Threads that
 * run the application's code in the application's name - thread-pool
 * threads - are not service threads: they have the application's mask
 * (thread_pool.c).
 *
 * The one case this leaves: a process whose own threads have all exited,
 * leaving only service threads; a signal blocked everywhere then stays
 * pending (as in any process whose threads all block it).  A thread pool
 * started with POOL_FLAG_EXIT_SELF is not that case: its threads are the
 * application's.
 */
#ifndef PEERMAP_SERVICE_H
#define PEERMAP_SERVICE_H

#include <pthread.h>

/* Start a detached service thread running fn(arg), all signals blocked.
 * 0, or an errno value (nothing started). */
int pm_service_start(void *(*fn)(void *), void *arg);

#endif
