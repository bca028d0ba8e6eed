/*
 * A very small test harness: each tests/test_*.c is one executable holding
 * several TEST()s, run in order.  A failed CHECK() reports file:line and the
 * failing expression, the test goes on to its end, and the program exits 1.
 * The last line is "N passed, N failed" so that any runner can read it.
 */
#ifndef PEERMAP_TEST_HARNESS_H
#define PEERMAP_TEST_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pm_test { const char *name; void (*fn)(void); };

#define PM_MAX_TESTS 128
extern struct pm_test pm_tests[PM_MAX_TESTS];
extern int pm_ntests, pm_cur_failed;
/* Run after each test, its CHECKs counting for that test (NULL: none). */
extern void (*pm_after_each)(void);

/* Every TEST() runs in a process of its own under CTest, so a test must not
 * depend on what an earlier one left; what several tests share is checked
 * after each of them:  AFTER_EACH(name) { ... }  */
#define AFTER_EACH(name)                                                   \
    static void after_##name(void);                                        \
    __attribute__((constructor)) static void register_after_##name(void)  \
    {                                                                      \
        pm_after_each = after_##name;                                      \
    }                                                                      \
    static void after_##name(void)

#define TEST(name)                                                         \
    static void test_##name(void);                                         \
    __attribute__((constructor)) static void register_##name(void)        \
    {                                                                      \
        if (pm_ntests < PM_MAX_TESTS)                                      \
            pm_tests[pm_ntests++] = (struct pm_test){ #name, test_##name }; \
    }                                                                      \
    static void test_##name(void)

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed (errno %d: %s)\n",  \
                    __FILE__, __LINE__, #cond, errno, strerror(errno));    \
            pm_cur_failed = 1;                                             \
        }                                                                  \
    } while (0)

/* A CHECK that makes the rest of the test meaningless when it fails. */
#define REQUIRE(cond)                                                      \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "  %s:%d: REQUIRE(%s) failed (errno %d: %s)\n",\
                    __FILE__, __LINE__, #cond, errno, strerror(errno));    \
            pm_cur_failed = 1;                                             \
            return;                                                        \
        }                                                                  \
    } while (0)

#define CHECK_EQ_LONG(a, b)                                                \
    do {                                                                   \
        long pm_a_ = (long)(a), pm_b_ = (long)(b);                         \
        if (pm_a_ != pm_b_) {                                              \
            fprintf(stderr, "  %s:%d: %s == %ld, expected %s == %ld\n",    \
                    __FILE__, __LINE__, #a, pm_a_, #b, pm_b_);             \
            pm_cur_failed = 1;                                             \
        }                                                                  \
    } while (0)

/* Skip the current test (counted as skipped, not passed) with a reason. */
#define SKIP(...)                                                          \
    do {                                                                   \
        fprintf(stderr, "  skipped: ");                                    \
        fprintf(stderr, __VA_ARGS__);                                      \
        fprintf(stderr, "\n");                                             \
        pm_cur_failed = -1;                                                \
        return;                                                            \
    } while (0)

#endif
