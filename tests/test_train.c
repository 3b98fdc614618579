// azul train end to end, as a user runs it.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "model/model_file.h"
#include "train/checkpoint.h"
#include "tests/model_fixture.h"
#include "tests/test.h"
#include "train/curves.h"
#include "train/training_log.h"

static void toy_training_translates_every_training_pair(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *out_dir = join(dir, "model");
    char *out, *err;
    time_t start = time(NULL);
    int status = RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                     "data/toy-en-es/dev.tsv", "--out", out_dir, "--epochs", "150",
                     "--batch-tokens", "1024", "--lr", "2e-3", "--warmup", "100",
                     "--valid-every", "150", "--patience", "0");
    if (status != 0) fail_msg("train failed (%d):\n%s\n%s", status, out, err);
    expect_contains(out, "data: 372 training pairs");
    expect_contains(out, "stopped at step");
    printf("  toy training took %lds\n", (long)(time(NULL) - start));
    free(out); free(err);
    // every file promised is there
    const char *files[] = {"model.safetensors", "last.safetensors", "training_state.safetensors",
                           "train.log", "curves.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *p = join(out_dir, files[i]);
        if (access(p, R_OK) != 0) fail_msg("missing %s", p);
        free(p);
    }
    // translate the training sources: every one must come out exactly
    FILE *f = fopen("data/toy-en-es/train.tsv", "r");
    char line[1024], *sources = calloc(1, 1 << 16), *refs = calloc(1, 1 << 16);
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        *tab = '\0';
        strcat(sources, line);
        strcat(sources, "\n");
        strcat(refs, tab + 1);
    }
    fclose(f);
    assert_int_equal(RUN(sources, &out, &err, "translate", "--model", out_dir), 0);
    if (strcmp(out, refs) != 0) {
        char *o = out, *r = refs;
        int n = 1;
        while (*o && *o == *r) { if (*o == '\n') n++; o++; r++; }
        fail_msg("translation of training line %d differs", n);
    }
    free(out); free(err);
    free(sources);
    free(refs);
    remove_tree(dir);
    free(dir);
    free(out_dir);
}

static void resume_is_bit_identical(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *straight = join(dir, "straight"), *resumed = join(dir, "resumed");
    // noam: its rate does not depend on --steps, which the two sessions set apart
    const char *common[] = {"train", "--corpus", "data/toy-en-es/train.tsv", "--batch-tokens", "512",
                            "--lr", "1e-3", "--warmup", "10", "--schedule", "noam", "--log-every", "1",
                            "--valid-every", "7", "--valid-sentences", "5", "--seed", "5"};
    enum { N_COMMON = sizeof common / sizeof common[0] };
    const char *args[N_COMMON + 8];
    char *out, *err;
    memcpy(args, common, sizeof common);
    args[N_COMMON] = "--out"; args[N_COMMON + 1] = straight;
    args[N_COMMON + 2] = "--steps"; args[N_COMMON + 3] = "30"; args[N_COMMON + 4] = NULL;
    assert_int_equal(run_azul(args, NULL, &out, &err), 0);
    free(out); free(err);
    // the same run in two sessions: 12 steps (not on a validation boundary), then on to 30
    args[N_COMMON + 1] = resumed;
    args[N_COMMON + 3] = "12";
    assert_int_equal(run_azul(args, NULL, &out, &err), 0);
    free(out); free(err);
    args[N_COMMON + 3] = "30";
    args[N_COMMON + 4] = "--resume";
    args[N_COMMON + 5] = NULL;
    int status = run_azul(args, NULL, &out, &err);
    if (status != 0) fail_msg("resume failed:\n%s\n%s", out, err);
    expect_contains(out, "resuming");
    free(out); free(err);
    double *a = logged_losses(straight, 30), *b = logged_losses(resumed, 30);
    for (int step = 1; step <= 30; step++) {
        if (a[step] == 0 || a[step] != b[step]) {
            fail_msg("step %d: loss %.9f without a break, %.9f with one", step, a[step], b[step]);
        }
    }
    // and the weights at the end are the same bits
    char *pa = join(straight, "last.safetensors"), *pb = join(resumed, "last.safetensors");
    Model ma, mb;
    Error e;
    assert_int_equal(model_load(&ma, NULL, pa, &e), 0);
    assert_int_equal(model_load(&mb, NULL, pb, &e), 0);
    assert_same_weights(&ma, &mb);
    model_free(&ma);
    model_free(&mb);
    free(pa); free(pb); free(a); free(b);
    remove_tree(dir);
    free(dir); free(straight); free(resumed);
}

