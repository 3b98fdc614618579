// Faults while training: kill -9 at any moment, a run that diverges, a log
// that cannot be written.  Whatever happens, the files a user relies on (the
// best model, the last checkpoint, the state --resume continues from) stay
// whole, and the run can go on.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/special_tokens.h"
#include "infer/translator.h"
#include "model/rng.h"
#include "tests/test.h"
#include "train/checkpoint.h"

// Starts bin/azul in the background with stdout and stderr to output_path
// (see spawn_azul_redirected for fsize_limit).
static pid_t spawn_azul(const char *const *args, const char *output_path, long fsize_limit) {
    return spawn_azul_redirected(args, NULL, output_path, output_path, fsize_limit);
}

// The exit status of a process started by spawn_azul, or -1 for a signal.
static int wait_azul(pid_t pid) {
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs bin/azul to its end; its exit status, with stdout and stderr
// together in *output (malloc'd).
static int run_to_end(const char *const *args, const char *output_path, long fsize_limit,
                      char **output) {
    int status = wait_azul(spawn_azul(args, output_path, fsize_limit));
    *output = slurp(output_path, NULL);
    assert_non_null(*output);
    return status;
}

#define RUN_TO_END(output_path, fsize_limit, output, ...) \
    run_to_end((const char *const[]){__VA_ARGS__, NULL}, output_path, fsize_limit, output)

// The temporaries left in dir: atomic writes' "NAME.tmp.PID.XXXXXX" and the
// write probe of `azul train`; their names go into names (size bytes).
static int temporaries_in(const char *dir, char *names, size_t size) {
    DIR *listing = opendir(dir);
    if (names) names[0] = '\0';
    if (!listing) return 0;
    int count = 0;
    for (struct dirent *e; (e = readdir(listing)) != NULL;) {
        if (!strstr(e->d_name, ".tmp.") && strcmp(e->d_name, ".azul-write-test") != 0) continue;
        count++;
        if (names && strlen(names) + strlen(e->d_name) + 2 < size) {
            strcat(names, " ");
            strcat(names, e->d_name);
        }
    }
    closedir(listing);
    return count;
}

// The runs of these tests: a small corpus, word tokens, one thread (OpenMP's
// barriers crawl on a loaded machine) and a validation, so a checkpoint,
// every 2 steps, so that a good share of a run is spent saving.
#define RUN_OPTIONS "--batch-tokens", "256", "--valid-every", "2", "--valid-sentences", "2", \
                    "--log-every", "1", "--threads", "1"
#define FRESH_RUN(dir, steps) "train", "--corpus", "data/reverse/train.tsv", "--tokenizer", "word", \
                              "--out", dir, "--steps", steps, RUN_OPTIONS
#define RESUMED_RUN(dir, steps) "train", "--out", dir, "--resume", "--steps", steps, "--threads", "1"

// ---------------------------------------------------------------- temporaries and states

// The temporaries that killed runs left are gone once a run has been in the
// directory, even one that writes none of those files again.
static void a_run_removes_the_temporaries_killed_runs_left(void **state) {
    (void)state;
    char *top = make_temp_dir(), *dir = join(top, "run"), *output = join(top, "output.txt"), *text;
    int status = RUN_TO_END(output, 0, &text, FRESH_RUN(dir, "2"));
    if (status != 0) fail_msg("training failed (%d):\n%s", status, text);
    free(text);
    pid_t gone = fork();  // a process id that no longer runs: the killed writer's
    assert_true(gone >= 0);
    if (gone == 0) _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    const char *files[] = {"model.safetensors", "last.safetensors", "training_state.safetensors",
                           "train.log", "curves.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.tmp.%ld.aB3xYz", files[i], (long)gone);
        free(write_temp_file(dir, name, "half", 4));
    }
    // step 2 is done and validated: this run has nothing to train or save
    status = RUN_TO_END(output, 0, &text, RESUMED_RUN(dir, "2"));
    if (status != 0) fail_msg("--resume failed (%d):\n%s", status, text);
    free(text);
    char names[1024];
    if (temporaries_in(dir, names, sizeof names) > 0) fail_msg("temporaries left:%s", names);
    remove_tree(top);
    free(top);
    free(dir);
    free(output);
}

// Whether an entry of dir has `part` in its name.
static bool entry_named(const char *dir, const char *part) {
    DIR *listing = opendir(dir);
    bool found = false;
    for (struct dirent *e; listing && !found && (e = readdir(listing)) != NULL;) {
        found = strstr(e->d_name, part) != NULL;
    }
    if (listing) closedir(listing);
    return found;
}

