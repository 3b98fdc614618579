// The recipe: what `azul train` chooses when the command line does not say.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "model/safetensors.h"
#include "tests/test.h"
#include "train/length_penalty.h"
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

// The seconds a plan takes as recipe_steps_for_budget counts them: a
// validation every valid_every steps (the recipe's interval for 0) and one
// at the end unless the last step has one.
static double plan_seconds(const Recipe *r, long steps, double step, double validation, long valid_every) {
    long every = valid_every > 0 ? valid_every : recipe_valid_every(r, steps);
    return (double)steps * step + (double)(steps / every + (steps % every != 0)) * validation;
}

// The steps chosen fit in 97% of the seconds given, and one more would
// not; a plan of the recipe's validations is about what the budget leaves
// after 20 of them.
static void expect_the_most_steps_that_fit(const Recipe *r, double seconds, double step, double validation,
                                           long valid_every) {
    long steps = recipe_steps_for_budget(r, seconds, step, validation, valid_every);
    if (steps > 1 && plan_seconds(r, steps, step, validation, valid_every) > 0.97 * seconds) {
        fail_msg("%ld steps take %g s, more than 97%% of %g s", steps,
                 plan_seconds(r, steps, step, validation, valid_every), seconds);
    }
    if (plan_seconds(r, steps + 1, step, validation, valid_every) <= 0.97 * seconds) {
        fail_msg("%ld steps fit in %g s, but %ld were planned", steps + 1, seconds, steps);
    }
}

static void a_time_budget_becomes_the_steps_that_fit_it(void **state) {
    (void)state;
    Recipe r;
    recipe_choose(&r, 114964);
    // 30 minutes, 0.5 s a step, validations of 2 s: about (0.97 · 1800 - 21 · 2) / 0.5, with the one
    // at the end that the last step (3,408 is not a multiple of 170) does not have
    assert_int_equal(recipe_steps_for_budget(&r, 1800, 0.5, 2, 0), 3408);
    expect_the_most_steps_that_fit(&r, 1800, 0.5, 2, 0);
    expect_the_most_steps_that_fit(&r, 1800, 0.5, 2, 100);  // --valid-every 100: 35 validations
    // A short plan validates after every step (fewer than 20 steps) or
    // every other (fewer than 60): more than 20 validations, which must fit too.
    expect_the_most_steps_that_fit(&r, 10, 0.05, 0.3, 0);
    assert_true(plan_seconds(&r, recipe_steps_for_budget(&r, 10, 0.05, 0.3, 0), 0.05, 0.3, 0) <= 9.7);
    expect_the_most_steps_that_fit(&r, 30, 0.05, 0.3, 0);
    // validations that eat the whole budget still leave one step
    assert_int_equal(recipe_steps_for_budget(&r, 10, 0.5, 20, 0), 1);
    assert_int_equal(recipe_steps_for_budget(&r, 10, 0, 0, 0), 1);
    assert_int_equal(recipe_steps_for_budget(&r, -5, 0.5, 2, 0), 1);
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

// The timing and the budget's split that the plan block printed.
typedef struct {
    long steps;
    double step_seconds, validation_seconds, start_up, end_reserve;
} PrintedPlan;

static PrintedPlan printed_plan(const char *out, const char *budget) {
    PrintedPlan plan;
    const char *steps_line = strstr(out, "  steps       ");
    if (!steps_line) fail_msg("no steps line in:\n%s", out);
    plan.steps = strtol(steps_line + strlen("  steps       "), NULL, 10);
    char fit[64];
    snprintf(fit, sizeof fit, "to fit --time-budget %s: ", budget);
    const char *timing = strstr(steps_line, fit);
    if (!timing || sscanf(timing + strlen(fit), "%lf s a step and %lf s a validation", &plan.step_seconds,
                          &plan.validation_seconds) != 2) {
        fail_msg("no timing in:\n%s", out);
    }
    const char *budget_line = strstr(out, "  budget      ");
    if (!budget_line || sscanf(budget_line, "  budget      %lf s went on start-up (data, tokenizers, timing); %lf s "
                                            "kept for the end of the run: ", &plan.start_up, &plan.end_reserve) != 2) {
        fail_msg("no budget line in:\n%s", out);
    }
    return plan;
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
    // the plan is what the printed timing leaves of the budget after start-up
    // and the end of the run (the figures are printed rounded: the plan must
    // lie between what their bounds give; a busy machine may leave room for
    // few steps, but the rule is the same)
    PrintedPlan p = printed_plan(out, "4s");
    Recipe r;
    recipe_choose(&r, 372);
    const long fewest = recipe_steps_for_budget(&r, 4 - (p.start_up + 0.05) - (p.end_reserve + 0.05),
                                                p.step_seconds * 1.005, p.validation_seconds * 1.005, 0);
    const long most = recipe_steps_for_budget(&r, 4 - (p.start_up - 0.05) - (p.end_reserve - 0.05),
                                              p.step_seconds * 0.995, p.validation_seconds * 0.995, 0);
    if (p.steps < fewest - 1 || p.steps > most + 1) {
        fail_msg("planned %ld steps; the timing (%g s, %g s, start-up %g s, end %g s) gives %ld to %ld", p.steps,
                 p.step_seconds, p.validation_seconds, p.start_up, p.end_reserve, fewest, most);
    }
    free(out);
    free(err);
    cJSON *training = training_of(dir, "last.safetensors");
    assert_int_equal((long)cJSON_GetObjectItem(training, "steps")->valuedouble, p.steps);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(training, "pre_ln")));
    cJSON_Delete(training);
    remove_tree(dir);
    free(dir);
}

