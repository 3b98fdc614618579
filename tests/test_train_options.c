// The table of `azul train` options: --help, the saved form, --resume.
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "cli/train_options.h"
#include "model/safetensors.h"
#include "tests/failing_alloc.h"
#include "tests/test.h"

// A value for the option as it would be typed, different from its default.
static const char *non_default_text(const TrainOption *option, char *text, size_t size) {
    switch (option->kind) {
    case OPTION_FLAG: return NULL;
    case OPTION_INT: case OPTION_LONG: snprintf(text, size, "%.0f", option->max); return text;
    case OPTION_REAL: snprintf(text, size, "%g", option->max); return text;
    case OPTION_DURATION: return "1h30m";
    case OPTION_CHOICE: {
        const OptionChoice *last = option->choices;
        while (last[1].name) last++;
        // without a default, the field starts as 0: the first choice
        const char *first = option->default_value ? option->default_value : option->choices[0].name;
        return strcmp(last->name, first) != 0 ? last->name : option->choices[0].name;
    }
    case OPTION_STRING: case OPTION_TEXTS: snprintf(text, size, "given-%s", option->name); return text;
    case OPTION_SEED: return "18446744073709551615";
    }
    return NULL;
}

// The defaults, with what the recipe always fills in before a run saves its
// options (a saved batch size, learning rate or validation interval of 0
// is a damaged file).
static void defaults_as_a_run_saves_them(TrainOptions *o) {
    train_options_defaults(o);
    o->batch_tokens = 4096;
    o->lr = 1e-3f;
    o->valid_every = 100;
}

// Saves o as a run does (JSON text), then takes it back into fresh defaults.
// Returns the parsed JSON, which back's strings point into.
static cJSON *save_and_load(const TrainOptions *o, TrainOptions *back) {
    cJSON *saved = train_options_to_json(o);
    char *text = cJSON_PrintUnformatted(saved);
    cJSON *parsed = cJSON_Parse(text);
    train_options_defaults(back);
    Error err;
    if (train_options_resume(back, parsed, &err) < 0) fail_msg("%s (saved: %s)", err.message, text);
    cJSON_free(text);
    cJSON_Delete(saved);
    return parsed;
}

static void every_saved_option_survives_a_save_and_a_load(void **state) {
    (void)state;
    TrainOptions defaults, o, back;
    train_options_defaults(&defaults);
    train_options_defaults(&o);
    char texts[64][64];
    for (size_t i = 0; i < train_option_count; i++) {
        const TrainOption *option = &train_option_table[i];
        train_option_set(&o, option, non_default_text(option, texts[i], sizeof texts[i]));
        if (train_option_equal(option, &o, &defaults)) fail_msg("--%s: the test value is its default", option->name);
    }
    cJSON *saved = save_and_load(&o, &back);
    for (size_t i = 0; i < train_option_count; i++) {
        const TrainOption *option = &train_option_table[i];
        bool same = train_option_equal(option, &back, &o);
        if (option->resume != NOT_SAVED && !same) fail_msg("--%s changed in a save and a load", option->name);
        if (option->resume == NOT_SAVED && same) fail_msg("--%s is saved, but marked not saved", option->name);
    }
    cJSON_Delete(saved);
}

static void help_lists_every_option_in_the_table(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--help"), 0);
    for (size_t i = 0; i < train_option_count; i++) {
        char line_start[64];
        snprintf(line_start, sizeof line_start, "\n  --%s", train_option_table[i].name);
        const char *at = strstr(out, line_start);
        // the whole flag: --valid is not --valid-every
        while (at && at[strlen(line_start)] != ' ' && at[strlen(line_start)] != '\n') {
            at = strstr(at + 1, line_start);
        }
        if (!at) fail_msg("--help does not list --%s:\n%s", train_option_table[i].name, out);
    }
    expect_contains(out, "Learns the tokenizers from the corpus");
    expect_contains(out, "--schedule noam|inverse-sqrt|cosine|constant");
    expect_contains(out, "A resumed run keeps the options it was started with, except --corpus");
    for (const char *line = out; *line;) {
        size_t length = strcspn(line, "\n");
        if (length > 80) fail_msg("a --help line is wider than 80 columns: %.*s", (int)length, line);
        line += length + (line[length] == '\n');
    }
    free(out); free(err);
}

