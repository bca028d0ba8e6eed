/*
 * bench_timer: how accurately a periodic QNX timer delivers its pulses
 * (timer_create() with SIGEV_PULSE, received with MsgReceive()), against a
 * periodic timerfd read directly - the kernel's own timer, with no library
 * in between - in the same run, for a 1 ms and a 10 ms period.
 *
 *   bench_timer [--caller-cpu C] [-n PERIODS] [-w WARMUP] [--markdown]
 *
 * Each timer is armed at an absolute time T0 with period P, so expiry k is
 * due at T0 + k*P; the receiver takes CLOCK_MONOTONIC as soon as it has the
 * pulse (or the timerfd's read returns).  Per timer and period it reports:
 *   - period error: mean interval between deliveries, minus P (drift);
 *   - jitter: the standard deviation of those intervals;
 *   - lateness: delivery time - due time, median and p99 (what a program
 *     waiting for its tick sees).
 * -n is the number of 1 ms periods measured (default 2000; the 10 ms timer
 * gets a tenth as many, at least 100), after -w warm-up periods (default
 * 50, a tenth for 10 ms).  Output: "name median_us p99_us n" lines of the
 * lateness (stats.h), and '#' lines with the period error and jitter; with
 * --markdown, the table BENCHMARKS.md records instead.
 */
#define PEERMAP_NO_QNX_NAMES
#include <peermap_qnx.h>

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "stats.h"

struct result {
    const char *timer;
    unsigned period_us;
    double err_us, jitter_us, late_med_us, late_p99_us;
    size_t n;
};

static void die(const char *what)
{
    fprintf(stderr, "bench_timer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t arm_at(uint64_t period_ns)
{
    /* Start 20 periods from now: the first expiry is not a cold one. */
    return bench_now_ns() + 20 * period_ns;
}

/* From arrival times t[0..n) of expiries due at t0 + (k + first) * P. */
static struct result summarize(const char *timer, uint64_t p, const uint64_t *t, size_t n,
                               uint64_t t0, size_t first)
{
    struct result r = { .timer = timer, .period_us = (unsigned)(p / 1000), .n = n };
    double sum = 0, sq = 0;
    for (size_t k = 1; k < n; k++) {
        double d = (double)(t[k] - t[k - 1]);
        sum += d;
        sq += d * d;
    }
    double mean = sum / (double)(n - 1);
    r.err_us = (mean - (double)p) / 1000.0;
    r.jitter_us = sqrt(sq / (double)(n - 1) - mean * mean) / 1000.0;
    struct samples late;
    samples_init(&late, n);
    for (size_t k = 0; k < n; k++) {
        uint64_t due = t0 + (first + k) * p;
        samples_add(&late, t[k] > due ? t[k] - due : 0);
    }
    char name[64];
    snprintf(name, sizeof name, "timer_%uus_%s_late", r.period_us, timer);
    r.late_med_us = samples_median_us(&late);
    r.late_p99_us = (double)late.ns[(size_t)ceil(0.99 * (double)n) - 1] / 1000.0;
    samples_report(&late, name);
    samples_free(&late);
    printf("# %s: period error %+.2f us, jitter %.2f us over %zu deliveries\n", name,
           r.err_us, r.jitter_us, n);
    return r;
}

static struct result run_timerfd(uint64_t p, size_t warm, size_t n)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (fd < 0)
        die("timerfd_create");
    uint64_t t0 = arm_at(p);
    struct itimerspec its = { .it_value = { (time_t)(t0 / 1000000000u), (long)(t0 % 1000000000u) },
                              .it_interval = { 0, (long)p } };
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime");
    uint64_t *t = malloc(n * sizeof *t);
    size_t k = 0, seen = 0;
    while (k < n) {
        uint64_t c;
        if (read(fd, &c, sizeof c) != sizeof c)
            die("read timerfd");
        uint64_t now = bench_now_ns();
        for (uint64_t i = 0; i < c; i++, seen++) /* late: several at once */
            if (seen >= warm && k < n)
                t[k++] = now;
    }
    close(fd);
    struct result r = summarize("timerfd", p, t, n, t0, warm);
    free(t);
    return r;
}

static struct result run_pulse(uint64_t p, size_t warm, size_t n)
{
    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    if (chid < 0 || coid < 0)
        die("channel");
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, coid, SIGEV_PULSE_PRIO_INHERIT, 1, 0);
    timer_t tid;
    if (pm_timer_create(CLOCK_MONOTONIC, &ev, &tid) < 0)
        die("timer_create(SIGEV_PULSE)");
    uint64_t t0 = arm_at(p);
    struct itimerspec its = { .it_value = { (time_t)(t0 / 1000000000u), (long)(t0 % 1000000000u) },
                              .it_interval = { 0, (long)p } };
    if (pm_timer_settime(tid, TIMER_ABSTIME, &its, NULL) < 0)
        die("timer_settime");
    uint64_t *t = malloc(n * sizeof *t);
    size_t k = 0;
    for (size_t i = 0; k < n; i++) {
        struct _pulse pulse;
        if (MsgReceive(chid, &pulse, sizeof pulse, NULL) != 0)
            die("MsgReceive");
        uint64_t now = bench_now_ns();
        if (i >= warm)
            t[k++] = now;
    }
    if (pm_timer_getoverrun(tid) != 0)
        fprintf(stderr, "bench_timer: %d pulses could not be queued\n", pm_timer_getoverrun(tid));
    pm_timer_delete(tid);
    ConnectDetach(coid);
    ChannelDestroy(chid);
    struct result r = summarize("pulse", p, t, n, t0, warm);
    free(t);
    return r;
}

