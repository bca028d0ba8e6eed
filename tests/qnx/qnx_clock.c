/*
 * Timing and scheduling the QNX way: ClockCycles() measured against
 * SYSPAGE_ENTRY(qtime)->cycles_per_sec (the idiom of QNX's "measuring
 * elapsed time" examples), the rest of the qtime entry, _syspage_ptr->
 * num_cpu, _NTO_VERSION, and SchedGet()/SchedSet() on the caller's threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/neutrino.h>
#include <sys/syspage.h>
#include <time.h>
#include <unistd.h>

#include "qnx_check.h"

static double seconds_of(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void cycles(void)
{
    uint64_t cps = SYSPAGE_ENTRY(qtime)->cycles_per_sec;
    EXPECT(cps > 0);

    /* Elapsed time by ClockCycles() agrees with the system clock.  Each
     * ClockCycles() read is bracketed by two clock reads, so a preemption
     * anywhere only widens the brackets: the cycles' interval lies between
     * the inner and the outer one whatever the scheduler did.  The wait is
     * to a deadline 50 ms on, TIMER_ABSTIME: the elapsed time is what is
     * measured, not a synchronisation. */
    struct timespec t0a, t0b, t1a, t1b, until;
    clock_gettime(CLOCK_MONOTONIC, &t0a);
    uint64_t c0 = ClockCycles();
    clock_gettime(CLOCK_MONOTONIC, &t0b);
    until = t0b;
    until.tv_nsec += 50 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
    clock_gettime(CLOCK_MONOTONIC, &t1a);
    uint64_t c1 = ClockCycles();
    clock_gettime(CLOCK_MONOTONIC, &t1b);
    double by_cycles = (double)(c1 - c0) / (double)cps;
    double inner = seconds_of(&t0b, &t1a), outer = seconds_of(&t0a, &t1b);
    EXPECT(inner >= 0.05);
    /* The clocks may differ by NTP's slewing of CLOCK_MONOTONIC (at most
     * 500 ppm; ClockCycles() counts CLOCK_MONOTONIC_RAW). */
    EXPECT(by_cycles >= inner * 0.999);
    EXPECT(by_cycles <= outer * 1.001);

    /* Free-running and never backwards. */
    uint64_t prev = ClockCycles();
    for (int i = 0; i < 10000; i++) {
        uint64_t now = ClockCycles();
        if (now < prev) {
            EXPECT(now >= prev);
            break;
        }
        prev = now;
    }
}

static void qtime(void)
{
    struct timespec tod;
    struct qtime_entry *q = SYSPAGE_ENTRY(qtime);
    clock_gettime(CLOCK_REALTIME, &tod);
    uint64_t now_ns = (uint64_t)tod.tv_sec * 1000000000u + (uint64_t)tod.tv_nsec;
    uint64_t q_ns = q->nsec + q->nsec_tod_adjust;
    /* nsec (since boot) + nsec_tod_adjust is the time of day. */
    EXPECT(q_ns <= now_ns && now_ns - q_ns < 1000000000u);
    EXPECT(q->boot_time > 0 && q->boot_time <= (uint32_t)tod.tv_sec);
    EXPECT(q->nsec_inc > 0);
    EXPECT(_syspage_ptr->num_cpu >= 1);
    EXPECT_EQ(_syspage_ptr->num_cpu, sysconf(_SC_NPROCESSORS_CONF));
}

static void version(void)
{
#if _NTO_VERSION >= 700
    EXPECT(1);
#else
    EXPECT(!"_NTO_VERSION names QNX 7 or later");
#endif
}

/* A second thread to schedule, parked until told to go. */
static sem_t ready, done;
static int worker_tid;

static void *worker(void *arg)
{
    (void)arg;
    worker_tid = gettid();
    sem_post(&ready);
    sem_wait(&done);
    return NULL;
}

static void scheduling(void)
{
    struct sched_param p, q;
    int policy = SchedGet(0, 0, &p);
    EXPECT_EQ(policy, sched_getscheduler(0));
    sched_getparam(0, &q);
    EXPECT_EQ(p.sched_priority, q.sched_priority);
    EXPECT_EQ(SchedSet(0, 0, SCHED_NOCHANGE, &p), 0);

    sem_init(&ready, 0, 0);
    sem_init(&done, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    sem_wait(&ready);
    EXPECT_EQ(SchedGet(0, worker_tid, &q), policy);
    EXPECT_EQ(SchedGet(getpid(), worker_tid, &q), policy);

    /* Real-time policy on that thread: allowed for a privileged caller. */
    struct sched_param rt = { .sched_priority = 5 };
    if (SchedSet(0, worker_tid, SCHED_FIFO, &rt) == 0) {
        EXPECT_EQ(SchedGet(0, worker_tid, &q), SCHED_FIFO);
        EXPECT_EQ(q.sched_priority, 5);
        /* The caller's own thread is untouched. */
        EXPECT_EQ(SchedGet(0, 0, &q), policy);
        struct sched_param zero = { .sched_priority = 0 };
        EXPECT_EQ(SchedSet(0, worker_tid, SCHED_OTHER, &zero), 0);
    } else {
        EXPECT_EQ(errno, EPERM);   /* no CAP_SYS_NICE (nor RLIMIT_RTPRIO) here */
    }
    /* Linux's SCHED_OTHER has one priority only. */
    struct sched_param ten = { .sched_priority = 10 };
    EXPECT_EQ(SchedSet(0, worker_tid, SCHED_OTHER, &ten), -1);
    EXPECT_EQ(errno, EINVAL);

    sem_post(&done);
    pthread_join(t, NULL);

    /* A thread that is not ours. */
    EXPECT_EQ(SchedGet(0, 1, &q), -1);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_EQ(SchedSet(0, 1, SCHED_NOCHANGE, &p), -1);
    EXPECT_EQ(errno, ESRCH);
}

int main(void)
{
    alarm(30);
    cycles();
    qtime();
    version();
    scheduling();
    return qnx_result("qnx_clock");
}