static void malformed_lines_are_reported_and_training_goes_on(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    const char text[] = "The ball is blue\tLa bola es azul\n"
                        "no tab on this line\n"
                        "The cat\tEl gato\n"
                        "\tno source\n"
                        "bad \xC3 byte\tmal\n"
                        "The dog\tEl perro\n";
    char *corpus = write_temp_file(dir, "bad.tsv", text, sizeof text - 1);
    char *out_dir = join(dir, "model");
    char *out, *err;
    int status = RUN(NULL, &out, &err, "train", "--corpus", corpus, "--valid", "data/toy-en-es/dev.tsv",
                     "--out", out_dir, "--steps", "3", "--valid-sentences", "2");
    if (status != 0) fail_msg("train failed:\n%s\n%s", out, err);
    expect_contains(err, "bad.tsv:2: no TAB between source and target; line skipped");
    expect_contains(err, "bad.tsv:4: empty source side; line skipped");
    expect_contains(err, "bad.tsv:5: invalid UTF-8 at byte 4");
    expect_contains(err, "skipped 3 malformed lines of 6");
    expect_contains(out, "data: 3 training pairs");
    free(out); free(err);
    free(corpus); free(out_dir);
    remove_tree(dir);
    free(dir);
}

static void bad_commands_get_clear_errors(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *empty = write_temp_file(dir, "empty.tsv", "\n\n", 2);
    char *out_dir = join(dir, "model");
    char *out, *err;
    struct { int status; const char *message; const char *args[12]; } cases[] = {
        {1, "holds no usable sentence pairs", {"train", "--corpus", empty, "--out", out_dir, NULL}},
        {1, "cannot open corpus /nonexistent.tsv", {"train", "--corpus", "/nonexistent.tsv", "--out", out_dir, NULL}},
        {1, "cannot create --out /proc/azul-test", {"train", "--corpus", "data/toy-en-es/train.tsv", "--out", "/proc/azul-test", NULL}},
        {2, "unknown preset 'giant'", {"train", "--corpus", "data/toy-en-es/train.tsv", "--out", out_dir, "--preset", "giant", NULL}},
        {2, "unknown option '--learning-rate'", {"train", "--corpus", "x.tsv", "--out", out_dir, "--learning-rate", "1", NULL}},
        {2, "--steps expects an integer", {"train", "--corpus", "x.tsv", "--out", out_dir, "--steps", "many", NULL}},
        {2, "--time-budget expects a duration", {"train", "--corpus", "x.tsv", "--out", out_dir, "--time-budget", "soon", NULL}},
        {2, "--out DIR is required", {"train", "--corpus", "x.tsv", NULL}},
        {1, "has no training_state.safetensors", {"train", "--out", out_dir, "--resume", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status = run_azul(cases[i].args, NULL, &out, &err);
        if (status != cases[i].status || !strstr(err, cases[i].message)) {
            fail_msg("case %zu: status %d (expected %d), stderr:\n%s", i, status, cases[i].status, err);
        }
        expect_contains(err, "azul: error: ");
        free(out); free(err);
    }
    // a directory that holds a model is never trained over without --resume
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out",
                         out_dir, "--steps", "2", "--valid-sentences", "2"), 0);
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out",
                         out_dir, "--steps", "2"), 1);
    expect_contains(err, "already holds a trained model; use --resume");
    free(out); free(err);
    free(empty); free(out_dir);
    remove_tree(dir);
    free(dir);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