static void a_seed_above_2_to_the_53_survives_a_save_and_a_load(void **state) {
    (void)state;
    const uint64_t seed = 9007199254740993u;  // 2^53 + 1: a double would round it to 2^53
    TrainOptions o, back;
    defaults_as_a_run_saves_them(&o);
    for (size_t i = 0; i < train_option_count; i++) {
        if (strcmp(train_option_table[i].name, "seed") == 0) train_option_set(&o, &train_option_table[i], "9007199254740993");
    }
    assert_true(o.seed == seed);
    cJSON *saved = train_options_to_json(&o);
    char *text = cJSON_PrintUnformatted(saved);
    expect_contains(text, "\"seed\":\"9007199254740993\"");
    cJSON_Delete(save_and_load(&o, &back));
    assert_true(back.seed == seed);
    cJSON_free(text);
    cJSON_Delete(saved);
}

// Runs train_options_resume with stderr captured; returns what it wrote (malloc'd).
static char *resume_capturing_warnings(TrainOptions *o, const char *saved, int *status, Error *err) {
    char path[] = "/tmp/azul-warnings-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int kept = dup(2);
    dup2(fd, 2);
    cJSON *stored = cJSON_Parse(saved);
    assert_non_null(stored);
    *status = train_options_resume(o, stored, err);
    fflush(stderr);
    dup2(kept, 2);
    close(kept);
    char *text = calloc(1, 4096);
    ssize_t n = pread(fd, text, 4095, 0);
    (void)n;
    close(fd);
    unlink(path);
    // strings are not looked at after this: the stored JSON can go
    cJSON_Delete(stored);
    return text;
}

static void a_resumed_run_takes_the_stopping_rules_given_and_keeps_the_rest(void **state) {
    (void)state;
    char *argv[] = {"train", "--out", "x", "--resume", "--steps", "50", "--lr", "0.5", "--joint", NULL};
    TrainOptions o;
    optind = 0;  // getopt_long starts afresh
    assert_true(train_options_parse(&o, 9, argv));
    train_options_complete(&o);
    int status;
    Error err;
    char *warnings = resume_capturing_warnings(
        &o, "{\"steps\": 20, \"epochs\": 3, \"lr\": 0.002, \"joint\": false, \"schedule\": \"cosine\"}",
        &status, &err);
    assert_int_equal(status, 0);
    assert_int_equal(o.steps, 50);            // given: replaces the run's
    assert_int_equal(o.epochs, 3);            // not given: the run's
    assert_true(o.lr == 0.002f);              // given, but the run keeps its own
    assert_false(o.joint);
    assert_int_equal(o.schedule, SCHEDULE_COSINE);
    expect_contains(warnings, "--lr 0.5 is ignored: the run being resumed has --lr 0.002");
    expect_contains(warnings, "--joint is ignored");
    if (strstr(warnings, "--steps")) fail_msg("a new --steps is no reason to warn:\n%s", warnings);
    free(warnings);
}

