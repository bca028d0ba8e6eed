/*
 * Waiting and locking on the paths a signal handler may take (sigsafe.h).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/sigsafe.h"

#define PM_RW_WRITER 0x80000000u

/* The longest a single timed wait sleeps: deadlines are on CLOCK_MONOTONIC
 * and glibc's timed mutex lock counts on CLOCK_REALTIME, which may jump; a
 * short slice keeps a jump from stretching the wait. */
#define SLICE_NS 10000000

pid_t pm_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

void pm_futex_wait(atomic_uint *word, unsigned val, int64_t deadline_ns)
{
    int e = errno;
    if (deadline_ns) {
        int64_t left = deadline_ns - pm_now_ns();
        if (left <= 0)
            return;
        struct timespec rel = { left / 1000000000, left % 1000000000 };
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &rel, NULL, 0);
    } else {
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
    }
    errno = e;
}

void pm_futex_wake(atomic_uint *word, int n)
{
    int e = errno;
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
    errno = e;
}

/* A lock held with no holder recorded: its holder is between taking it and
 * recording itself, or between erasing itself and letting go - a few
 * instructions for another thread, forever for this very one, interrupted
 * there by the signal whose handler asks.  Looked at again for this long,
 * then counted as this thread's. */
#define UNKNOWN_HOLDER_NS 50000

int pm_lock_sigsafe(pthread_mutex_t *m, int64_t deadline_ns)
{
    if (pthread_mutex_trylock(m) == 0)
        return 0;
    pid_t me = pm_gettid();
    int64_t unknown_since = 0;
    for (;;) {
        /* glibc records the holder of a default mutex in __owner (the
         * public layout of pthread_mutex_t). */
        pid_t owner = __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
        if (owner == me) {
            errno = EDEADLK;
            return -1;
        }
        int64_t now = pm_now_ns();
        if (owner == 0) {
            if (!unknown_since) {
                unknown_since = now;
            } else if (now - unknown_since > UNKNOWN_HOLDER_NS) {
                errno = EDEADLK;
                return -1;
            }
            sched_yield();
            if (pthread_mutex_trylock(m) == 0)
                return 0;
            continue;
        }
        unknown_since = 0;
        int64_t left = deadline_ns - now;
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (left > SLICE_NS)
            left = SLICE_NS;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += left;
        while (until.tv_nsec >= 1000000000) {
            until.tv_nsec -= 1000000000;
            until.tv_sec++;
        }
        int r = pthread_mutex_timedlock(m, &until);
        if (r == 0)
            return 0;
        if (r != ETIMEDOUT) {
            errno = r;
            return -1;
        }
    }
}

/*
 * Sleeping on the word of a pm_rwlock.  The waiter counts itself before it
 * sleeps and an unlocker changes the word before it looks at the count, so
 * one of the two sees the other (both are sequentially consistent): either
 * the unlocker sees a waiter and wakes it, or the waiter's futex finds the
 * word changed and does not sleep.  An unlock with nobody waiting (nearly
 * every one) so costs no system call.
 */
static void rw_wait(struct pm_rwlock *l, unsigned w, int64_t deadline_ns)
{
    atomic_fetch_add(&l->waiters, 1);
    atomic_thread_fence(memory_order_seq_cst);
    pm_futex_wait(&l->word, w, deadline_ns);
    atomic_fetch_sub(&l->waiters, 1);
}

static void rw_wake(struct pm_rwlock *l)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&l->waiters))
        pm_futex_wake(&l->word, INT_MAX);
}

int pm_rw_read_lock(struct pm_rwlock *l, int64_t deadline_ns)
{
    unsigned w = atomic_load(&l->word);
    pid_t me = 0;
    int64_t unknown_since = 0;
    for (;;) {
        if (!(w & PM_RW_WRITER)) {
            if (atomic_compare_exchange_weak(&l->word, &w, w + 1))
                return 0;
            continue;
        }
        if (!me)
            me = pm_gettid();
        int writer = atomic_load(&l->writer);
        if (writer == (int)me) {
            errno = EDEADLK;
            return -1;
        }
        int64_t now = pm_now_ns();
        if (writer == 0) {
            /* As for mutexes above: a writer between taking the word and
             * naming itself, or between the two on its way out. */
            if (!unknown_since) {
                unknown_since = now;
            } else if (now - unknown_since > UNKNOWN_HOLDER_NS) {
                errno = EDEADLK;
                return -1;
            }
            sched_yield();
            w = atomic_load(&l->word);
            continue;
        }
        unknown_since = 0;
        if (now >= deadline_ns) {
            errno = ETIMEDOUT;
            return -1;
        }
        rw_wait(l, w, deadline_ns);
        w = atomic_load(&l->word);
    }
}

void pm_rw_read_unlock(struct pm_rwlock *l)
{
    /* The last reader out wakes a writer waiting for the room. */
    if (atomic_fetch_sub(&l->word, 1) == 1)
        rw_wake(l);
}

void pm_rw_write_lock(struct pm_rwlock *l)
{
    for (;;) {
        unsigned w = 0;
        if (atomic_compare_exchange_strong(&l->word, &w, PM_RW_WRITER)) {
            atomic_store(&l->writer, (int)pm_gettid());
            return;
        }
        /* Readers inside (they leave soon: a lookup), or another writer. */
        rw_wait(l, w, 0);
    }
}

void pm_rw_write_unlock(struct pm_rwlock *l)
{
    atomic_store(&l->writer, 0);
    atomic_store(&l->word, 0);
    rw_wake(l);
}
