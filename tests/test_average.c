// Checkpoint averaging: model_average, azul train --average, azul average.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "model/average.h"
#include "model/model_file.h"
#include "tests/test.h"

static ModelConfig toy_config(void) {
    ModelConfig c = {0};  // the preset sets the shape; dropout and the rest stay 0
    Error err;
    assert_int_equal(model_config_preset(&c, "toy", &err), 0);
    c.src_vocab = 40;
    c.tgt_vocab = 30;
    c.max_len = 16;
    return c;
}

static void the_mean_is_taken_weight_by_weight(void **state) {
    (void)state;
    ModelConfig c = toy_config();
    Model a, b, d, mean;
    Error err;
    if (model_build(&a, &c, 1, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(model_build(&b, &c, 2, &err), 0);
    assert_int_equal(model_build(&d, &c, 3, &err), 0);
    const Model *three[] = {&a, &b, &d};
    assert_int_equal(model_average(&mean, three, 3, &err), 0);
    size_t differs_from_a = 0;
    for (size_t i = 0; i < mean.n_params; i++) {
        float want = (float)(((double)a.params[i] + b.params[i] + d.params[i]) / 3);
        if (mean.params[i] != want) fail_msg("weight %zu: %.9g, not the mean %.9g", i, mean.params[i], want);
        differs_from_a += mean.params[i] != a.params[i];
    }
    assert_true(differs_from_a > mean.n_params / 2);  // the seeds gave different weights
    model_free(&mean);
    // one model: itself
    const Model *one[] = {&b};
    assert_int_equal(model_average(&mean, one, 1, &err), 0);
    assert_memory_equal(mean.params, b.params, b.n_params * sizeof(float));
    model_free(&mean);
    model_free(&a);
    model_free(&b);
    model_free(&d);
}

static void models_of_other_shapes_are_refused(void **state) {
    (void)state;
    ModelConfig c = toy_config(), other = c;
    other.tgt_vocab = 31;
    Model a, b, mean;
    Error err;
    assert_int_equal(model_build(&a, &c, 1, &err), 0);
    assert_int_equal(model_build(&b, &other, 1, &err), 0);
    const Model *two[] = {&a, &b};
    assert_int_equal(model_average(&mean, two, 2, &err), -1);
    expect_contains(err.message, "model 2 has another shape than model 1");
    assert_null(mean.params);
    model_free(&a);
    model_free(&b);
    other = c;
    other.pre_ln = !c.pre_ln;  // the same tensors, another network
    assert_int_equal(model_build(&a, &c, 1, &err), 0);
    assert_int_equal(model_build(&b, &other, 1, &err), 0);
    assert_int_equal(model_average(&mean, two, 2, &err), -1);
    model_free(&a);
    model_free(&b);
}

static Model load(const char *dir, const char *name) {
    char *path = join(dir, name);
    Model m;
    Error err;
    if (model_load(&m, NULL, path, &err) < 0) fail_msg("%s", err.message);
    free(path);
    return m;
}

// A run with --average 3 keeps the last three validations' models, and ends
// by validating their mean; `azul average` of the same files gives the same
// weights.
static void a_run_averages_its_last_checkpoints(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                         "data/toy-en-es/dev.tsv", "--out", dir, "--steps", "60", "--valid-every", "10",
                         "--valid-sentences", "4", "--average", "3", "--threads", "1"), 0);
    expect_contains(out, "then the mean of the last 3 checkpoints (given)");
    expect_contains(out, "the mean of the 3 checkpoints from step 40 to 60: dev loss ");
    free(out);
    free(err);
    char *checkpoints = join(dir, "checkpoints");
    const char *kept[] = {"step-40.safetensors", "step-50.safetensors", "step-60.safetensors"};
    char *paths[3];
    for (int i = 0; i < 3; i++) paths[i] = join(checkpoints, kept[i]);
    // only those three are left
    char *gone = join(checkpoints, "step-30.safetensors");
    assert_int_not_equal(access(gone, F_OK), 0);
    free(gone);
    char *log_path = join(dir, "train.log"), *log_text = slurp(log_path, NULL);
    expect_contains(log_text, "{\"event\": \"average\", \"step\": 60, \"checkpoints\": 3, \"first_step\": 40,");
    free(log_text);
    free(log_path);
    char *by_command = join(dir, "by-command.safetensors");
    assert_int_equal(RUN(NULL, &out, &err, "average", "--out", by_command, paths[0], paths[1], paths[2]), 0);
    free(out);
    free(err);
    Model averaged = load(dir, "averaged.safetensors"), again = load(dir, "by-command.safetensors");
    Model last = load(dir, "last.safetensors");
    for (ptrdiff_t i = 0; i < arrlen(averaged.tensors); i++) {
        assert_memory_equal(averaged.tensors[i].data, again.tensors[i].data,
                            averaged.tensors[i].size * sizeof(float));
    }
    assert_true(memcmp(averaged.tensors[0].data, last.tensors[0].data, last.tensors[0].size * sizeof(float)) != 0);
    model_free(&averaged);
    model_free(&again);
    model_free(&last);
    for (int i = 0; i < 3; i++) free(paths[i]);
    free(by_command);
    free(checkpoints);
    remove_tree(dir);
    free(dir);
}

static void azul_average_refuses_models_of_two_runs(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    char *a = join(dir, "a"), *b = join(dir, "b"), *to = join(dir, "mean.safetensors");
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", a,
                         "--steps", "2", "--valid-sentences", "2"), 0);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/reverse/train.tsv", "--out", b,
                         "--steps", "2", "--valid-sentences", "2"), 0);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "average", "--out", to, a, b), 1);
    expect_contains(err, "azul: error: ");
    assert_int_not_equal(access(to, F_OK), 0);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "average", "--out", to, a), 2);
    expect_contains(err, "give two models or more");
    free(out);
    free(err);
    free(a);
    free(b);
    free(to);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(the_mean_is_taken_weight_by_weight),
    cmocka_unit_test(models_of_other_shapes_are_refused),
    cmocka_unit_test(a_run_averages_its_last_checkpoints),
    cmocka_unit_test(azul_average_refuses_models_of_two_runs),
};
TEST_GROUP(average_tests, tests);
