// What every layer uses: whole-file reading and line reading, and how they
// fail: each failure is an error naming the input, never a silent end.
#define _GNU_SOURCE  // sched_getaffinity, CPU_COUNT
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/cpu_load.h"
#include "core/json_tree.h"
#include "core/line_reader.h"
#include "tests/test.h"

static void read_whole_file_names_a_missing_file(void **state) {
    (void)state;
    Error err;
    size_t length;
    assert_null(read_whole_file("/nonexistent/notes.txt", 1 << 20, &length, &err));
    expect_contains(err.message, "/nonexistent/notes.txt");
    expect_contains(err.message, "No such file");
    assert_null(read_whole_file("data", 1 << 20, &length, &err));
    expect_contains(err.message, "data is not a regular file");
}

static void read_whole_file_refuses_a_file_over_its_limit(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *path = write_temp_file(dir, "big.txt", "0123456789", 10);
    Error err;
    size_t length;
    assert_null(read_whole_file(path, 9, &length, &err));
    expect_contains(err.message, "big.txt is too large (10 bytes; at most 9 expected)");
    char *text = read_whole_file(path, 10, &length, &err);
    assert_non_null(text);
    assert_int_equal(length, 10);
    assert_string_equal(text, "0123456789");
    free(text);
    remove_tree(dir);
    free(path);
    free(dir);
}

static void read_whole_stream_reports_a_read_error_naming_the_stream(void **state) {
    (void)state;
    FILE *f = fopen("data", "r");  // opening a directory succeeds; reading it fails
    assert_non_null(f);
    Error err;
    size_t length;
    assert_null(read_whole_stream(f, "the data folder", 1 << 20, &length, &err));
    expect_contains(err.message, "cannot read the data folder: Is a directory");
    fclose(f);
}

// Every line of a file through a LineReader, joined with "|"; "!" marks a
// line reported too long.
static char *read_lines(const char *text, size_t max_bytes) {
    char *dir = make_temp_dir();
    char *path = write_temp_file(dir, "lines.txt", text, strlen(text));
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    LineReader r;
    Error err;
    assert_int_equal(line_reader_init(&r, fd, path, &err), 0);
    char *joined = calloc(1, strlen(text) + 64);
    char *line;
    bool too_long;
    int status;
    while ((status = line_reader_next(&r, max_bytes, &line, &too_long, &err)) > 0) {
        strcat(joined, too_long ? "!" : line);
        strcat(joined, "|");
        free(line);
    }
    assert_int_equal(status, 0);
    line_reader_free(&r);
    close(fd);
    remove_tree(dir);
    free(path);
    free(dir);
    return joined;
}

static void line_reader_gives_every_line_and_flags_long_ones(void **state) {
    (void)state;
    char *lines = read_lines("one\r\ntwo\n\nthree", 10);
    assert_string_equal(lines, "one|two||three|");
    free(lines);
    lines = read_lines("short\nmuch too long for it\nok\nlast one too long", 8);
    assert_string_equal(lines, "short|!|ok|!|");
    free(lines);
    lines = read_lines("", 8);
    assert_string_equal(lines, "");
    free(lines);
}

static void line_reader_reports_a_read_error_instead_of_an_end(void **state) {
    (void)state;
    int fd = open("data", O_RDONLY);
    assert_true(fd >= 0);
    LineReader r;
    Error err;
    assert_int_equal(line_reader_init(&r, fd, "data", &err), 0);
    char *line;
    bool too_long;
    assert_int_equal(line_reader_next(&r, 100, &line, &too_long, &err), -1);
    assert_null(line);
    assert_string_equal(err.message, "cannot read data: Is a directory");
    // Asked again, it still fails: an error is never forgotten into an end.
    assert_true(line_reader_ready(&r));
    assert_int_equal(line_reader_next(&r, 100, &line, &too_long, &err), -1);
    line_reader_free(&r);
    close(fd);
}

static void atomic_write_names_the_file_it_cannot_write(void **state) {
    (void)state;
    Error err;
    assert_int_equal(atomic_write_file("/nonexistent/model.json", "{}", 2, &err), -1);
    expect_contains(err.message, "cannot write /nonexistent/model.json");
}

// The nodes cJSON built: the value itself and everything inside it.
static size_t nodes_in(const cJSON *json) {
    size_t n = 1;
    for (const cJSON *child = json->child; child; child = child->next) n += nodes_in(child);
    return n;
}