// Sleeps until `delay` seconds after `start`; then, unless awaited is NULL,
// until an entry of dir has `awaited` in its name (at most `patience`
// seconds more); then kills the process.  False (with its exit status) when
// it ended first.
static bool kill_at(pid_t pid, double start, double delay, const char *dir, const char *awaited,
                    double patience, int *exit_status) {
    const struct timespec poll = {0, 200000};
    double deadline = start + delay;
    for (bool awaiting = false;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            return false;
        }
        double now = monotonic_seconds();
        if (!awaiting && now >= deadline) {
            if (!awaited) break;
            awaiting = true;
            deadline = now + patience;
        }
        if (awaiting && (entry_named(dir, awaited) || now >= deadline)) break;
        nanosleep(&poll, NULL);
    }
    kill(pid, SIGKILL);
    wait_azul(pid);
    return true;
}

// Whether every model file in dir loads, and the training state too; the
// state's step goes to *state_step (-1: there is none).  On failure, what
// failed is in problem.
static bool files_load(const char *dir, long *state_step, char *problem, size_t size) {
    const char *models[] = {"model.safetensors", "last.safetensors"};
    Error e;
    for (int i = 0; i < 2; i++) {
        char *path = join(dir, models[i]);
        Translator t;
        bool failed = access(path, F_OK) == 0 && translator_load(&t, path, &e) < 0;
        if (failed) snprintf(problem, size, "%s does not load: %s", models[i], e.message);
        else if (access(path, F_OK) == 0) translator_free(&t);
        free(path);
        if (failed) return false;
    }
    *state_step = -1;
    char *path = join(dir, "training_state.safetensors");
    bool ok = true;
    if (access(path, F_OK) == 0) {
        Model m;
        AdamState adam;
        TokenizerPair tokenizers;
        TrainingProgress progress;
        cJSON *options;
        ok = checkpoint_load(path, &m, &adam, &tokenizers, &progress, &options, &e) == 0;
        if (ok) {
            *state_step = progress.step;
            model_free(&m);
            adam_state_free(&adam);
            tokenizer_pair_free(&tokenizers);
            cJSON_Delete(options);
        } else {
            snprintf(problem, size, "training_state.safetensors does not load: %s", e.message);
        }
    }
    free(path);
    return ok;
}

// Killed at its first validation, just as model.safetensors is being
// written, a fresh run has already saved a state to resume from.
static void a_fresh_run_has_a_state_before_its_first_model_file(void **state) {
    (void)state;
    char *top = make_temp_dir(), *dir = join(top, "run"), *output = join(top, "output.txt");
    pid_t pid = spawn_azul((const char *const[]){FRESH_RUN(dir, "1000"), NULL}, output, 0);
    int exit_status;
    if (!kill_at(pid, monotonic_seconds(), 0, dir, "model.safetensors", 120, &exit_status)) {
        fail_msg("the run ended by itself (%d)", exit_status);
    }
    char problem[2048], *text;
    long step;
    if (!files_load(dir, &step, problem, sizeof problem)) fail_msg("%s", problem);
    if (step < 0) fail_msg("model.safetensors is being written, and there is no training state");
    int status = RUN_TO_END(output, 0, &text, RESUMED_RUN(dir, "3"));
    if (status != 0) fail_msg("--resume failed (%d):\n%s", status, text);
    free(text);
    remove_tree(top);
    free(top);
    free(dir);
    free(output);
}

// ---------------------------------------------------------------- kill -9

static bool exists(const char *dir, const char *name) {
    char *path = join(dir, name);
    bool there = access(path, F_OK) == 0;
    free(path);
    return there;
}

enum { KILLS = 20 };

// What the kills have done so far, for the message of a failure: the seed
// reproduces the choices (the timing, on a machine, never exactly).
typedef struct {
    unsigned long long seed;
    char moments[4096];
} KillHistory;

static void fail_after_kills(const KillHistory *h, const char *format, ...) {
    // the history first, whole (cmocka cuts a long message short)
    printf("AZUL_KILL_SEED=%llu; the kills so far:%s\n", h->seed, h->moments);
    char message[4096];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fail_msg("%s", message);
}

static void note_moment(KillHistory *h, const char *format, ...) {
    size_t used = strlen(h->moments);
    va_list args;
    va_start(args, format);
    vsnprintf(h->moments + used, sizeof h->moments - used, format, args);
    va_end(args);
}

