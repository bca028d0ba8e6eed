#include "harness.h"

#include <stdbool.h>

struct pm_test pm_tests[PM_MAX_TESTS];
int pm_ntests, pm_cur_failed;
void (*pm_after_each)(void);

/*
 * Exit status, read by CTest (tests/CMakeLists.txt registers every TEST()
 * as a test of its own, run as "test_x NAME", with SKIP_RETURN_CODE 77):
 *   1   a test failed (or the command line was wrong)
 *   77  nothing failed and nothing passed: every test that ran was skipped,
 *       so CTest shows it as skipped, not passed
 *   0   otherwise
 */
enum { EXIT_PASSED = 0, EXIT_FAILED = 1, EXIT_SKIPPED = 77 };

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--list | TEST]\n", prog);
    return EXIT_FAILED;
}

/* CMake finds the TEST()s by reading the source; the program knows which it
 * holds.  Should the two disagree (a TEST() written where the scan does not
 * look), some tests would silently never run: fail every one instead. */
static bool count_agrees(void)
{
    const char *want = getenv("PEERMAP_TEST_COUNT");
    if (!want || atoi(want) == pm_ntests)
        return true;
    fprintf(stderr, "  CMake found %s TEST()s in this program's source, the program holds "
            "%d: write each TEST(name) at the start of a line\n", want, pm_ntests);
    return false;
}

/* Whether `name` is a word of the space-separated list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0, ran = 0;
    const char *only = NULL;

    if (argc > 2)
        return usage(argv[0]);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < pm_ntests; i++)
            printf("%s\n", pm_tests[i].name);
        return EXIT_PASSED;
    }
    if (argc == 2) {
        if (argv[1][0] == '-')
            return usage(argv[0]);
        only = argv[1];
    }
    if (pm_ntests == PM_MAX_TESTS) {
        fprintf(stderr, "more than %d TEST()s in one program: raise PM_MAX_TESTS\n",
                PM_MAX_TESTS - 1);
        return EXIT_FAILED;
    }
    if (!count_agrees())
        return EXIT_FAILED;
    /* The suite grants PROCMGR_AID_MEM_PEER through the environment, as a
     * QNX parent would before spawning a non-root child; run by hand
     * without it, many tests fail with EPERM, so say why up front. */
    if (geteuid() != 0 && !getenv("PEERMAP_ABILITIES"))
        fprintf(stderr, "note: not root and PEERMAP_ABILITIES is not set: tests that map "
                "into other processes will fail with EPERM (ctest sets "
                "PEERMAP_ABILITIES=mem_peer)\n");
    /* Tests a run leaves out, counted as skipped (the emulated aarch64 stage
     * names the ones with a known hang there: .ci/aarch64/run). */
    const char *skip = getenv("PEERMAP_TEST_SKIP");

    /* Tests write progress to stderr; keep the two streams in order. */
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < pm_ntests; i++) {
        if (only && strcmp(only, pm_tests[i].name) != 0)
            continue;
        if (skip && listed(skip, pm_tests[i].name)) {
            skipped++;
            fprintf(stderr, "[ SKIP ] %s (PEERMAP_TEST_SKIP)\n", pm_tests[i].name);
            continue;
        }
        ran++;
        pm_cur_failed = 0;
        fprintf(stderr, "[ RUN  ] %s\n", pm_tests[i].name);
        pm_tests[i].fn();
        if (pm_after_each) {
            /* A skipped test that left something behind still fails. */
            int before = pm_cur_failed;
            pm_cur_failed = 0;
            pm_after_each();
            if (pm_cur_failed <= 0)
                pm_cur_failed = before;
        }
        if (pm_cur_failed > 0) {
            failed++;
            fprintf(stderr, "[ FAIL ] %s\n", pm_tests[i].name);
        } else if (pm_cur_failed < 0) {
            skipped++;
            fprintf(stderr, "[ SKIP ] %s\n", pm_tests[i].name);
        } else {
            passed++;
            fprintf(stderr, "[  OK  ] %s\n", pm_tests[i].name);
        }
    }
    if (only && !ran) {
        /* A renamed or removed test must not pass by running nothing. */
        fprintf(stderr, "no test named '%s' in %s (--list shows them)\n", only, argv[0]);
        return EXIT_FAILED;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (failed)
        return EXIT_FAILED;
    return passed == 0 && skipped > 0 ? EXIT_SKIPPED : EXIT_PASSED;
}
