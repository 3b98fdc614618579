// The test runner: every group, then one summary line CI can read:
// "N passed, N failed, N skipped".
//
// A group that cannot run here (no Chromium, no ../shared beside the
// checkout) is skipped with its reason on a developer's machine.  Under CI
// (CI=true, as CI runners set it) a skipped group counts as failed instead:
// CI installs Chromium and lays ../shared beside the clone, so a skip there
// means a check silently stopped running.
//
// AZUL_TEST_GROUP=name runs that group alone (while working on it), and
// AZUL_TEST_GROUP=a,b,c those groups; the others are then neither run nor
// counted.  AZUL_TEST_SKIP=test,test leaves those tests out of the groups
// that run, each reported and counted as skipped (tools/cross_arm64.sh
// leaves out the tests that would take minutes under emulation).  A name in
// either list that no group or test has fails.  AZUL_TEST_WITHOUT_PROGRAM=1
// skips the tests that start bin/azul (tests/test.h).
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/cpu_kernel.h"
#include "tests/test.h"

static int running_under_ci(void) {
    const char *ci = getenv("CI");
    return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

// Whether `name` is one of the comma-separated names in `list` (NULL: none).
static bool listed(const char *list, const char *name) {
    const size_t length = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        const size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == length && strncmp(p, name, n) == 0) return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

// The first name in `list` for which `known` is false, copied into `out`
// (size `size`), or NULL when every name is known.
static const char *first_unknown(const char *list, bool (*known)(const char *name), char *out,
                                 size_t size) {
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        const size_t n = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(out, size, "%.*s", (int)n, p);
        if (n > 0 && !known(out)) return out;
        p = comma ? comma + 1 : NULL;
    }
    return NULL;
}

static const TestGroup *const groups[] = {
    &core_tests,        &utf8_tests,        &normalize_tests,    &pretokenize_tests,
    &tokenizer_tests,   &corpus_tests,      &real_corpus_tests,  &cli_tests,
    &op_gradient_tests, &matmul_tests,      &model_tests,        &parity_tests,
    &optimizer_tests,   &learning_tests,    &train_tests,        &train_fault_tests,
    &train_option_tests, &recipe_tests,     &average_tests,      &bleu_vector_tests,
    &bleu_rule_tests,   &decoding_tests,    &attention_tests,    &browser_tests,
    &serve_tests,       &playground_tests,  &mpi_tests,          &layer_tests,
    &hostile_file_tests, &hostile_input_tests, &data_parallel_tests};
enum { N_GROUPS = sizeof groups / sizeof groups[0] };

static bool is_group(const char *name) {
    for (size_t i = 0; i < N_GROUPS; i++) {
        if (strcmp(groups[i]->name, name) == 0) return true;
    }
    return false;
}

static bool is_test(const char *name) {
    for (size_t i = 0; i < N_GROUPS; i++) {
        for (size_t t = 0; t < groups[i]->count; t++) {
            if (strcmp(groups[i]->tests[t].name, name) == 0) return true;
        }
    }
    return false;
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Each test's time, printed for those over a second (where CI's minutes go):
// cmocka's per-test setup and teardown, with the test's name as its state
// (no test reads its state).
static double test_started;

static int start_timing(void **state) {
    (void)state;
    test_started = seconds_now();
    return 0;
}

static int report_timing(void **state) {
    const double seconds = seconds_now() - test_started;
    if (seconds >= 1.0) printf("[   TIME   ] %s: %.1f s\n", (const char *)*state, seconds);
    return 0;
}

// Runs the group's tests but those named in `skip`; adds to the counts.
static void run_group(const TestGroup *g, const char *skip, size_t *passed, size_t *failed,
                      size_t *skipped) {
    struct CMUnitTest *kept = malloc((g->count ? g->count : 1) * sizeof *kept);
    if (!kept) {
        printf("[  FAILED  ] %s: out of memory\n", g->name);
        *failed += g->count;
        return;
    }
    size_t n = 0;
    for (size_t t = 0; t < g->count; t++) {
        if (listed(skip, g->tests[t].name)) {
            printf("[ SKIPPED  ] %s: %s (AZUL_TEST_SKIP)\n", g->name, g->tests[t].name);
            (*skipped)++;
        } else {
            kept[n] = g->tests[t];
            kept[n].setup_func = start_timing;
            kept[n].teardown_func = report_timing;
            kept[n++].initial_state = (void *)g->tests[t].name;
        }
    }
    if (n > 0) {
        const size_t skipped_before = tests_skipped_without_the_program;
        size_t group_failed = (size_t)_cmocka_run_group_tests(g->name, kept, n, NULL, NULL);
        // cmocka counts a skipped test as neither failed nor passed
        const size_t group_skipped = tests_skipped_without_the_program - skipped_before;
        *failed += group_failed;
        *skipped += group_skipped;
        *passed += n - group_failed - group_skipped;
    }
    free(kept);
}

int main(void) {
    // AZUL_KERNEL runs the suite on one matmul path (CI runs the numeric
    // groups once per path its machine has); a path this CPU lacks fails.
    Error err;
    if (kernel_path_choose_from_environment(&err) != 0) {
        printf("[  FAILED  ] %s\n\n0 passed, 1 failed, 0 skipped\n", err.message);
        return 1;
    }
    printf("matmul kernels: %s\n", kernel_path_name(kernel_path_current()));
    const int ci = running_under_ci();
    size_t passed = 0, failed = 0, skipped = 0;
    const char *only = getenv("AZUL_TEST_GROUP"), *skip = getenv("AZUL_TEST_SKIP");
    char name[256];
    const char *kind = first_unknown(only, is_group, name, sizeof name)  ? "group"
                       : first_unknown(skip, is_test, name, sizeof name) ? "test"
                                                                         : NULL;
    if (kind) {
        printf("[  FAILED  ] there is no %s called '%s'\n\n0 passed, 1 failed, 0 skipped\n", kind, name);
        return 1;
    }
    for (size_t i = 0; i < N_GROUPS; i++) {
        if (only && *only && !listed(only, groups[i]->name)) continue;
        const char *reason = groups[i]->unavailable ? groups[i]->unavailable() : NULL;
        if (reason && ci) {
            printf("[  FAILED  ] %s: cannot run under CI (CI=true): %s\n", groups[i]->name, reason);
            failed += groups[i]->count;
            continue;
        }
        if (reason) {
            printf("[ SKIPPED  ] %s: %s\n", groups[i]->name, reason);
            skipped += groups[i]->count;
            continue;
        }
        // the time per group says where the suite's minutes go (CI's budget)
        const double start = seconds_now();
        run_group(groups[i], skip, &passed, &failed, &skipped);
        printf("[   TIME   ] %s: %.1f s\n", groups[i]->name, seconds_now() - start);
    }
    printf("\n%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