// After a kill: the files load; a model file never exists without a state
// to resume (else neither a fresh start nor --resume would take the
// directory); and the run goes on to one more step, after which no
// temporary is left.
static void check_after_kill(const KillHistory *h, const char *dir, const char *output) {
    char problem[2048], names[1024], steps[32], *text;
    long step;
    if (!files_load(dir, &step, problem, sizeof problem)) fail_after_kills(h, "%s", problem);
    if (step < 0 && (exists(dir, "model.safetensors") || exists(dir, "last.safetensors"))) {
        fail_after_kills(h, "a model file is there without training_state.safetensors");
    }
    snprintf(steps, sizeof steps, "%ld", step + 1);
    int status = step >= 0 ? RUN_TO_END(output, 0, &text, RESUMED_RUN(dir, steps))
                           : RUN_TO_END(output, 0, &text, FRESH_RUN(dir, "1"));
    if (status != 0) {
        fail_after_kills(h, "%s after the kill failed (%d):\n%s", step >= 0 ? "--resume" : "a fresh start",
                         status, text);
    }
    free(text);
    if (temporaries_in(dir, names, sizeof names) > 0) {
        fail_after_kills(h, "temporaries left after the run went on:%s", names);
    }
    if (!files_load(dir, &step, problem, sizeof problem)) fail_after_kills(h, "%s", problem);
}

static unsigned long long kill_seed(void) {
    const char *given = getenv("AZUL_KILL_SEED");
    if (given) return strtoull(given, NULL, 10);
    return (unsigned long long)time(NULL) ^ (unsigned long long)getpid() << 20;
}

// kill -9 at 20 moments of training: every other one as soon as a
// temporary file shows that an atomic write is in progress (a checkpoint, a
// model, the log or the curves being saved), the rest at any moment from the
// start of the process on; a fresh run now and then, the same directory
// resumed otherwise.
static void kill_9_at_any_moment_leaves_files_that_load_and_resume(void **state) {
    (void)state;
    char *top = make_temp_dir(), *dir = join(top, "run"), *output = join(top, "output.txt");
    KillHistory history = {kill_seed(), ""};
    Rng rng;
    rng_seed(&rng, history.seed);
    // One whole short run first: its length scales the delays of the kills
    // to the machine (loaded, or under a sanitizer).
    double begin = monotonic_seconds();
    char *text;
    int status = RUN_TO_END(output, 0, &text, FRESH_RUN(dir, "4"));
    if (status != 0) fail_msg("training failed (%d):\n%s", status, text);
    free(text);
    double run_seconds = monotonic_seconds() - begin;
    int mid_write = 0;
    for (int k = 0; k < KILLS; k++) {
        bool fresh = rng_uniform(&rng) < 0.25f, at_temporary = k % 2 == 1;
        double delay = rng_uniform(&rng) * 1.5 * run_seconds;
        if (fresh) remove_tree(dir);
        double start = monotonic_seconds();
        pid_t pid = fresh ? spawn_azul((const char *const[]){FRESH_RUN(dir, "1000"), NULL}, output, 0)
                          : spawn_azul((const char *const[]){RESUMED_RUN(dir, "1000"), NULL}, output, 0);
        int exit_status;
        bool killed = kill_at(pid, start, delay, dir, at_temporary ? ".tmp." : NULL, 2 * run_seconds + 1,
                              &exit_status);
        double killed_after = monotonic_seconds() - start;
        char names[1024];
        int left = temporaries_in(dir, names, sizeof names);
        mid_write += left > 0;
        note_moment(&history, "\n  %d: %s run, killed after %.0f ms (%.0f ms%s)%s%s", k + 1,
                    fresh ? "a fresh" : "a resumed", 1000 * killed_after, 1000 * delay,
                    at_temporary ? ", then a temporary" : "", left ? ", left" : "", names);
        if (!killed && exit_status != 0) {
            char *log = slurp(output, NULL);
            fail_after_kills(&history, "the run ended by itself (%d):\n%s", exit_status, log);
        }
        check_after_kill(&history, dir, output);
    }
    printf("  %d kills -9 (AZUL_KILL_SEED=%llu), %d of them mid-write; %.1f s\n", KILLS, history.seed,
           mid_write, monotonic_seconds() - begin);
    // Half the kills wait for a temporary file; a test in which none of them
    // caught a write in progress would not have tested what it is for.
    if (mid_write == 0) fail_after_kills(&history, "no kill landed in the middle of a write");
    remove_tree(top);
    free(top);
    free(dir);
    free(output);
}

// ---------------------------------------------------------------- divergence

// Whether dir/name holds exactly `length` bytes of `bytes`.
static bool file_holds(const char *dir, const char *name, const char *bytes, size_t length) {
    char *path = join(dir, name);
    size_t n;
    char *text = slurp(path, &n);
    bool same = text && n == length && memcmp(text, bytes, length) == 0;
    free(text);
    free(path);
    return same;
}

