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
 * or may: one found held with no holder recorded while this thread was
 * interrupted inside pm_mutex_lock()/pm_mutex_unlock() (the few
 * instructions where glibc has taken the lock and not yet named itself, or
 * the reverse) - or ETIMEDOUT at deadline_ns while another thread holds it.
 * A lock with no holder recorded while this thread was elsewhere is another
 * thread's, however long it was preempted there: waited for, never refused.
 *
 * Every other lock and unlock of such a mutex goes through pm_mutex_lock()
 * and pm_mutex_unlock(), which mark the thread for that instant.
 */
int pm_lock_sigsafe(pthread_mutex_t *m, int64_t deadline_ns);
extern _Thread_local volatile int pm_mutex_changing;
/* Run op on m with this thread marked as changing a lock. */
static inline void pm_mutex_marked(int (*op)(pthread_mutex_t *), pthread_mutex_t *m)
{
    int saved = pm_mutex_changing; /* a handler's, nested in another's */
    pm_mutex_changing = 1;
    atomic_signal_fence(memory_order_seq_cst);
    op(m);
    atomic_signal_fence(memory_order_seq_cst);
    pm_mutex_changing = saved;
}
static inline void pm_mutex_lock(pthread_mutex_t *m)
{
    pm_mutex_marked(pthread_mutex_lock, m);
}
static inline void pm_mutex_unlock(pthread_mutex_t *m)
{
    pm_mutex_marked(pthread_mutex_unlock, m);
}

/*
 * A readers-writer lock whose readers never wait for each other, so a
 * handler may read while the code it interrupted was reading too.  Writers
 * (never on a handler's path) wait for the readers to leave.  A reader that
 * finds the writer is its own thread gets EDEADLK at once; one that waits
 * for another thread's writer gives up at its deadline (ETIMEDOUT).  As
 * for mutexes, a writer not yet (or no longer) named is this thread's only
 * if this thread was interrupted inside pm_rw_write_lock/unlock().
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
