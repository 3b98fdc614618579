// The recipe: what `azul train` chooses when the command line does not say.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/safetensors.h"
#include "tests/test.h"
#include "train/recipe.h"

static void the_preset_follows_the_corpus_size(void **state) {
    (void)state;
    Recipe r;
    recipe_choose(&r, 372);
    assert_string_equal(r.preset, "toy");
    recipe_choose(&r, RECIPE_SMALL_FROM_PAIRS - 1);
    assert_string_equal(r.preset, "toy");
    recipe_choose(&r, RECIPE_SMALL_FROM_PAIRS);
    assert_string_equal(r.preset, "small");
    recipe_choose(&r, 114964);
    assert_string_equal(r.preset, "small");
    assert_true(r.lr > 0 && r.vocab_size > 0 && r.warmup_share > 0 && r.warmup_share < 0.5);
}

static void a_small_corpus_gets_batches_small_enough_for_several_an_epoch(void **state) {
    (void)state;
    Recipe r;
    recipe_choose(&r, 114964);
    assert_int_equal(recipe_batch_tokens(&r, 2000000), r.batch_tokens);  // plenty of batches
    // 5,000 tokens: 2,048 would give two batches, 1,024 gives four
    assert_int_equal(recipe_batch_tokens(&r, 5000), 1024);
    assert_true(5000 / recipe_batch_tokens(&r, 5000) >= RECIPE_MIN_BATCHES_PER_EPOCH);
    assert_int_equal(recipe_batch_tokens(&r, 10), 256);  // never below 256
}

static void epochs_grow_as_the_corpus_shrinks_within_bounds(void **state) {
    (void)state;
    assert_int_equal(recipe_epochs(372), (RECIPE_EXAMPLES + 371) / 372);
    assert_int_equal(recipe_epochs(114964), RECIPE_MIN_EPOCHS);
    assert_int_equal(recipe_epochs(3), RECIPE_MAX_EPOCHS);
    assert_int_equal(recipe_epochs(0), RECIPE_MAX_EPOCHS);
}

static void a_time_budget_becomes_the_steps_that_fit_it(void **state) {
    (void)state;
    // 30 minutes, 0.5 s a step, 20 validations of 2 s: (0.97 · 1800 - 40) / 0.5
    assert_int_equal(recipe_steps_for_budget(1800, 0.5, 2, 20), (long)floor((0.97 * 1800 - 40) / 0.5));
    // validations that eat the whole budget still leave one step
    assert_int_equal(recipe_steps_for_budget(10, 0.5, 5, 20), 1);
    assert_int_equal(recipe_steps_for_budget(10, 0, 0, 20), 1);
    Recipe r;
    recipe_choose(&r, 114964);
    assert_int_equal(recipe_warmup(&r, 1000), lround(r.warmup_share * 1000));
    assert_int_equal(recipe_warmup(&r, 3), 1);
    assert_int_equal(recipe_valid_every(&r, 1000), 1000 / r.validations);
    assert_int_equal(recipe_valid_every(&r, 5), 1);
}

// The run's options as saved in a model file's "training" entry.
static cJSON *training_of(const char *dir, const char *file) {
    char *path = join(dir, file);
    SafetensorsFile f;
    Error err;
    if (safetensors_read(&f, path, &err) < 0) fail_msg("%s: %s", path, err.message);
    const char *text = safetensors_metadata(&f, "training");
    if (!text) fail_msg("%s has no \"training\" entry", path);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    safetensors_free(&f);
    free(path);
    return j;
}

// The recipe's block is printed, a given flag wins and is marked so, and
// the choices are saved in the model file.
static void a_run_prints_its_recipe_and_a_given_flag_wins(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv",
                         "--valid", "data/toy-en-es/dev.tsv", "--out", dir, "--steps", "40",
                         "--lr", "3e-3", "--valid-sentences", "4"), 0);
    expect_contains(out, "recipe for 372 training pairs");
    expect_contains(out, "  model       toy, pre-LN");
    expect_contains(out, "  lr          0.003 (given), cosine down to 0 at step 40");
    expect_contains(out, "  steps       40 (");
    expect_contains(out, ") (given)\n");
    free(out);
    free(err);
    cJSON *training = training_of(dir, "model.safetensors");
    assert_true(fabs(cJSON_GetObjectItem(training, "lr")->valuedouble - 3e-3) < 1e-9);
    assert_int_equal(cJSON_GetObjectItem(training, "steps")->valuedouble, 40);
    assert_string_equal(cJSON_GetObjectItem(training, "schedule")->valuestring, "cosine");
    assert_string_equal(cJSON_GetObjectItem(training, "preset")->valuestring, "toy");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(training, "pre_ln")));
    assert_int_equal(cJSON_GetObjectItem(training, "warmup")->valuedouble, 2);  // 6% of 40
    cJSON_Delete(training);
    remove_tree(dir);
    free(dir);
}

// --time-budget: the steps are planned from a timing before training, and
// the run ends by its plan, not by the budget cutting a schedule short.
static void a_time_budget_is_planned_into_steps(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv",
                         "--valid", "data/toy-en-es/dev.tsv", "--out", dir, "--time-budget", "4s",
                         "--post-ln", "--valid-sentences", "4"), 0);
    expect_contains(out, "to fit --time-budget 4s: ");
    expect_contains(out, "post-LN (given)");
    const char *steps_line = strstr(out, "  steps       ");
    assert_non_null(steps_line);
    long planned = strtol(steps_line + strlen("  steps       "), NULL, 10);
    // the plan is what the printed timing leaves of the budget after its 20
    // validations (the timing is printed to 3 digits: within 2%; a busy
    // machine may leave room for few steps, but the rule is the same)
    double step_seconds, validation_seconds;
    const char *timing = strstr(steps_line, "to fit --time-budget 4s: ");
    assert_non_null(timing);
    assert_int_equal(sscanf(timing, "to fit --time-budget 4s: %lf s a step and %lf s a validation", &step_seconds,
                            &validation_seconds), 2);
    double expected = floor((0.97 * 4 - 20 * validation_seconds) / step_seconds);
    if (expected < 1) expected = 1;
    if (fabs((double)planned - expected) > 0.02 * expected + 1) {
        fail_msg("planned %ld steps; the timing (%g s, %g s) gives %g", planned, step_seconds, validation_seconds,
                 expected);
    }
    free(out);
    free(err);
    cJSON *training = training_of(dir, "last.safetensors");
    assert_int_equal((long)cJSON_GetObjectItem(training, "steps")->valuedouble, planned);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(training, "pre_ln")));
    cJSON_Delete(training);
    remove_tree(dir);
    free(dir);
}

static void contradicting_flags_are_usage_errors(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", dir,
                         "--pre-ln", "--post-ln"), 2);
    expect_contains(err, "--pre-ln and --post-ln contradict each other");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", dir,
                         "--tie", "--untie"), 2);
    expect_contains(err, "--tie and --untie contradict each other");
    free(out);
    free(err);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(the_preset_follows_the_corpus_size),
    cmocka_unit_test(a_small_corpus_gets_batches_small_enough_for_several_an_epoch),
    cmocka_unit_test(epochs_grow_as_the_corpus_shrinks_within_bounds),
    cmocka_unit_test(a_time_budget_becomes_the_steps_that_fit_it),
    cmocka_unit_test(a_run_prints_its_recipe_and_a_given_flag_wins),
    cmocka_unit_test(a_time_budget_is_planned_into_steps),
    cmocka_unit_test(contradicting_flags_are_usage_errors),
};
TEST_GROUP(recipe_tests, tests);