// The step named by "at step N" in the error message in text, or -1.
static long step_named(const char *text) {
    const char *error = strstr(text, "azul: error: ");
    const char *at = error ? strstr(error, "at step ") : NULL;
    return at ? strtol(at + strlen("at step "), NULL, 10) : -1;
}

// A learning rate of 10 with a weight decay of 1 multiplies every weight by
// about -9 at each step: within a few steps the weights overflow.  The run
// stops with the step named, the best model as it was, and a checkpoint
// (one after every step here) that loads and was made before that step.
static void a_diverging_run_stops_at_its_step_and_keeps_the_saved_files(void **state) {
    (void)state;
    char *top = make_temp_dir(), *dir = join(top, "run"), *output = join(top, "output.txt"), *text;
    int status = RUN_TO_END(output, 0, &text, "train", "--corpus", "data/reverse/train.tsv", "--tokenizer",
                            "word", "--out", dir, "--steps", "3", "--batch-tokens", "256", "--valid-every",
                            "1", "--valid-sentences", "2", "--log-every", "1", "--threads", "1",
                            "--schedule", "constant", "--lr", "10", "--weight-decay", "1", "--warmup", "0");
    if (status != 0) fail_msg("training failed (%d):\n%s", status, text);
    free(text);
    char *model_path = join(dir, "model.safetensors");
    size_t length;
    char *best = slurp(model_path, &length);  // the first validation's, so the best
    assert_non_null(best);
    status = RUN_TO_END(output, 0, &text, RESUMED_RUN(dir, "200"));
    long step = step_named(text);
    if (status != 1 || !strstr(text, "azul: error: ") || step <= 3) {
        fail_msg("expected an error naming a step after 3 (%d):\n%s", status, text);
    }
    if (!file_holds(dir, "model.safetensors", best, length)) fail_msg("model.safetensors changed");
    char problem[2048];
    long saved;
    if (!files_load(dir, &saved, problem, sizeof problem)) {
        fail_msg("%s, after %s", problem, strstr(text, "azul: error: "));
    }
    if (saved < 3 || saved >= step) fail_msg("the training state is at step %ld, the run stopped at %ld", saved, step);
    printf("  stopped at step %ld: %s", step, strstr(text, "azul: error: "));
    free(text);
    free(best);
    free(model_path);
    remove_tree(top);
    free(top);
    free(dir);
    free(output);
}

// A weight that becomes infinite where no batch looks (the source
// embedding of <bos>, which only targets use) leaves every loss finite:
// the run must still stop at that step, before a checkpoint saves it.  The
// state is made so: a first moment of 3e38 where the second is 0 makes
// Adam's update overflow.
static void a_weight_that_overflows_unseen_by_the_loss_stops_the_run(void **state) {
    (void)state;
    char *top = make_temp_dir(), *dir = join(top, "run"), *output = join(top, "output.txt"), *text;
    int status = RUN_TO_END(output, 0, &text, FRESH_RUN(dir, "2"));
    if (status != 0) fail_msg("training failed (%d):\n%s", status, text);
    free(text);
    char *state_path = join(dir, "training_state.safetensors");
    Model m;
    AdamState adam;
    TokenizerPair tokenizers;
    TrainingProgress progress;
    cJSON *options;
    Error e;
    if (checkpoint_load(state_path, &m, &adam, &tokenizers, &progress, &options, &e) < 0) {
        fail_msg("%s", e.message);
    }
    size_t at = (size_t)(m.w.src_embed - m.params) + (size_t)TOKEN_BOS * (size_t)m.config.d_model;
    adam.m[at] = 3e38f;
    adam.v[at] = 0.0f;
    cJSON *tokenizers_json = tokenizer_pair_to_json(&tokenizers);
    char *tokenizers_text = cJSON_PrintUnformatted(tokenizers_json);
    assert_int_equal(checkpoint_save(state_path, &m, &adam, tokenizers_text, &progress, options, &e), 0);
    cJSON_free(tokenizers_text);
    cJSON_Delete(tokenizers_json);
    cJSON_Delete(options);
    tokenizer_pair_free(&tokenizers);
    adam_state_free(&adam);
    model_free(&m);
    char *names[] = {"model.safetensors", "last.safetensors", "training_state.safetensors"}, *before[3];
    size_t lengths[3];
    for (int i = 0; i < 3; i++) {
        char *path = join(dir, names[i]);
        before[i] = slurp(path, &lengths[i]);
        assert_non_null(before[i]);
        free(path);
    }
    status = RUN_TO_END(output, 0, &text, RESUMED_RUN(dir, "6"));
    if (status != 1 || step_named(text) != 3 || !strstr(text, "NaN or infinite")) {
        fail_msg("expected the run to stop at step 3 (%d):\n%s", status, text);
    }
    free(text);
    for (int i = 0; i < 3; i++) {
        if (!file_holds(dir, names[i], before[i], lengths[i])) fail_msg("%s changed", names[i]);
        free(before[i]);
    }
    free(state_path);
    remove_tree(top);
    free(top);
    free(dir);
    free(output);
}

