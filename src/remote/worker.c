#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "common/sigsafe.h"
#include "remote/worker.h"

/*
 * The hand-over between callers and the tracer thread: a table of job
 * slots, claimed, filled and posted with atomics, and futexes to sleep on.
 *
 * A caller may be a signal handler (mmap_peer() is async-signal-safe), and
 * its thread may have been inside a call of its own, waiting for this very
 * thread, when the signal came: so no lock is held between posting and
 * completion, nothing is allocated, and the handler's job simply queues
 * behind the interrupted one, which the tracer thread finishes on its own.
 * Jobs are taken oldest ticket first.  A job not yet taken at its caller's
 * deadline is withdrawn (ETIMEDOUT); once taken it runs to its end, which
 * its own deadline bounds.
 *
 * For the same reason the tracer thread never takes a lock an application
 * thread could hold - no malloc(), no stdio, no strerror(): everything it
 * runs formats with pm_fmt() and keeps its state in fixed storage.  A
 * caller waiting for it would otherwise wait for the very thread it
 * interrupted.
 */
enum { SLOT_FREE, SLOT_FILLING, SLOT_POSTED, SLOT_TAKEN, SLOT_DONE };
#define NSLOTS 64

struct slot {
    atomic_uint state;
    unsigned ticket;
    int (*fn)(void *);
    void *arg;
    int rc, err;
    char reason[PM_REASON_MAX];
};

static struct slot slots[NSLOTS];
static atomic_uint tickets;
static atomic_uint posted;      /* bumped after every post: tracers sleep on it */
static atomic_uint freed;       /* bumped when a slot is freed: callers sleep on it */
static atomic_uint generation;  /* the serving tracer thread's */
static atomic_int have_tracer;  /* a tracer thread serves */
static char start_error[128];   /* why none could be started */

/* Tracer threads that retired (their kernel thread ids), the latest few: a
 * target one of them still holds is ours, not someone else's (see
 * pm_worker_attach()). */
#define RETIRED_KEPT 16
static atomic_int retired[RETIRED_KEPT];
static atomic_uint retired_next;

/* Tracer-thread-only state: the tracees it gave up on and still owes a clean
 * ending (ptrace ties them to this thread), kept on its own stack. */
#define ORPHANS_MAX 64
static _Thread_local pid_t my_tid;
static _Thread_local unsigned my_gen;
static _Thread_local int retiring;
static _Thread_local struct pm_tracee *orphans;
static _Thread_local int norphans;

