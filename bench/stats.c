#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "target.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void samples_init(struct samples *s, size_t cap)
{
    s->ns = calloc(cap ? cap : 1, sizeof *s->ns);
    if (!s->ns)
        bench_die("out of memory for %zu samples", cap);
    s->n = 0;
    s->cap = cap;
}

void samples_free(struct samples *s)
{
    free(s->ns);
    s->ns = NULL;
    s->n = s->cap = 0;
}

void samples_add(struct samples *s, uint64_t ns)
{
    if (s->n >= s->cap)
        bench_die("more samples than the %zu planned", s->cap);
    s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_ns(const struct samples *s)
{
    size_t m = s->n / 2;
    if (s->n % 2)
        return (double)s->ns[m];
    return ((double)s->ns[m - 1] + (double)s->ns[m]) / 2.0;
}

double samples_median_us(struct samples *s)
{
    if (s->n == 0)
        bench_die("median of no samples");
    qsort(s->ns, s->n, sizeof *s->ns, cmp_u64);
    return median_ns(s) / 1000.0;
}

void samples_report(struct samples *s, const char *name)
{
    if (s->n == 0)
        bench_die("%s: no samples", name);
    qsort(s->ns, s->n, sizeof *s->ns, cmp_u64);
    /* Nearest rank: ceil(0.99 * n), 1-based; integer arithmetic avoids a
     * floating-point ceil landing one rank off. */
    size_t rank = (s->n * 99 + 99) / 100;
    double p99 = (double)s->ns[rank - 1];
    printf("%s %.2f %.2f %zu\n", name, median_ns(s) / 1000.0, p99 / 1000.0, s->n);
    fflush(stdout);
}