// Starts `azul train` in the background and returns its pid.
static pid_t spawn_training(const char *out_dir) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
        execl(AZUL_BIN_PATH, AZUL_BIN_PATH, "train", "--corpus", "data/reverse/train.tsv", "--out",
              out_dir, "--epochs", "1000", "--batch-tokens", "256", "--valid-every", "3",
              "--valid-sentences", "4", "--tokenizer", "word", (char *)NULL);
        _exit(127);
    }
    return pid;
}

// Ctrl-C: a checkpoint is saved, the exit status says so, and --resume goes
// on.  (kill -9, which saves nothing, is in test_train_faults.c.)
// Whether the file exists and contains text.
static bool file_mentions(const char *path, const char *text) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

static void ctrl_c_saves_a_checkpoint_that_resumes(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *out_dir = join(dir, "model");
    pid_t pid = spawn_training(out_dir);
    // Ctrl-C once training is under way (its first validation is logged), not
    // after a fixed time: on a slow or loaded machine, or under a sanitizer,
    // that could come before the run has set its handler.
    char *log_path = join(out_dir, "train.log");
    for (int waited = 0; waited < 120000 && !file_mentions(log_path, "\"valid\""); waited += 50) {
        sleep_ms(50);
    }
    free(log_path);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    char *state_path = join(out_dir, "training_state.safetensors");
    assert_int_equal(access(state_path, R_OK), 0);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--out", out_dir, "--resume", "--steps", "1"), 0);
    free(out); free(err);
    free(state_path);
    free(out_dir);
    remove_tree(dir);
    free(dir);
}

// A run interrupted before its first validation has no best dev loss yet;
// its training state must still load (JSON has no infinity).
static void a_state_saved_before_any_validation_resumes(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.1f);
    const char *sides[] = {"the ball is blue", "la bola es azul"};
    TokenizerConfig word = {TOKENIZER_WORD, 100, 1, {false}};
    TokenizerPair tokenizers;
    Error err;
    assert_int_equal(tokenizer_pair_learn(&tokenizers, &word, false, sides, sides + 1, 1, &err), 0);
    c.src_vocab = (int)tokenizer_vocab_size(&tokenizers.source);
    c.tgt_vocab = (int)tokenizer_vocab_size(&tokenizers.target);
    Model m, loaded;
    AdamState adam, loaded_adam;
    assert_int_equal(model_build(&m, &c, 5, &err), 0);
    assert_int_equal(adam_state_build(&adam, &m, &err), 0);
    adam.v[3] = 0.25f;
    TrainingProgress p = {.step = 2, .epoch = 0, .batch = 2, .best = INFINITY}, back;
    char *dir = make_temp_dir(), *path = join(dir, "training_state.safetensors");
    cJSON *options = cJSON_CreateObject(), *loaded_options;
    cJSON *tokenizers_json = tokenizer_pair_to_json(&tokenizers);
    char *tokenizers_text = cJSON_PrintUnformatted(tokenizers_json);
    assert_int_equal(checkpoint_save(path, &m, &adam, tokenizers_text, &p, options, &err), 0);
    cJSON_free(tokenizers_text);
    cJSON_Delete(tokenizers_json);
    TokenizerPair loaded_tokenizers;
    if (checkpoint_load(path, &loaded, &loaded_adam, &loaded_tokenizers, &back, &loaded_options, &err) < 0) {
        fail_msg("%s", err.message);
    }
    assert_true(isinf(back.best) && back.best > 0);
    assert_int_equal(back.step, 2);
    assert_same_weights(&loaded, &m);
    assert_true(loaded_adam.v[3] == 0.25f);
    cJSON_Delete(options);
    cJSON_Delete(loaded_options);
    tokenizer_pair_free(&tokenizers);
    tokenizer_pair_free(&loaded_tokenizers);
    adam_state_free(&adam);
    adam_state_free(&loaded_adam);
    model_free(&m);
    model_free(&loaded);
    remove_tree(dir);
    free(dir);
    free(path);
}