static const struct timespec tick = { 0, 10 * 1000000 };
#define TICK_NS 10000000

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
    if (norphans == ORPHANS_MAX) {
        /* Nothing better left: our exit will release it, mid-call or not. */
        retire();
        return;
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

/* A retired tracer thread: no new jobs, only its orphans, then exit. */
static void *linger(void)
{
    while (calls_in_flight()) {
        nanosleep(&tick, NULL); /* a call's end inside another process has no event */
        service_orphans();
    }
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

/* The oldest posted job, now ours; NULL if there is none. */
static struct slot *take(void)
{
    for (;;) {
        struct slot *best = NULL;
        for (int i = 0; i < NSLOTS; i++)
            if (atomic_load(&slots[i].state) == SLOT_POSTED &&
                (!best || (int)(slots[i].ticket - best->ticket) < 0))
                best = &slots[i];
        if (!best)
            return NULL;
        unsigned want = SLOT_POSTED;
        if (atomic_compare_exchange_strong(&best->state, &want, SLOT_TAKEN))
            return best;
        /* Withdrawn by its caller meanwhile: look again. */
    }
}

static void run(struct slot *s)
{
    pm_begin();
    s->rc = s->fn(s->arg);
    s->err = errno;
    const char *r = pm_reason();
    size_t n = strnlen(r, sizeof s->reason - 1);
    memcpy(s->reason, r, n);
    s->reason[n] = 0;
    atomic_store(&s->state, SLOT_DONE);
    /* The caller may already have seen DONE and moved on: a wake-up on a
     * slot in other use is a spurious one, which its sleeper tolerates. */
    pm_futex_wake(&s->state, INT_MAX);
}

static int start_tracer(unsigned gen);

/* This thread must go (it holds a target it could not stop, which only its
 * exit releases): start the next one and leave the slots to it.  If no
 * thread can be started, stay and serve, and try again later. */
static int hand_over(void)
{
    unsigned next = my_gen + 1;
    atomic_store(&generation, next);
    if (start_tracer(next) == 0)
        return 1;
    atomic_store(&generation, my_gen);
    return 0;
}

/* Bumped by each new tracer thread once it runs (start_tracer() waits). */
static atomic_uint started;

static void *tracer_main(void *arg)
{
    /* Every signal blocked (already from the creator: see start_tracer()).
     * So no handler of the program ever runs here - and no SIGCHLD is
     * taken here either: each ptrace stop sends one to this thread's
     * process, and a program that waits for its children's SIGCHLD with
     * signalfd or sigwaitinfo, all threads blocking it, must still get
     * those of its own children, which this thread would otherwise
     * swallow. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    prctl(PR_SET_NAME, "peermap-tracer", 0, 0, 0);
    struct pm_tracee store[ORPHANS_MAX];
    orphans = store;
    norphans = 0;
    my_gen = (unsigned)(uintptr_t)arg;
    my_tid = pm_gettid();
    atomic_fetch_add(&started, 1);
    pm_futex_wake(&started, INT_MAX);

    while (atomic_load(&generation) == my_gen) {
        unsigned p = atomic_load(&posted);
        struct slot *s = take();
        if (s) {
            run(s);
            if (norphans)
                service_orphans();
        } else {
            pm_futex_wait(&posted, p, norphans || retiring ? pm_now_ns() + TICK_NS : 0);
            if (norphans)
                service_orphans();
        }
        if (retiring && hand_over())
            break;
    }
    return linger();
}

/* Every signal blocked in the new thread from its first instruction: a
 * signal must never find it before it blocks them itself. */
static int start_tracer(unsigned gen)
{
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Small, but room for the orphans it keeps on it, and for sanitizers. */
    pthread_attr_setstacksize(&attr, 256 * 1024 + ORPHANS_MAX * sizeof(struct pm_tracee));
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    unsigned seen = atomic_load(&started);
    int e = pthread_create(&th, &attr, tracer_main, (void *)(uintptr_t)gen);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e) {
        pm_fmt(start_error, sizeof start_error, "pthread_create(): %s", pm_strerror(e));
        return -1;
    }
    /* Until the thread runs, its start-up may hold the allocator's locks
     * (a sanitizer's do, for the new thread's bookkeeping): a fork() by the
     * program meanwhile would leave them held in the child.  At load the
     * program forks soon after, so wait for the thread to be under way. */
    int64_t until = pm_now_ns() + 5000000000;
    unsigned now;
    while ((now = atomic_load(&started)) == seen && pm_now_ns() < until)
        pm_futex_wait(&started, now, until);
    atomic_store(&have_tracer, 1);
    return 0;
}

/*
 * When the tracer thread starts.  A call that may run in a signal handler
 * cannot start a thread (pthread_create() allocates and takes locks the
 * interrupted code may hold), so it must exist before the first call: it
 * starts when the library is loaded.  PEERMAP_TRACER=ondemand defers it to
 * the first call that needs it, for a program that must stay
 * single-threaded until then (say, to unshare(CLONE_NEWUSER)); that first
 * call is then not async-signal-safe.  A fork() child is single-threaded,
 * as POSIX promises it, until its own first such call starts one (the
 * same rule).
 */
static int ondemand;
static pthread_mutex_t ondemand_lock = PTHREAD_MUTEX_INITIALIZER;

static void atfork_child(void)
{
    /* Neither the tracer thread nor the callers of other threads exist in
     * the child: every slot is free, and the next tracer thread gets a new
     * generation (the parent's sessions are not the child's). */
    for (int i = 0; i < NSLOTS; i++)
        atomic_store(&slots[i].state, SLOT_FREE);
    for (int i = 0; i < RETIRED_KEPT; i++)
        atomic_store(&retired[i], 0);
    atomic_store(&have_tracer, 0);
    atomic_fetch_add(&generation, 1);
    pthread_mutex_init(&ondemand_lock, NULL);
    ondemand = 1;
}

__attribute__((constructor)) static void tracer_at_load(void)
{
    const char *e = getenv("PEERMAP_TRACER");
    ondemand = e && !strcmp(e, "ondemand");
    pthread_atfork(NULL, NULL, atfork_child);
    if (!ondemand)
        start_tracer(atomic_load(&generation));
}

int pm_worker_ensure(void)
{
    if (atomic_load(&have_tracer))
        return 0;
    pthread_mutex_lock(&ondemand_lock);
    int rc = atomic_load(&have_tracer) ? 0 : start_tracer(atomic_load(&generation));
    pthread_mutex_unlock(&ondemand_lock);
    if (rc < 0)
        return pm_fail(EAGAIN, "cannot start the library's tracer thread: %s", start_error);
    return 0;
}

unsigned pm_worker_generation(void)
{
    return atomic_load(&generation);
}

/* A free slot, now ours (FILLING), or NULL with ETIMEDOUT at the deadline. */
static struct slot *claim(int64_t deadline)
{
    for (;;) {
        unsigned f = atomic_load(&freed);
        for (int i = 0; i < NSLOTS; i++) {
            unsigned want = SLOT_FREE;
            if (atomic_compare_exchange_strong(&slots[i].state, &want, SLOT_FILLING))
                return &slots[i];
        }
        if (pm_now_ns() >= deadline) {
            pm_fail(ETIMEDOUT, "%d calls already wait for the library's tracer "
                    "thread", NSLOTS);
            return NULL;
        }
        pm_futex_wait(&freed, f, deadline);
    }
}

static void release(struct slot *s)
{
    atomic_store(&s->state, SLOT_FREE);
    atomic_fetch_add(&freed, 1);
    pm_futex_wake(&freed, 1);
}

static int run_job(int (*fn)(void *), void *arg, int64_t deadline);

int pm_worker_run(int (*fn)(void *), void *arg)
{
    /* The tracer thread blocks every signal, but not those it causes itself
     * (SIGSEGV...): a handler of one calling us there would wait for its
     * own thread. */
    if (my_tid)
        return pm_fail(EDEADLK, "called on the library's tracer thread (in the "
                       "handler of a signal that thread caused?)");
    if (!atomic_load(&have_tracer)) {
        if (!ondemand)
            return pm_fail(EAGAIN, "the library's tracer thread could not be "
                           "started (%s)", start_error[0] ? start_error : "not yet");
        if (pm_worker_ensure() < 0)
            return -1;
    }
    int64_t deadline = pm_now_ns() + pm_timeout_ns();
    /* The job's ptrace stops each send SIGCHLD to this process; the tracer
     * thread blocks it, so the kernel would wake this thread, asleep below,
     * to take it (three times a call, or more).  Blocked here for the wait,
     * it stays pending and is taken once, as this thread unblocks it. */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    int rc = run_job(fn, arg, deadline);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

static int run_job(int (*fn)(void *), void *arg, int64_t deadline)
{
    struct slot *s = claim(deadline);
    if (!s)
        return -1;
    s->fn = fn;
    s->arg = arg;
    s->ticket = atomic_fetch_add(&tickets, 1);
    atomic_store(&s->state, SLOT_POSTED);
    atomic_fetch_add(&posted, 1);
    pm_futex_wake(&posted, INT_MAX);

    for (;;) {
        unsigned st = atomic_load(&s->state);
        if (st == SLOT_DONE)
            break;
        if (st == SLOT_POSTED && pm_now_ns() >= deadline) {
            unsigned want = SLOT_POSTED;
            if (atomic_compare_exchange_strong(&s->state, &want, SLOT_FREE)) {
                atomic_fetch_add(&freed, 1);
                pm_futex_wake(&freed, 1);
                return pm_fail(ETIMEDOUT, "the library's tracer thread did not "
                               "take the call within %u ms (busy with earlier calls)",
                               peermap_timeout_ms());
            }
            continue; /* taken just now: it runs, and its deadline bounds it */
        }
        pm_futex_wait(&s->state, st, st == SLOT_POSTED ? deadline : 0);
    }
    int rc = s->rc, err = s->err;
    if (rc < 0 && s->reason[0])
        pm_fail_over(0, "%s", s->reason);
    release(s);
    if (rc < 0)
        errno = err;
    return rc;
}
