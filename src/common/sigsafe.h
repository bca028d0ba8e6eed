/*
 * Waiting and locking on the paths a signal handler may take (mmap_peer(),
 * munmap_peer(); see mmap_peer(3), "Signal handlers").
 *
 * A handler runs on top of whatever its thread was doing.  If that code
 * holds a lock, the handler must not wait for it: the holder cannot go on
 * until the handler returns.  Every lock such a path takes is therefore
 * taken with pm_lock_sigsafe() (or is a pm_rwlock), which knows its
 * holder's thread: held by this very thread, it answers EDEADLK at once
 * (the caller treats that as a route it cannot use right now); held by
 * another thread, it waits, but never past the call's deadline.  Nothing
 * here allocates or uses stdio; the waits are futex waits, which are
 * async-signal-safe system calls.
 */
#ifndef PEERMAP_SIGSAFE_H
#define PEERMAP_SIGSAFE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* The calling thread's kernel id (a system call: slow paths only). */
pid_t pm_gettid(void);

/* Sleep while *word == val, until woken or deadline_ns (CLOCK_MONOTONIC;
 * 0: no deadline).  Returns at once if the value differs.  Private futexes:
 * within this process only. */
void pm_futex_wait(atomic_uint *word, unsigned val, int64_t deadline_ns);
void pm_futex_wake(atomic_uint *word, int n);

/*
 * Lock m (a default glibc mutex, which records its owner's thread id) for a
 * path a signal handler may take: 0 with m locked; -1 with errno EDEADLK
 * when this thread holds it already (the code this handler interrupted) -
 * or may: a lock caught for 50 us in the instant of changing hands, no
 * holder recorded, counts as this thread's - or ETIMEDOUT at deadline_ns
 * while another thread holds it.  Unlock with pthread_mutex_unlock().
 */
int pm_lock_sigsafe(pthread_mutex_t *m, int64_t deadline_ns);

/*
 * A readers-writer lock whose readers never wait for each other, so a
 * handler may read while the code it interrupted was reading too.  Writers
 * (never on a handler's path) wait for the readers to leave.  A reader that
 * finds the writer is its own thread gets EDEADLK at once; one that waits
 * for another thread's writer gives up at its deadline (ETIMEDOUT).
 */
struct pm_rwlock {
    atomic_uint word;   /* readers inside, plus PM_RW_WRITER */
    atomic_int writer;  /* the writing thread's id, or 0 */
    atomic_uint waiters; /* threads in (or about to enter) a futex wait */
};
#define PM_RWLOCK_INIT { 0, 0, 0 }
int pm_rw_read_lock(struct pm_rwlock *l, int64_t deadline_ns);
void pm_rw_read_unlock(struct pm_rwlock *l);
void pm_rw_write_lock(struct pm_rwlock *l);
void pm_rw_write_unlock(struct pm_rwlock *l);

#endif
