// Shared declarations for the test suite: cmocka, the groups, and helpers.
//
// Each tests/test_*.c file exposes one group through a TestGroup; main()
// runs them all and ends with the line "N passed, N failed, N skipped"
// (under CI=true a group that cannot run counts as failed, not skipped).
#ifndef AZUL_TEST_H
#define AZUL_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

typedef struct {
    const char *name;
    const struct CMUnitTest *tests;
    size_t count;
    // Why the group cannot run here (e.g. the shared corpora are absent), or
    // NULL; a group that cannot run is reported and not counted.
    const char *(*unavailable)(void);
} TestGroup;

#define TEST_GROUP(name, array) \
    const TestGroup name = {#name, array, sizeof(array) / sizeof(array[0]), NULL}
#define TEST_GROUP_UNLESS(name, array, unavailable) \
    const TestGroup name = {#name, array, sizeof(array) / sizeof(array[0]), unavailable}

extern const TestGroup core_tests, utf8_tests, normalize_tests, pretokenize_tests, tokenizer_tests,
    corpus_tests, real_corpus_tests, cli_tests, op_gradient_tests, model_tests, parity_tests,
    learning_tests, optimizer_tests, train_tests, bleu_vector_tests, bleu_rule_tests,
    decoding_tests, attention_tests, browser_tests, layer_tests, train_option_tests, matmul_tests,
    hostile_file_tests, hostile_input_tests, data_parallel_tests, train_fault_tests, recipe_tests, average_tests, serve_tests,
    playground_tests, mpi_tests;

#ifndef AZUL_BIN
#define AZUL_BIN "bin/azul"
#endif
#define AZUL_BIN_PATH AZUL_BIN

// The real Tatoeba corpora beside the project (../shared/corpora), or NULL
// with a message when they are absent; tests that need them are skipped.
const char *shared_corpora_dir(void);

// Runs bin/azul with the given arguments (NULL-terminated) and optional
// stdin text; captures stdout and stderr (malloc'd, NUL-terminated) and
// returns the exit status, or -1 when the program died from a signal.
int run_azul(const char *const *args, const char *stdin_text, char **out, char **err);
// The same for any program (found on PATH when its name has no slash).
int run_program(const char *program, const char *const *args, const char *stdin_text, char **out,
                char **err);

// Starts bin/azul in the background and returns its pid: stdin from
// stdin_path (NULL: /dev/null), stdout and stderr to the two paths (the same
// path: both in one file); with fsize_limit > 0, no file it writes may grow
// past that many bytes (RLIMIT_FSIZE, SIGXFSZ ignored: the write fails with
// EFBIG, as on a full disk).
pid_t spawn_azul_redirected(const char *const *args, const char *stdin_path, const char *stdout_path,
                            const char *stderr_path, long fsize_limit);
pid_t spawn_program_redirected(const char *program, const char *const *args, const char *stdin_path,
                              const char *stdout_path, const char *stderr_path, long fsize_limit);

// Under AZUL_TEST_WITHOUT_PROGRAM=1 the tests cannot start bin/azul: under
// qemu-user (tools/cross_arm64.sh) a program of the emulated machine cannot
// start another.  run_azul, spawn_azul_redirected and toy_model_dir then
// skip the test (cmocka's skip()) instead, and count it here, so that the
// runner reports it as skipped rather than passed.
void skip_unless_the_program_runs(void);
extern size_t tests_skipped_without_the_program;

// run_azul with the arguments written out: RUN(stdin, &out, &err, "train", "--help").
#define RUN(stdin_text, out, err, ...) \
    run_azul((const char *const[]){__VA_ARGS__, NULL}, stdin_text, out, err)

// The losses logged in DIR/train.log, by step (index 0 unused; a step that
// was not logged is 0), malloc'd.
double *logged_losses(const char *dir, int steps);

// Fails the test, showing the text, unless it contains needle.
void expect_contains(const char *text, const char *needle);

// A toy English→Spanish model trained once per test run (a few seconds) and
// shared by the groups that need a trained model; removed at exit.
const char *toy_model_dir(void);

// DIR/NAME, malloc'd.
char *join(const char *dir, const char *name);

// The whole of a file as a NUL-terminated string (malloc'd; *length its
// bytes unless length is NULL), or NULL when it cannot be opened.
char *slurp(const char *path, size_t *length);

// Debian's Chromium (or another Chromium-like browser), or NULL.
const char *find_chromium(void);

// A fresh temporary directory for one test, removed by remove_tree.
char *make_temp_dir(void);
void remove_tree(const char *path);
// Writes text to dir/name and returns the malloc'd path.
char *write_temp_file(const char *dir, const char *name, const char *text, size_t length);

#endif
