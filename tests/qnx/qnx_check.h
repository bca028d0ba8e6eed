/*
 * The one helper the QNX-style test programs share: report a failed
 * expectation and remember it, so that each program runs to its end and
 * exits 1 if anything was wrong.  Deliberately small and QNX-neutral (it
 * uses only what every C library has), so that the programs themselves
 * read as the QNX code they stand for.
 */
#ifndef QNX_CHECK_H
#define QNX_CHECK_H

#include <stdio.h>

static int qnx_failures;

#define EXPECT(cond)                                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            qnx_failures++;                                                \
        }                                                                  \
    } while (0)

#define EXPECT_EQ(a, b)                                                    \
    do {                                                                   \
        long long qa_ = (long long)(a), qb_ = (long long)(b);              \
        if (qa_ != qb_) {                                                  \
            fprintf(stderr, "%s:%d: %s is %lld, expected %s (%lld)\n",     \
                    __FILE__, __LINE__, #a, qa_, #b, qb_);                 \
            qnx_failures++;                                                \
        }                                                                  \
    } while (0)

static inline int qnx_result(const char *name)
{
    if (qnx_failures)
        fprintf(stderr, "%s: %d expectation(s) failed\n", name, qnx_failures);
    else
        printf("%s: all expectations met\n", name);
    return qnx_failures ? 1 : 0;
}

#endif
