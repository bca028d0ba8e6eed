#include "harness.h"

struct pm_test pm_tests[PM_MAX_TESTS];
int pm_ntests, pm_cur_failed;

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
    int passed = 0, failed = 0, skipped = 0;
    const char *only = argc > 1 ? argv[1] : NULL;
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
        pm_cur_failed = 0;
        fprintf(stderr, "[ RUN  ] %s\n", pm_tests[i].name);
        pm_tests[i].fn();
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
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