// A log that cannot be read when resuming is an error, not a history quietly
// lost; one that cannot be written is an error naming it.
static void training_log_and_curves_name_the_file_they_cannot_use(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *log_path = join(dir, "train.log");
    assert_int_equal(mkdir(log_path, 0755), 0);  // a directory where the log should be
    TrainerOptions options = {0};
    TrainingLog log;
    Error err;
    assert_int_equal(training_log_open(&log, log_path, &options, 5, &err), -1);
    expect_contains(err.message, "train.log is not a regular file");
    assert_int_equal(training_log_open(&log, log_path, &options, 0, &err), -1);
    expect_contains(err.message, "train.log: Is a directory");
    CurvePoint points[] = {{1, 2.5}, {2, 2.0}};
    CurveSeries series[] = {{"loss", "#000", points, 2, false}};
    assert_int_equal(curves_write_svg("/nonexistent/curves.svg", "t", series, 1, &err), -1);
    expect_contains(err.message, "cannot write /nonexistent/curves.svg");
    remove_tree(dir);
    free(log_path);
    free(dir);
}

// Issue 12: with no flags, the toy corpus trained 10 steps of a 4,000-step
// warm-up and reported success.  A run that ends before its warm-up, or with
// its dev loss still falling, now says so.
static void a_run_that_ends_too_early_says_so(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *first = join(dir, "first"), *second = join(dir, "second");
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out",
                         first, "--steps", "6", "--warmup", "50"), 0);
    expect_contains(err, "azul: warning: training ended at step 6, before the learning-rate "
                         "warm-up of 50 steps was over");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out",
                         second, "--steps", "6", "--warmup", "2", "--lr", "1e-3", "--valid-every",
                         "3"), 0);
    expect_contains(err, "azul: warning: the dev loss was still falling when training ended (its "
                         "best was the last validation, at step 6): a longer plan would likely do better");
    assert_null(strstr(err, "warm-up"));
    free(out); free(err);
    free(first); free(second);
    remove_tree(dir);
    free(dir);
}

// ---------------------------------------------------------------- the end of a run

// Waits up to `seconds` for the file to mention text; whether it did.
static bool wait_for_mention(const char *path, const char *text, double seconds) {
    for (double waited = 0; waited < seconds; waited += 0.02) {
        FILE *f = fopen(path, "r");
        if (f) {
            char line[4096];
            bool found = false;
            while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
            fclose(f);
            if (found) return true;
        }
        sleep_ms(20);
    }
    return false;
}

