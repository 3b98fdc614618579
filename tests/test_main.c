// The test runner: every group, then one summary line CI can read.
#include <stdio.h>

#include "tests/test.h"

int main(void) {
    const TestGroup *groups[] = {&core_tests,     &utf8_tests,     &normalize_tests, &pretokenize_tests,
                                 &tokenizer_tests, &corpus_tests,   &real_corpus_tests,
                                 &cli_tests,      &op_gradient_tests, &matmul_tests, &model_tests, &parity_tests, &optimizer_tests, &learning_tests, &train_tests, &train_fault_tests, &train_option_tests,
                                 &bleu_vector_tests, &bleu_rule_tests, &decoding_tests,
                                 &attention_tests, &browser_tests, &layer_tests, &hostile_file_tests,
                                 &hostile_input_tests};
    size_t total = 0, failed = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        const char *reason = groups[i]->unavailable ? groups[i]->unavailable() : NULL;
        if (reason) {
            printf("[ SKIPPED  ] %s: %s\n", groups[i]->name, reason);
            continue;
        }
        total += groups[i]->count;
        failed += (size_t)_cmocka_run_group_tests(groups[i]->name, groups[i]->tests,
                                                  groups[i]->count, NULL, NULL);
    }
    printf("\n%zu passed, %zu failed\n", total - failed, failed);
    return failed ? 1 : 0;
}