// Issue 11: the count that decides whether cJSON may parse a text is never
// below what cJSON builds (brackets, commas and escaped quotes inside
// strings are text, not structure), and is exact for dense arrays and
// objects, the shape a hostile file takes.
static void json_count_values_never_undercounts_cjson(void **state) {
    (void)state;
    const struct {
        const char *text;
        size_t exact;  // when the count is exact; 0 when it may be above
    } cases[] = {
        {"0", 1},
        {"[0,0,0]", 4},
        {"{\"a\":1,\"b\":{\"c\":[true,null]}}", 6},
        {"{\"a\":\"[,{\\\"],x\",\"b\":[1,2]}", 5},      // {"a":"[,{\"],x","b":[1,2]}
        {"{\"k\":\"a\\\\\",\"j\":[1]}", 4},             // {"k":"a\\","j":[1]}: the string ends
        {"[\",,,,]]]\",\"\\\\\",\"{\"]", 4},
        {"[[],{},[[]]]", 0},
        {" [ 1 , \"\\u005b\" ] ", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text;
        cJSON *json = cJSON_Parse(text);
        if (!json) fail_msg("case %zu is not JSON: %s", i, text);
        size_t counted = json_count_values(text, strlen(text), SIZE_MAX, NULL), built = nodes_in(json);
        if (counted < built) fail_msg("case %zu: counted %zu, cJSON built %zu: %s", i, counted, built, text);
        if (cases[i].exact && counted != cases[i].exact) fail_msg("case %zu: counted %zu: %s", i, counted, text);
        assert_int_equal(built, cases[i].exact ? cases[i].exact : built);
        cJSON_Delete(json);
    }
    int depth;
    assert_int_equal(json_count_values("[[{\"a\":[\"]]]]\"]}]]", 19, SIZE_MAX, &depth), 5);
    assert_int_equal(depth, 4);
    // it stops counting as soon as the count is past stop_after
    assert_int_equal(json_count_values("[0,0,0,0,0,0]", 13, 2, NULL), 3);
}

// Issue 11: json_parse_bounded takes a text of exactly max_values values and
// nests of exactly JSON_MAX_DEPTH, refuses one more of either with a message
// naming the limit, and names text that is not JSON.
static void json_parse_bounded_refuses_past_its_limits(void **state) {
    (void)state;
    Error err;
    cJSON *json = json_parse_bounded("[0,0,0]", 7, 4, "the list", &err);
    assert_non_null(json);
    cJSON_Delete(json);
    assert_null(json_parse_bounded("[0,0,0]", 7, 3, "the list", &err));
    assert_string_equal(err.message, "the list holds more than the limit of 3 JSON values");
    char deep[2 * JSON_MAX_DEPTH + 3];
    for (int levels = JSON_MAX_DEPTH; levels <= JSON_MAX_DEPTH + 1; levels++) {
        memset(deep, '[', (size_t)levels);
        memset(deep + levels, ']', (size_t)levels);
        json = json_parse_bounded(deep, 2 * (size_t)levels, 1000, "the nest", &err);
        if (levels == JSON_MAX_DEPTH) {
            assert_non_null(json);
            cJSON_Delete(json);
        } else {
            assert_null(json);
            assert_string_equal(err.message, "the nest nests arrays and objects deeper than the limit of 64 levels");
        }
    }
    assert_null(json_parse_bounded("[0,", 3, 10, "the list", &err));
    assert_string_equal(err.message, "the list is not valid JSON");
}

// Other programs that keep every allowed CPU busy leave room for one thread;
// the answer never exceeds what was asked for, nor falls below 1.
static void threads_beside_other_programs_gives_way_to_busy_programs(void **state) {
    (void)state;
    assert_int_equal(threads_beside_other_programs(1), 1);
    const int asked = threads_beside_other_programs(64);
    assert_true(asked >= 1 && asked <= 64);
    cpu_set_t allowed;
    assert_int_equal(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    const int cpus = CPU_COUNT(&allowed);
    pid_t busy[64];
    int started = 0;
    for (; started < cpus && started < 64; started++) {
        busy[started] = fork();
        assert_true(busy[started] >= 0);
        if (busy[started] == 0) {
            for (volatile unsigned long spin = 0;; spin++) {}
        }
    }
    // two windows of the measurement while they spin, this process asleep
    const struct timespec pause = {0, (long)(2.5 * CPU_LOAD_WINDOW * 1e9)};
    nanosleep(&pause, NULL);
    threads_beside_other_programs(64);
    nanosleep(&pause, NULL);
    const int beside = threads_beside_other_programs(64);
    for (int i = 0; i < started; i++) {
        kill(busy[i], SIGKILL);
        waitpid(busy[i], NULL, 0);
    }
    assert_int_equal(beside, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(read_whole_file_names_a_missing_file),
    cmocka_unit_test(read_whole_file_refuses_a_file_over_its_limit),
    cmocka_unit_test(read_whole_stream_reports_a_read_error_naming_the_stream),
    cmocka_unit_test(line_reader_gives_every_line_and_flags_long_ones),
    cmocka_unit_test(line_reader_reports_a_read_error_instead_of_an_end),
    cmocka_unit_test(atomic_write_names_the_file_it_cannot_write),
    cmocka_unit_test(json_count_values_never_undercounts_cjson),
    cmocka_unit_test(json_parse_bounded_refuses_past_its_limits),
    cmocka_unit_test(threads_beside_other_programs_gives_way_to_busy_programs),
};
TEST_GROUP(core_tests, tests);