// Sends SIGTERM `delay_ms` after the run's output mentions `moment`; the
// seconds from the signal to the process's end go into *latency, and its
// exit status is returned (-1 for a signal).  The output is left in
// *output (malloc'd).
static int terminate_at(const char *const *args, const char *output_path, const char *moment, long delay_ms,
                        double *latency, char **output) {
    pid_t pid = spawn_azul_redirected(args, NULL, output_path, output_path, 0);
    assert_true(pid > 0);
    if (!wait_for_mention(output_path, moment, 300)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        char *text = slurp(output_path, NULL);
        fail_msg("the run never said \"%s\":\n%s", moment, text ? text : "");
    }
    sleep_ms(delay_ms);
    assert_int_equal(kill(pid, SIGTERM), 0);
    const double sent = monotonic_seconds();
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *latency = monotonic_seconds() - sent;
    *output = slurp(output_path, NULL);
    assert_non_null(*output);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The files an interrupted end of a run leaves: the best model loads and
// translates, the state resumes, and no temporary is left.
static void expect_whole_files(const char *dir) {
    char *path = join(dir, "model.safetensors");
    Model m;
    Error err;
    if (model_load(&m, NULL, path, &err) < 0) fail_msg("%s", err.message);
    model_free(&m);
    free(path);
    char *out, *err_text;
    assert_int_equal(RUN("the ball\n", &out, &err_text, "translate", "--model", dir), 0);
    free(out); free(err_text);
    path = join(dir, "training_state.safetensors");
    assert_int_equal(access(path, R_OK), 0);
    free(path);
}

// An untrained model's beam search runs every sentence to its length
// limit: on spa-eng's 2,000 dev pairs at 7 alphas that took half an hour,
// during which SIGTERM went unheeded.  The search now stops within a search
// step, and the files stay whole.  (--valid-sentences 0: no greedy BLEU,
// so the search is not skipped as not worth it; the training pairs as dev
// pairs: a search of several seconds.)
static void sigterm_during_the_length_penalty_search_ends_the_run_at_once(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out_dir = join(dir, "run"), *output_path = join(dir, "output.txt"), *output;
    const char *args[] = {"train", "--corpus", "data/toy-en-es/train.tsv", "--valid", "data/toy-en-es/train.tsv",
                          "--out", out_dir, "--steps", "2", "--valid-sentences", "0", "--threads", "1", NULL};
    double latency;
    int status = terminate_at(args, output_path, "choosing the length penalty", 300, &latency, &output);
    if (status != 130 || latency > 2.0) {
        fail_msg("exit status %d, %.2f s after SIGTERM (130 within 2 s expected):\n%s", status, latency, output);
    }
    expect_contains(output, "length penalty search interrupted after ");
    expect_contains(output, "an interrupt then stopped the end of the run");
    expect_contains(output, "interrupted: checkpoint saved; continue with: azul train --out");
    free(output);
    expect_whole_files(out_dir);
    free(output_path);
    free(out_dir);
    remove_tree(dir);
    free(dir);
}

// The same while the last checkpoints are averaged: nothing is saved.
// (The validation of their mean translates 2,000 dev pairs greedily, a
// second or more; the signal comes 0.4 s after the last validation's line,
// once its checkpoint is saved.)
static void sigterm_during_averaging_ends_the_run_at_once(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out_dir = join(dir, "run"), *output_path = join(dir, "output.txt"), *output;
    const char *args[] = {"train", "--corpus", "data/toy-en-es/train.tsv", "--valid", "data/reverse/train.tsv",
                          "--out", out_dir, "--steps", "2", "--valid-sentences", "2000", "--threads", "1", NULL};
    double latency;
    int status = terminate_at(args, output_path, "validation at step 2", 400, &latency, &output);
    if (status != 130 || latency > 2.0) {
        fail_msg("exit status %d, %.2f s after SIGTERM (130 within 2 s expected):\n%s", status, latency, output);
    }
    expect_contains(output, "averaging interrupted: model.safetensors was left as it was");
    assert_null(strstr(output, "the mean of the 2 checkpoints"));
    assert_null(strstr(output, "choosing the length penalty"));
    free(output);
    char *averaged = join(out_dir, "averaged.safetensors");
    assert_int_not_equal(access(averaged, F_OK), 0);
    free(averaged);
    expect_whole_files(out_dir);
    free(output_path);
    free(out_dir);
    remove_tree(dir);
    free(dir);
}

// A model that has learnt nothing is not searched for a length penalty:
// the run says so, and ends at once.
static void an_untrained_model_skips_the_length_penalty_search(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                         "data/toy-en-es/dev.tsv", "--out", dir, "--steps", "2", "--threads", "1"), 0);
    expect_contains(out, "; 1 thread, ");
    expect_contains(out, "length penalty not searched: the best model's greedy dev BLEU is ");
    assert_null(strstr(out, "choosing the length penalty"));
    free(out); free(err);
    char *log_path = join(dir, "train.log"), *log = slurp(log_path, NULL);
    expect_contains(log, "{\"event\":\"note\",\"step\":2,\"about\":\"length_penalty\",");
    free(log);
    free(log_path);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(toy_training_translates_every_training_pair),
    cmocka_unit_test(resume_is_bit_identical),
    cmocka_unit_test(malformed_lines_are_reported_and_training_goes_on),
    cmocka_unit_test(bad_commands_get_clear_errors),
    cmocka_unit_test(ctrl_c_saves_a_checkpoint_that_resumes),
    cmocka_unit_test(a_run_that_ends_too_early_says_so),
    cmocka_unit_test(a_state_saved_before_any_validation_resumes),
    cmocka_unit_test(training_log_and_curves_name_the_file_they_cannot_use),
    cmocka_unit_test(sigterm_during_the_length_penalty_search_ends_the_run_at_once),
    cmocka_unit_test(sigterm_during_averaging_ends_the_run_at_once),
    cmocka_unit_test(an_untrained_model_skips_the_length_penalty_search),
};
TEST_GROUP(train_tests, tests);
