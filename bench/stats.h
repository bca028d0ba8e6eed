/*
 * Timing samples for the benchmarks, and the one output format they share.
 *
 * Every benchmark stores one sample per timed call (no running averages: the
 * median and the tail are what matter on a noisy VM), then prints one line
 *
 *     name median_us p99_us n
 *
 * per measurement.  bench/run.sh reads those lines; anything else a
 * benchmark prints starts with '#' so that it can be told apart.
 */
#ifndef PEERMAP_BENCH_STATS_H
#define PEERMAP_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds (vDSO: no system call, ~20-50 ns). */
uint64_t bench_now_ns(void);

struct samples {
    uint64_t *ns;
    size_t n, cap;
};

/* Room for `cap` samples, allocated up front so that recording a sample
 * never allocates inside a timed loop.  Aborts when out of memory. */
void samples_init(struct samples *s, size_t cap);
void samples_free(struct samples *s);

/* Record one duration.  Aborts if more than `cap` are recorded: that is a
 * bug in the benchmark, not something to paper over. */
void samples_add(struct samples *s, uint64_t ns);

/* Sort the samples and print "name median_us p99_us n" on stdout.
 * Median: the mean of the two middle samples for an even count.  p99: the
 * nearest-rank 99th percentile (the smallest sample with at least 99% of all
 * samples at or below it), so with 10 samples it is the largest. */
void samples_report(struct samples *s, const char *name);

/* The median in microseconds (sorts the samples). */
double samples_median_us(struct samples *s);

#endif