// ---------------------------------------------------------------- the log

static long file_size(const char *dir, const char *name) {
    char *path = join(dir, name);
    struct stat st;
    long size = stat(path, &st) == 0 ? (long)st.st_size : -1;
    free(path);
    return size;
}

// Pads dir/train.log up to `size` bytes (or less than one line short of it)
// with lines of step 1, which a run resumed at step 2 keeps.
static void pad_log(const char *dir, long size) {
    static const char head[] = "{\"event\": \"padding\", \"step\": 1, \"text\": \"", tail[] = "\"}\n";
    const long frame = (long)(sizeof head - 1 + sizeof tail - 1);
    char *path = join(dir, "train.log");
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    char text[1000];
    memset(text, 'x', sizeof text);
    for (long at = ftell(f); size - at > frame;) {
        long length = size - at - frame < (long)sizeof text ? size - at - frame : (long)sizeof text;
        fprintf(f, "%s%.*s%s", head, (int)length, text, tail);
        at += frame + length;
    }
    assert_int_equal(fclose(f), 0);
    free(path);
}

// A full disk under train.log (RLIMIT_FSIZE, with the log padded up to the
// limit): the run stops with an error naming the log, where it used to lose
// the lines without a word and go on, and the checkpoint on disk stays as it
// was; once the log can be written, --resume goes on.  The first line that
// fails is a step's (--log-every 1), then a validation's (--log-every 5).
static void a_log_that_cannot_be_written_stops_the_run(void **state) {
    (void)state;
    const struct { const char *log_every, *message; } cases[] = {
        {"1", "train.log: File too large; training stopped at step 3"},
        {"5", "train.log: File too large; training stopped at step 4"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *top = make_temp_dir(), *dir = join(top, "run"), *output = join(top, "output.txt"), *text;
        int status = RUN_TO_END(output, 0, &text, FRESH_RUN(dir, "2"), "--log-every", cases[c].log_every);
        if (status != 0) fail_msg("training failed (%d):\n%s", status, text);
        free(text);
        const char *kept[] = {"last.safetensors", "training_state.safetensors"};
        char *before[2];
        size_t lengths[2];
        for (int i = 0; i < 2; i++) {
            char *path = join(dir, kept[i]);
            before[i] = slurp(path, &lengths[i]);
            assert_non_null(before[i]);
            free(path);
        }
        long limit = file_size(dir, "training_state.safetensors") + 65536;
        pad_log(dir, limit);
        status = RUN_TO_END(output, limit, &text, RESUMED_RUN(dir, "6"));
        if (status != 1 || !strstr(text, "azul: error: cannot write ") || !strstr(text, cases[c].message)) {
            fail_msg("--log-every %s: expected \"%s\" (%d):\n%s", cases[c].log_every, cases[c].message,
                     status, strstr(text, "azul: ") ? strstr(text, "azul: ") : text);
        }
        free(text);
        for (int i = 0; i < 2; i++) {
            if (!file_holds(dir, kept[i], before[i], lengths[i])) fail_msg("%s changed", kept[i]);
            free(before[i]);
        }
        status = RUN_TO_END(output, 0, &text, RESUMED_RUN(dir, "6"));
        if (status != 0) fail_msg("--resume failed (%d):\n%s", status, text);
        free(text);
        char problem[2048];
        long step;
        if (!files_load(dir, &step, problem, sizeof problem)) fail_msg("%s", problem);
        assert_int_equal(step, 6);
        remove_tree(top);
        free(top);
        free(dir);
        free(output);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(a_run_removes_the_temporaries_killed_runs_left),
    cmocka_unit_test(a_fresh_run_has_a_state_before_its_first_model_file),
    cmocka_unit_test(kill_9_at_any_moment_leaves_files_that_load_and_resume),
    cmocka_unit_test(a_diverging_run_stops_at_its_step_and_keeps_the_saved_files),
    cmocka_unit_test(a_weight_that_overflows_unseen_by_the_loss_stops_the_run),
    cmocka_unit_test(a_log_that_cannot_be_written_stops_the_run),
};
TEST_GROUP(train_fault_tests, tests);
