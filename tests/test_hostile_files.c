// Hostile input and faults (issue 11): damaged and partial files, read and
// write errors, planted symlinks, huge lines, a full disk.  Each test names
// the defect it guards against.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/test.h"

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

// The whole file (NUL-terminated; *length without the NUL), or NULL when absent.
static char *slurp(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t n = 0, capacity = 0;
    for (;;) {
        if (n + 4096 + 1 > capacity) {
            capacity = (capacity + 4096) * 2;
            text = realloc(text, capacity);
            assert_non_null(text);
        }
        size_t got = fread(text + n, 1, capacity - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    text[n] = '\0';
    if (length) *length = n;
    return text;
}

// A short toy training run into DIR (a fresh one, or --resume), up to `steps`
// steps, validating and checkpointing every 3; fails the test when it fails.
static void train_toy(const char *dir, const char *steps, int resume) {
    char *out, *err;
    int status = resume
        ? RUN(NULL, &out, &err, "train", "--out", dir, "--steps", steps, "--resume")
        : RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", dir,
              "--steps", steps, "--batch-tokens", "256", "--log-every", "1", "--valid-every", "3",
              "--valid-sentences", "4", "--seed", "7");
    if (status != 0) fail_msg("train --steps %s%s failed (%d):\n%s\n%s", steps,
                              resume ? " --resume" : "", status, out, err);
    free(out);
    free(err);
}

// Every line of DIR/train.log is a JSON object; returns how many there are.
static int count_log_lines(const char *dir) {
    char *path = join(dir, "train.log");
    char *text = slurp(path, NULL);
    assert_non_null(text);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) fail_msg("train.log line %d is not a JSON object: %s", lines + 1, line);
        cJSON_Delete(j);
        lines++;
    }
    free(text);
    free(path);
    return lines;
}

// ---------------------------------------------------------------- train.log

// Issue 11.2: a log whose last line lost its newline (a partial write) made
// the resumed run write one byte past the buffer of kept lines (AddressSanitizer
// shows it; a plain build went on).
static void resume_keeps_a_last_log_line_without_its_newline(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    train_toy(dir, "6", 0);
    char *log_path = join(dir, "train.log");
    size_t length;
    char *text = slurp(log_path, &length);
    assert_non_null(text);
    assert_true(length > 1 && text[length - 1] == '\n');
    assert_int_equal(truncate(log_path, (off_t)(length - 1)), 0);
    int before = count_log_lines(dir);
    train_toy(dir, "8", 1);
    assert_true(count_log_lines(dir) > before);  // the old lines, each whole, then the new ones
    free(text);
    free(log_path);
    remove_tree(dir);
    free(dir);
}

// Issue 11.7: on --resume, train.log was truncated and rewritten in place, so
// a crash or a full disk at that moment lost the history.  Now it is replaced
// atomically: a hard link to the old log keeps every old line.
static void resume_replaces_train_log_without_truncating_it(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    train_toy(dir, "6", 0);
    char *log_path = join(dir, "train.log"), *link_path = join(dir, "old.log");
    char *old = slurp(log_path, NULL);
    assert_non_null(old);
    assert_int_equal(link(log_path, link_path), 0);
    train_toy(dir, "8", 1);
    char *kept = slurp(link_path, NULL), *now = slurp(log_path, NULL);
    assert_string_equal(kept, old);
    assert_true(strlen(now) > strlen(old));
    assert_memory_equal(now, old, strlen(old));
    free(old);
    free(kept);
    free(now);
    free(log_path);
    free(link_path);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(resume_keeps_a_last_log_line_without_its_newline),
    cmocka_unit_test(resume_replaces_train_log_without_truncating_it),
};

TEST_GROUP(hostile_file_tests, tests);
