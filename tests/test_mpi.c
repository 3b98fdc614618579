// Training over MPI (train/world.c): `mpirun -np 2 azul train` follows the
// same curve as one process with the same global batch and seed, resumes,
// and ends cleanly, checkpoint intact, on Ctrl-C or when a rank is killed.
//
// The MPI flavour of azul is built apart (build/mpi/bin/azul, by `make test`
// when Open MPI's mpicc is installed).  The single process it is compared
// with is that same program started without mpirun (a job of one rank): the
// same compiled code on both sides, since the ordinary build may not be
// (`make sanitize` instruments it, and a weight whose gradient is rounding
// noise then takes other last bits).
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "model/model_file.h"
#include "tests/test.h"

#ifndef AZUL_MPI_BIN
#define AZUL_MPI_BIN "build/mpi/bin/azul"
#endif

enum { STEPS = 30, MAX_ARGS = 48 };

// Whether a program of that name is on PATH.
static bool on_path(const char *name) {
    const char *path = getenv("PATH");
    if (!path) return false;
    char dir[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, name);
        if (access(dir, X_OK) == 0) return true;
        path += n + (path[n] == ':');
    }
    return false;
}

static const char *mpi_unavailable(void) {
    if (!on_path("mpirun")) return "mpirun not found (Open MPI: Debian's openmpi-bin and libopenmpi-dev)";
    if (access(AZUL_MPI_BIN, X_OK) != 0) {
        return AZUL_MPI_BIN " not built (make test builds it when mpicc is installed)";
    }
    // Open MPI refuses to run as root unless told that it is meant (CI
    // containers run as root).
    if (geteuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    return NULL;
}

// The toy run both sides make: a noam schedule, whose rate does not depend
// on --steps (the resumed run sets another), and a loss logged every step.
static const char *const TRAINING[] = {
    "train", "--corpus", "data/toy-en-es/train.tsv", "--valid", "data/toy-en-es/dev.tsv",
    "--batch-tokens", "512", "--lr", "1e-3", "--warmup", "10", "--schedule", "noam",
    "--log-every", "1", "--valid-every", "10", "--valid-sentences", "4", "--seed", "7", NULL};

// argv for `mpirun -np RANKS build/mpi/bin/azul TRAINING... --threads 1
// --out DIR EXTRA...` into args; returns the program.  Ranks 0 is the one
// process it is compared with: the same program, alone, with --threads 2,
// whose two shards are split by the same rule as two ranks'
// (data_parallel_split_rows) and summed in the same order, so that the
// curves differ by MPI alone.  (One
// process of one thread adds the same gradients in another order; its
// weights drift from these by rounding — most visibly the attention's key
// biases, whose gradient is zero in exact arithmetic, so that AdamW's
// division by its square root magnifies the last bits.)
static const char *training_command(const char **args, int ranks, const char *dir, const char *const *extra) {
    size_t n = 0;
    static char ranks_text[16];
    if (ranks > 0) {
        snprintf(ranks_text, sizeof ranks_text, "%d", ranks);
        args[n++] = "--oversubscribe";
        args[n++] = "-np";
        args[n++] = ranks_text;
        args[n++] = AZUL_MPI_BIN;
    }
    for (size_t i = 0; TRAINING[i]; i++) args[n++] = TRAINING[i];
    args[n++] = "--threads";
    args[n++] = ranks > 0 ? "1" : "2";
    args[n++] = "--out";
    args[n++] = dir;
    for (size_t i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    assert_true(n < MAX_ARGS);
    return ranks > 0 ? "mpirun" : AZUL_MPI_BIN;
}

// Trains into dir, alone or over `ranks` processes; fails on a non-zero exit.
// Returns stdout (malloc'd).
static char *train(int ranks, const char *dir, const char *const *extra) {
    const char *args[MAX_ARGS];
    const char *program = training_command(args, ranks, dir, extra);
    char *out, *err;
    int status = run_program(program, args, NULL, &out, &err);
    if (status != 0) fail_msg("%s (%d ranks) exited with %d:\n%s\n%s", program, ranks, status, out, err);
    free(err);
    return out;
}

// Steps from..to of the two runs' logged losses agree to 1e-4 relative.
static void expect_same_losses(const char *one, const char *two, int from, int to) {
    double *a = logged_losses(one, to), *b = logged_losses(two, to);
    for (int step = from; step <= to; step++) {
        if (a[step] == 0 || b[step] == 0 || fabs(a[step] - b[step]) > 1e-4 * fabs(a[step])) {
            fail_msg("step %d: loss %.9f in one process, %.9f over two ranks", step, a[step], b[step]);
        }
    }
    free(a);
    free(b);
}

// DIR/last.safetensors of the two runs: every weight within 1e-4 (relative
// to the weight where it is larger than 1).
static void expect_same_weights(const char *one, const char *two) {
    char *pa = join(one, "last.safetensors"), *pb = join(two, "last.safetensors");
    Model a, b;
    Error err;
    if (model_load(&a, NULL, pa, &err) < 0) fail_msg("%s", err.message);
    if (model_load(&b, NULL, pb, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(a.n_params, b.n_params);
    assert_int_equal(arrlen(a.tensors), arrlen(b.tensors));
    // (a loaded model's tensors may be mapped from the file, each apart)
    // The first difference found is reported after both models are freed.
    char first_difference[512] = "";
    double worst_gap = 0;
    for (ptrdiff_t t = 0; t < arrlen(a.tensors) && !first_difference[0]; t++) {
        const float *x = a.tensors[t].data, *y = b.tensors[t].data;
        if (strcmp(a.tensors[t].name, b.tensors[t].name) != 0) {
            snprintf(first_difference, sizeof first_difference, "tensor %td: %s in one process, %s over two ranks",
                     t, a.tensors[t].name, b.tensors[t].name);
        }
        for (size_t i = 0; i < a.tensors[t].size && !first_difference[0]; i++) {
            double gap = fabs((double)x[i] - y[i]) / fmax(1.0, fabs(x[i]));
            if (gap > 1e-4) {
                snprintf(first_difference, sizeof first_difference, "%s[%zu]: %.9g in one process, %.9g over two ranks",
                         a.tensors[t].name, i, x[i], y[i]);
            }
            worst_gap = fmax(worst_gap, gap);
        }
    }
    model_free(&a);
    model_free(&b);
    free(pa);
    free(pb);
    if (first_difference[0]) fail_msg("%s", first_difference);
    printf("  largest weight difference after %d steps: %.2g\n", STEPS, worst_gap);
}

static void two_ranks_follow_the_curve_of_one_process(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *alone = join(dir, "alone"), *shared = join(dir, "shared");
    const char *const steps[] = {"--steps", "30", NULL};
    free(train(0, alone, steps));
    char *out = train(2, shared, steps);
    expect_contains(out, "2 ranks x 1 thread:");
    expect_contains(out, "target tokens/s per rank; the gradients' all-reduce took ");
    free(out);
    expect_same_losses(alone, shared, 1, STEPS);
    expect_same_weights(alone, shared);
    // rank 0 alone wrote the files: one log line per step, not two
    char *log_path = join(shared, "train.log"), *log = slurp(log_path, NULL);
    int train_events = 0;
    for (const char *p = log; (p = strstr(p, "\"event\": \"train\"")); p++) train_events++;
    assert_int_equal(train_events, STEPS);
    free(log);
    free(log_path);
    remove_tree(dir);
    free(dir); free(alone); free(shared);
}

// Twelve steps over two ranks, then --resume on to thirty over two ranks:
// the curve of the straight single-process run.
static void two_ranks_resume_where_they_stopped(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *alone = join(dir, "alone"), *shared = join(dir, "shared");
    const char *const thirty[] = {"--steps", "30", NULL}, *const twelve[] = {"--steps", "12", NULL};
    const char *const resume[] = {"--steps", "30", "--resume", NULL};
    free(train(0, alone, thirty));
    free(train(2, shared, twelve));
    char *out = train(2, shared, resume);
    expect_contains(out, "resuming");
    free(out);
    expect_same_losses(alone, shared, 1, STEPS);
    expect_same_weights(alone, shared);
    remove_tree(dir);
    free(dir); free(alone); free(shared);
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

// Starts a long two-rank run into dir (stdout and stderr to output_path)
// and returns mpirun's pid once the run has saved a checkpoint.
static pid_t start_a_long_run(const char *dir, const char *output_path) {
    const char *const long_run[] = {"--steps", "100000", NULL};
    const char *args[MAX_ARGS];
    const char *program = training_command(args, 2, dir, long_run);
    pid_t pid = spawn_program_redirected(program, args, NULL, output_path, output_path, 0);
    // last.safetensors, not training_state.safetensors: the trainer saves a
    // state at step 0 too, and a job killed then has no model to resume
    char *state_path = join(dir, "last.safetensors");
    for (int waited = 0; access(state_path, R_OK) != 0; waited += 50) {
        if (waited > 120000 || waitpid(pid, NULL, WNOHANG) == pid) {
            kill(pid, SIGKILL);
            char *output = slurp(output_path, NULL);
            fail_msg("no checkpoint after %d ms:\n%s", waited, output ? output : "");
        }
        sleep_ms(50);
    }
    free(state_path);
    sleep_ms(300);  // and a few steps more
    return pid;
}

// mpirun's exit status once it has ended, within a minute; a job that hangs
// fails the test.
static int wait_for_the_job(pid_t pid, const char *output_path) {
    int status;
    for (int waited = 0; waitpid(pid, &status, WNOHANG) != pid; waited += 50) {
        if (waited > 60000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            char *output = slurp(output_path, NULL);
            fail_msg("the job still ran a minute later:\n%s", output ? output : "");
        }
        sleep_ms(50);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The run in dir goes on from its checkpoint, in one process.
static void expect_it_resumes(const char *dir) {
    char *last = join(dir, "last.safetensors");
    Model m;
    Error err;
    if (model_load(&m, NULL, last, &err) < 0) fail_msg("%s", err.message);
    model_free(&m);
    free(last);
    char *out, *errors;
    int status = RUN(NULL, &out, &errors, "train", "--out", dir, "--resume", "--steps", "1", "--threads", "1");
    if (status != 0) fail_msg("--resume after the job ended exited with %d:\n%s\n%s", status, out, errors);
    expect_contains(out, "resuming");
    free(out);
    free(errors);
}

// Ctrl-C on mpirun reaches every rank; they stop at the same step and rank 0
// saves a checkpoint.
static void ctrl_c_stops_every_rank_with_a_checkpoint(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *run = join(dir, "run"), *output_path = join(dir, "run.out");
    pid_t pid = start_a_long_run(run, output_path);
    kill(pid, SIGINT);
    int status = wait_for_the_job(pid, output_path);
    char *output = slurp(output_path, NULL);
    if (status == 0) fail_msg("an interrupted job exited 0:\n%s", output);
    expect_contains(output, "interrupted: checkpoint saved");
    free(output);
    expect_it_resumes(run);
    remove_tree(dir);
    free(dir); free(run); free(output_path);
}

// The pids of mpirun's children (the ranks), up to max; returns how many.
static int ranks_of(pid_t mpirun, pid_t *ranks, int max) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)mpirun, (int)mpirun);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, pid;
    while (n < max && fscanf(f, "%d", &pid) == 1) ranks[n++] = pid;
    fclose(f);
    return n;
}

// kill -9 of one rank ends the whole job, with a non-zero status and the
// last checkpoint whole.
static void a_killed_rank_ends_the_job_and_the_checkpoint_survives(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *run = join(dir, "run"), *output_path = join(dir, "run.out");
    pid_t pid = start_a_long_run(run, output_path);
    pid_t ranks[4];
    int n = ranks_of(pid, ranks, 4);
    if (n != 2) {
        kill(pid, SIGKILL);
        fail_msg("mpirun has %d children, not the 2 ranks", n);
    }
    kill(ranks[1], SIGKILL);
    int status = wait_for_the_job(pid, output_path);
    assert_int_not_equal(status, 0);
    expect_it_resumes(run);
    remove_tree(dir);
    free(dir); free(run); free(output_path);
}

// The parameter count a rank's error line gives for rank `rank` ("rank R
// has a model of N parameters"), or -1 when the line has none.
static long parameters_named(const char *line, int rank) {
    char needle[64];
    snprintf(needle, sizeof needle, "rank %d has a model of ", rank);
    const char *p = strstr(line, needle);
    return p ? strtol(p + strlen(needle), NULL, 10) : -1;
}

// The error line of rank `rank` in output; fails the test when it has none.
static char *error_line_of_rank(const char *output, int rank) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "azul (rank %d of 2): error: ", rank);
    const char *p = strstr(output, prefix);
    if (!p) fail_msg("rank %d gave no error:\n%s", rank, output);
    return strndup(p, strcspn(p, "\n"));
}

// Two ranks given corpora of different vocabularies (hence models of
// different sizes) with --time-budget, whose timing run sums gradients
// before any step: before that sum, every rank says that the ranks differ,
// with both parameter counts, and the job ends, instead of a hang or an
// error from inside MPI.
static void ranks_with_different_corpora_stop_with_one_clear_error(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *run = join(dir, "run"), *output_path = join(dir, "run.out");
    size_t length;
    char *whole = slurp("data/toy-en-es/train.tsv", &length);
    assert_non_null(whole);
    size_t first_100_lines = 0;
    for (int lines = 0; lines < 100 && first_100_lines < length; first_100_lines++) {
        lines += whole[first_100_lines] == '\n';
    }
    char *part = write_temp_file(dir, "part.tsv", whole, first_100_lines);
    free(whole);
    // one program of mpirun per rank (its "A : B" form), each with its corpus
    const char *args[] = {"--oversubscribe",
                          "-np", "1", AZUL_MPI_BIN, "train", "--corpus", "data/toy-en-es/train.tsv",
                          "--time-budget", "20s", "--threads", "1", "--out", run, ":",
                          "-np", "1", AZUL_MPI_BIN, "train", "--corpus", part,
                          "--time-budget", "20s", "--threads", "1", "--out", run, NULL};
    const double started = (double)time(NULL);
    pid_t pid = spawn_program_redirected("mpirun", args, NULL, output_path, output_path, 0);
    int status = wait_for_the_job(pid, output_path);  // fails the test after a minute
    char *output = slurp(output_path, NULL);
    if (status == 0) fail_msg("ranks of different corpora trained:\n%s", output);
    if (strstr(output, "MPI_ERR")) fail_msg("an error from inside MPI, not azul's:\n%s", output);
    char *lines[2] = {error_line_of_rank(output, 0), error_line_of_rank(output, 1)};
    for (int rank = 0; rank < 2; rank++) {
        long mine = parameters_named(lines[rank], 0), theirs = parameters_named(lines[rank], 1);
        if (mine <= 0 || theirs <= 0 || mine == theirs) {
            fail_msg("rank %d's error does not give both parameter counts:\n%s", rank, lines[rank]);
        }
        expect_contains(lines[rank], "training pairs");
    }
    // both ranks say the same, and rank 0's count is the one its summary gave
    assert_string_equal(strstr(lines[0], "error: "), strstr(lines[1], "error: "));
    char summary[64];
    snprintf(summary, sizeof summary, " %ld parameters;", parameters_named(lines[0], 0));
    expect_contains(output, summary);
    printf("  ended in %.0f s: %s\n", (double)time(NULL) - started, strstr(lines[0], "error: "));
    free(lines[0]);
    free(lines[1]);
    free(output);
    free(part);
    remove_tree(dir);
    free(dir); free(run); free(output_path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(two_ranks_follow_the_curve_of_one_process),
    cmocka_unit_test(two_ranks_resume_where_they_stopped),
    cmocka_unit_test(ctrl_c_stops_every_rank_with_a_checkpoint),
    cmocka_unit_test(a_killed_rank_ends_the_job_and_the_checkpoint_survives),
    cmocka_unit_test(ranks_with_different_corpora_stop_with_one_clear_error),
};

TEST_GROUP_UNLESS(mpi_tests, tests, mpi_unavailable);
