// The test runner: every group, then one summary line CI can read:
// "N passed, N failed, N skipped".
//
// A group that cannot run here (no Chromium, no ../shared beside the
// checkout) is skipped with its reason on a developer's machine.  Under CI
// (CI=true, as CI runners set it) a skipped group counts as failed instead:
// CI installs Chromium and lays ../shared beside the clone, so a skip there
// means a check silently stopped running.
//
// AZUL_TEST_GROUP=name runs that group alone (while working on it); the
// others are then neither run nor counted.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cpu_kernel.h"
#include "tests/test.h"

static int running_under_ci(void) {
    const char *ci = getenv("CI");
    return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

int main(void) {
    const TestGroup *groups[] = {&core_tests,     &utf8_tests,     &normalize_tests, &pretokenize_tests,
                                 &tokenizer_tests, &corpus_tests,   &real_corpus_tests,
                                 &cli_tests,      &op_gradient_tests, &matmul_tests, &model_tests, &parity_tests, &optimizer_tests, &learning_tests, &train_tests, &train_fault_tests, &train_option_tests, &recipe_tests, &average_tests,
                                 &bleu_vector_tests, &bleu_rule_tests, &decoding_tests,
                                 &attention_tests, &browser_tests, &serve_tests, &playground_tests, &mpi_tests, &layer_tests, &hostile_file_tests,
                                 &hostile_input_tests, &data_parallel_tests};
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
    const char *only = getenv("AZUL_TEST_GROUP");
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (only && *only && strcmp(only, groups[i]->name) != 0) continue;
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
        size_t group_failed = (size_t)_cmocka_run_group_tests(groups[i]->name, groups[i]->tests,
                                                              groups[i]->count, NULL, NULL);
        failed += group_failed;
        passed += groups[i]->count - group_failed;
    }
    printf("\n%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
