#include "harness.h"

struct pm_test pm_tests[PM_MAX_TESTS];
int pm_ntests, pm_cur_failed;

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    const char *only = argc > 1 ? argv[1] : NULL;

    /* Tests write progress to stderr; keep the two streams in order. */
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < pm_ntests; i++) {
        if (only && strcmp(only, pm_tests[i].name) != 0)
            continue;
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
