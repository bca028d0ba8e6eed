#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "remote/worker.h"

struct job {
    int (*fn)(void *);
    void *arg;
    int rc, err;
    char reason[256];
};

/*
 * The hand-over between a caller and the tracer thread is two sequence
 * numbers and futexes: the caller bumps `posted` and sleeps until `done`
 * equals it.  A mutex and condition variable cost twice the system calls, and
 * this is on the path of every call.  `serial` lets one caller at a time in.
 */
static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint posted, done;
static struct job *current;  /* written before `posted` moves */
static atomic_int alive;     /* a tracer thread exists */
static atomic_uint generation;

/* Tracer threads that retired (their kernel thread ids), the latest few: a
 * target one of them still holds is ours, not someone else's (see
 * pm_worker_attach()). */
#define RETIRED_KEPT 16
static atomic_int retired[RETIRED_KEPT];
static atomic_uint retired_next;

/* Tracer-thread-only state: the tracees it gave up on and still owes a clean
 * ending (ptrace ties them to this thread). */
static _Thread_local pid_t my_tid;
static _Thread_local int retiring;
static _Thread_local struct pm_tracee *orphans;
static _Thread_local int norphans, orphans_cap;

static void futex_wait(atomic_uint *word, unsigned val, const struct timespec *rel)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake(atomic_uint *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void retire(void)
{
    if (retiring)
        return;
    retiring = 1;
    unsigned i = atomic_fetch_add(&retired_next, 1) % RETIRED_KEPT;
    atomic_store(&retired[i], (int)my_tid);
}

static int is_retired(pid_t tid)
{
    for (int i = 0; i < RETIRED_KEPT; i++)
        if (atomic_load(&retired[i]) == (int)tid)
            return 1;
    return 0;
}

void pm_worker_adopt(const struct pm_tracee *t)
{
    if (t->stuck)
        retire();
    if (norphans == orphans_cap) {
        int cap = orphans_cap ? 2 * orphans_cap : 8;
        struct pm_tracee *n = realloc(orphans, (size_t)cap * sizeof *n);
        if (!n) {
            /* Nothing better left: our exit will release it, mid-call or not. */
            retire();
            return;
        }
        orphans = n;
        orphans_cap = cap;
    }
    orphans[norphans++] = *t;
}

static void service_orphans(void)
{
    for (int i = 0; i < norphans;) {
        if (pm_tracee_try_finish(&orphans[i]))
            orphans[i] = orphans[--norphans];
        else
            i++;
    }
}

/* Orphans still inside one of our calls: they must be finished before this
 * thread may exit.  Stuck ones need no finishing: the exit releases them. */
static int calls_in_flight(void)
{
    for (int i = 0; i < norphans; i++)
        if (!orphans[i].stuck)
            return 1;
    return 0;
}

static const struct timespec tick = { 0, 10 * 1000000 };

/* A retired tracer thread: no new jobs, only its orphans, then exit. */
static void *linger(void)
{
    while (calls_in_flight()) {
        nanosleep(&tick, NULL); /* a call's end inside another process has no event */
        service_orphans();
    }
    free(orphans);
    return NULL;
}

int pm_worker_attach(struct pm_tracee *t, pid_t pid)
{
    int64_t deadline = pm_now_ns() + pm_timeout_ns();
    for (;;) {
        if (pm_tracee_attach(t, pid) == 0)
            return 0;
        if (errno != EPERM)
            return -1; /* a stuck one is the caller's to adopt */
        /* Refused: is the tracer one of our own threads?  This one, with a
         * call abandoned after a timeout still running in the target; or a
         * retired one, about to exit (which releases the target) or
         * finishing such a call elsewhere first.  Then the target is not
         * someone else's: wait for our own release, within this call's
         * deadline, and never answer EPERM because of ourselves. */
        pid_t tracer = pm_tracer_of(pid);
        if (tracer <= 0 || (tracer != my_tid && !is_retired(tracer)))
            return -1; /* someone else's, or no longer traced: the kernel's no */
        if (pm_now_ns() >= deadline)
            return pm_fail_over(ETIMEDOUT, "PID %d is still held by this process's "
                                "tracer thread %d, finishing a call abandoned after "
                                "an earlier timeout", (int)pid, (int)tracer);
        if (tracer == my_tid)
            service_orphans();
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
        pm_begin(); /* the refusal's reason no longer applies */
    }
}

static void *tracer_main(void *arg)
{
    unsigned seen = (unsigned)(uintptr_t)arg;
    /* Block every signal but SIGCHLD.  Each ptrace stop sends SIGCHLD to this
     * thread; left unblocked with the default disposition the kernel drops it
     * at once, whereas blocked it would be queued for the process and wake
     * some other thread of the caller to discard it, three times a call.  A
     * program's own SIGCHLD handler may therefore run on this thread. */
    sigset_t mask;
    sigfillset(&mask);
    sigdelset(&mask, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    my_tid = (pid_t)syscall(SYS_gettid);

    for (;;) {
        unsigned p;
        while ((p = atomic_load(&posted)) == seen) {
            futex_wait(&posted, seen, norphans ? &tick : NULL);
            if (norphans)
                service_orphans();
        }
        seen = p;
        struct job *j = current;
        pm_begin();
        j->rc = j->fn(j->arg);
        j->err = errno;
        snprintf(j->reason, sizeof j->reason, "%s", pm_reason());
        if (norphans)
            service_orphans();
        if (retiring) {
            /* The next job starts a new tracer thread. */
            atomic_store(&alive, 0);
            atomic_fetch_add(&generation, 1);
        }
        atomic_store(&done, seen);
        futex_wake(&done);
        if (retiring)
            return linger();
    }
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&serial);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&serial);
}

static void atfork_child(void)
{
    /* The tracer thread does not exist in the child, nor do its tracees. */
    pthread_mutex_unlock(&serial);
    atomic_store(&alive, 0);
    atomic_fetch_add(&generation, 1);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

unsigned pm_worker_generation(void)
{
    return atomic_load(&generation);
}

static int start_tracer(void)
{
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* small, but room for sanitizers */
    int e = pthread_create(&th, &attr, tracer_main,
                           (void *)(uintptr_t)atomic_load(&posted));
    pthread_attr_destroy(&attr);
    if (e)
        return pm_fail(e == EAGAIN ? ENOMEM : e,
                       "cannot start the tracer thread: %s", strerror(e));
    pthread_setname_np(th, "peermap-tracer");
    atomic_store(&alive, 1);
    return 0;
}

int pm_worker_run(int (*fn)(void *), void *arg)
{
    struct job j = { .fn = fn, .arg = arg };

    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&serial);
    if (!atomic_load(&alive) && start_tracer() < 0) {
        pthread_mutex_unlock(&serial);
        return -1;
    }
    current = &j;
    unsigned seq = atomic_fetch_add(&posted, 1) + 1;
    futex_wake(&posted);
    unsigned d;
    while ((d = atomic_load(&done)) != seq)
        futex_wait(&done, d, NULL);
    pthread_mutex_unlock(&serial);

    if (j.rc < 0) {
        if (j.reason[0])
            pm_fail_over(0, "%s", j.reason);
        errno = j.err;
    }
    return j.rc;
}