int main(int argc, char **argv)
{
    int cpu = -1, markdown = 0;
    size_t n = 2000, warm = 50;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--caller-cpu") && i + 1 < argc)
            cpu = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--target-cpu") && i + 1 < argc)
            i++; /* run.sh passes it to every benchmark: no target here */
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "-w") && i + 1 < argc)
            warm = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--markdown"))
            markdown = 1;
        else {
            fprintf(stderr, "usage: bench_timer [--caller-cpu C] [-n N] [-w W] [--markdown]\n");
            return 2;
        }
    }
    if (n < 100)
        n = 100;
    if (cpu >= 0) {
        /* The library's timer thread is created by this thread: it inherits
         * the pinning, so both sides share the CPU, as timerfd's do. */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            die("sched_setaffinity");
    }
    FILE *real = stdout;
    if (markdown) /* the sample lines go nowhere; the table is the output */
        stdout = fopen("/dev/null", "w");
    struct result r[4];
    r[0] = run_timerfd(1000000, warm, n);
    r[1] = run_pulse(1000000, warm, n);
    size_t n10 = n / 10 < 100 ? 100 : n / 10, w10 = warm / 10 ? warm / 10 : 1;
    r[2] = run_timerfd(10000000, w10, n10);
    r[3] = run_pulse(10000000, w10, n10);
    if (!markdown)
        return 0;
    stdout = real;
    printf("| timer | period | period error µs | jitter µs | lateness median µs | "
           "lateness p99 µs | n |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < 4; i++)
        printf("| %s | %u µs | %+.2f | %.2f | %.1f | %.1f | %zu |\n",
               !strcmp(r[i].timer, "pulse") ? "timer_create(SIGEV_PULSE) + MsgReceive()"
                                            : "timerfd + read() (the floor)",
               r[i].period_us, r[i].err_us, r[i].jitter_us, r[i].late_med_us,
               r[i].late_p99_us, r[i].n);
    printf("\n| ratio (pulse / timerfd) | 1 ms | 10 ms |\n| --- | ---: | ---: |\n");
    printf("| jitter | %.2f | %.2f |\n", r[1].jitter_us / r[0].jitter_us,
           r[3].jitter_us / r[2].jitter_us);
    printf("| lateness median | %.2f | %.2f |\n", r[1].late_med_us / r[0].late_med_us,
           r[3].late_med_us / r[2].late_med_us);
    printf("| lateness p99 | %.2f | %.2f |\n", r[1].late_p99_us / r[0].late_p99_us,
           r[3].late_p99_us / r[2].late_p99_us);
    return 0;
}