// A time budget is the whole run's: start-up, training, averaging and the
// length penalty's search end within it.  Before, the budget went to the
// steps alone, and the end came after it: on spa-eng's 2,000 dev pairs an
// untrained model's search alone took half an hour.  Here the training
// pairs are the dev pairs, 372 of them, whose search at every alpha takes
// longer than the budget, and --valid-sentences 0 measures no greedy BLEU,
// so the search is not skipped as not worth it: it must stop in time.
static void a_time_budget_includes_the_end_of_the_run(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    const double budget = 8;
    const double start = monotonic_seconds();
    int status = RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                     "data/toy-en-es/train.tsv", "--out", dir, "--time-budget", "8s", "--valid-sentences", "0",
                     "--threads", "1");
    const double took = monotonic_seconds() - start;
    if (status != 0) fail_msg("train failed (%d):\n%s\n%s", status, out, err);
    PrintedPlan p = printed_plan(out, "8s");
    assert_true(p.end_reserve > 0 && p.start_up > 0);
    expect_contains(out, "s to validate the checkpoints' mean, ");
    expect_contains(out, "choosing the length penalty: beam 4 at 7 alphas on 372 dev pairs, for at most ");
    expect_contains(out, "(the time budget)");
    // the search stopped by the budget, or (a fast machine) ended in it
    if (!strstr(out, "length penalty searched on the first ") && !strstr(out, "length penalty not chosen: ") &&
        !strstr(out, "length penalty, by the best model's beam-4 BLEU")) {
        fail_msg("no length penalty line:\n%s", out);
    }
    // the process ends within its budget, with a second (and a tenth of it)
    // for what the budget does not see: starting the program, saving the
    // model after the search, exiting
    if (took > budget * 1.1 + 1) fail_msg("a run of --time-budget 8s took %.2f s:\n%s", took, out);
    free(out);
    free(err);
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

// What a budget keeps for the end: a validation for the average, and the
// length penalty's search up to its share.
static void a_time_budget_keeps_time_for_the_end_of_the_run(void **state) {
    (void)state;
    const double end = LENGTH_PENALTY_END_SECONDS;
    EndReserve r = recipe_end_reserve(1800, 12, true, 100);
    assert_true(r.average == 12 && r.search == 100 && r.end == end && fabs(r.total - (112 + end)) < 1e-9);
    r = recipe_end_reserve(1800, 12, false, 100);
    assert_true(r.average == 0 && fabs(r.total - (100 + end)) < 1e-9);
    // a search estimated at more than its share gets its share, and takes the dev pairs that fit
    r = recipe_end_reserve(60, 2, true, 100);
    assert_true(fabs(r.search - RECIPE_SEARCH_SHARE * 60) < 1e-9);
    assert_true(fabs(r.total - (2 + RECIPE_SEARCH_SHARE * 60 + end)) < 1e-9);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(the_preset_follows_the_corpus_size),
    cmocka_unit_test(a_small_corpus_gets_batches_small_enough_for_several_an_epoch),
    cmocka_unit_test(epochs_grow_as_the_corpus_shrinks_within_bounds),
    cmocka_unit_test(a_time_budget_becomes_the_steps_that_fit_it),
    cmocka_unit_test(a_time_budget_keeps_time_for_the_end_of_the_run),
    cmocka_unit_test(a_run_prints_its_recipe_and_a_given_flag_wins),
    cmocka_unit_test(a_time_budget_is_planned_into_steps),
    cmocka_unit_test(a_time_budget_includes_the_end_of_the_run),
    cmocka_unit_test(contradicting_flags_are_usage_errors),
};
TEST_GROUP(recipe_tests, tests);