static void damaged_saved_options_are_refused_naming_the_option(void **state) {
    (void)state;
    struct { const char *saved, *message; } cases[] = {
        {"{\"batch_tokens\": 1e300}", "\"batch_tokens\" must be an integer from 16 to 10000000, got 1e+300"},
        {"{\"max_len\": 12.5}", "\"max_len\" must be an integer from 4 to 4096"},
        {"{\"steps\": -5}", "\"steps\" must be an integer from 1 to 1099511627776, or 0, got -5"},
        {"{\"lr\": \"fast\"}", "\"lr\" must be a number from 1e-08 to 10, got \"fast\""},
        {"{\"dropout\": 5}", "\"dropout\" must be a number from 0 to 0.9"},
        {"{\"time_budget\": -1}", "\"time_budget\" must be a number"},
        {"{\"schedule\": \"linear\"}", "\"schedule\" must be noam, inverse-sqrt, cosine or constant"},
        {"{\"schedule\": 4}", "\"schedule\" must be noam"},
        {"{\"tokenizer\": 1}", "\"tokenizer\" must be bpe or word, got 1"},
        {"{\"seed\": -1}", "\"seed\" must be a string of digits"},
        {"{\"seed\": \"12x\"}", "\"seed\" must be a string of digits"},
        {"{\"seed\": \"18446744073709551616\"}", "\"seed\" must be a string of digits"},
        {"{\"joint\": 1}", "\"joint\" must be true or false, got 1"},
        // the recipe always sets these: 0 is no "none" for them
        {"{\"batch_tokens\": 0}", "\"batch_tokens\" must be an integer from 16 to 10000000, got 0"},
        {"{\"valid_every\": 0}", "\"valid_every\" must be an integer from 1 to"},
        {"{\"corpus\": 3}", "\"corpus\" must be a string"},
        {"[1, 2]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TrainOptions o, before;
        train_options_defaults(&o);
        memcpy(&before, &o, sizeof o);
        Error err;
        int status;
        free(resume_capturing_warnings(&o, cases[i].saved, &status, &err));
        if (status != -1) fail_msg("%s was accepted", cases[i].saved);
        if (!strstr(err.message, cases[i].message)) {
            fail_msg("%s: the message is \"%s\"", cases[i].saved, err.message);
        }
        assert_memory_equal(&o, &before, sizeof o);  // left as it was
    }
}

// ---------------------------------------------------------------- state files

// A run of two steps on the reverse task (well under a second), in dir/run.
static char *train_two_steps(const char *dir) {
    size_t n = strlen(dir) + 8;
    char *out_dir = malloc(n);
    snprintf(out_dir, n, "%s/run", dir);
    char *out, *err;
    int status = RUN(NULL, &out, &err, "train", "--corpus", "data/reverse/train.tsv", "--out", out_dir,
                     "--tokenizer", "word", "--steps", "2", "--batch-tokens", "256",
                     "--valid-sentences", "2", "--schedule", "cosine", "--seed", "7");
    if (status != 0) fail_msg("train failed:\n%s\n%s", out, err);
    free(out); free(err);
    return out_dir;
}

// Rewrites the "options" of out_dir/training_state.safetensors (NULL: reads them).
static char *state_options(const char *out_dir, const char *replacement) {
    char path[4096];
    snprintf(path, sizeof path, "%s/training_state.safetensors", out_dir);
    SafetensorsFile f;
    Error err;
    if (safetensors_read(&f, path, &err) < 0) fail_msg("%s", err.message);
    char *options = strdup(safetensors_metadata(&f, "options"));
    if (replacement) {
        SafetensorsOutput tensors[8];
        size_t n = (size_t)arrlen(f.tensors);
        assert_true(n <= 8);
        for (size_t i = 0; i < n; i++) {
            const SafetensorsTensor *t = &f.tensors[i];
            tensors[i] = (SafetensorsOutput){t->name, t->dtype, t->rank, {0}, t->data, t->bytes};
            memcpy(tensors[i].shape, t->shape, sizeof t->shape);
        }
        const char *keys[16], *values[16];
        size_t m = 0;
        for (const cJSON *item = f.metadata->child; item && m < 16; item = item->next, m++) {
            keys[m] = item->string;
            values[m] = strcmp(item->string, "options") == 0 ? replacement : item->valuestring;
        }
        if (safetensors_write(path, tensors, n, keys, values, m, &err) < 0) fail_msg("%s", err.message);
    }
    safetensors_free(&f);
    return options;
}

static void a_state_file_with_a_numeric_schedule_still_resumes(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *out_dir = train_two_steps(dir);
    // the options exactly as the version before the table saved them
    free(state_options(out_dir, "{\"corpus\":\"data/reverse/train.tsv\",\"preset\":\"toy\",\"max_len\":128,"
                                "\"batch_tokens\":256,\"patience\":10,\"valid_sentences\":2,\"steps\":2,"
                                "\"epochs\":0,\"time_budget\":0,\"warmup\":4000,\"log_every\":100,"
                                "\"valid_every\":1000,\"lr\":0.0010000000474974513,\"min_lr\":0,"
                                "\"clip_norm\":1,\"weight_decay\":0.00999999977648258,\"schedule\":2,"
                                "\"seed\":7}"));
    char *out, *err;
    int status = RUN(NULL, &out, &err, "train", "--out", out_dir, "--resume", "--steps", "4");
    if (status != 0) fail_msg("resume failed:\n%s\n%s", out, err);
    expect_contains(out, "resuming");
    expect_contains(out, "stopped at step 4");
    free(out); free(err);
    char *options = state_options(out_dir, NULL);
    expect_contains(options, "\"schedule\":\"cosine\"");
    expect_contains(options, "\"seed\":\"7\"");
    expect_contains(options, "\"steps\":4");
    // what the old version did not save is not made up
    if (strstr(options, "\"tokenizer\"")) fail_msg("an old run's options grew a tokenizer: %s", options);
    free(options);
    free(out_dir);
    remove_tree(dir);
    free(dir);
}

static void a_damaged_state_file_is_refused_naming_the_option(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *out_dir = train_two_steps(dir);
    char *options = state_options(out_dir, NULL);
    char *damaged = strdup(options);
    char *at = strstr(damaged, "\"batch_tokens\":256");
    assert_non_null(at);
    memcpy(at, "\"batch_tokens\":-56", strlen("\"batch_tokens\":-56"));
    free(state_options(out_dir, damaged));
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--out", out_dir, "--resume", "--steps", "4"), 1);
    expect_contains(err, "training_state.safetensors: the saved option \"batch_tokens\" must be an "
                         "integer from 16 to 10000000, got -56");
    free(out); free(err);
    free(damaged);
    free(options);
    free(out_dir);
    remove_tree(dir);
    free(dir);
}

// Issue 11: the saved options were built without checking cJSON, so that a
// failed node left its option out and a resumed run quietly took that
// option's default.  Now, each allocation (cJSON's too) failing in turn, the
// options come back NULL or whole.
static cJSON *options_json(const void *o) { return train_options_to_json(o); }

static void saving_the_options_survives_every_failed_allocation(void **state) {
    (void)state;
    TrainOptions o;
    train_options_defaults(&o);
    char texts[64][64];
    for (size_t i = 0; i < train_option_count; i++) {  // every row saved, strings included
        const TrainOption *option = &train_option_table[i];
        train_option_set(&o, option, non_default_text(option, texts[i], sizeof texts[i]));
    }
    assert_true(expect_json_whole_or_none(options_json, &o) > 20);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_saved_option_survives_a_save_and_a_load),
    cmocka_unit_test(help_lists_every_option_in_the_table),
    cmocka_unit_test(a_seed_above_2_to_the_53_survives_a_save_and_a_load),
    cmocka_unit_test(a_resumed_run_takes_the_stopping_rules_given_and_keeps_the_rest),
    cmocka_unit_test(damaged_saved_options_are_refused_naming_the_option),
    cmocka_unit_test(a_state_file_with_a_numeric_schedule_still_resumes),
    cmocka_unit_test(a_damaged_state_file_is_refused_naming_the_option),
    cmocka_unit_test(saving_the_options_survives_every_failed_allocation),
};
TEST_GROUP(train_option_tests, tests);
