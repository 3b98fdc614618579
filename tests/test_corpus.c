// Reading parallel corpora: what is accepted, what is skipped and reported.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/line_reader.h"
#include "tests/test.h"
#include "train/corpus.h"

typedef struct {
    Corpus corpus;
    char *report;  // what corpus_read wrote to its warnings stream
} ReadResult;

static ReadResult read_text(const char *text, size_t length, size_t max_warnings) {
    char *dir = make_temp_dir();
    char *path = write_temp_file(dir, "corpus.tsv", text, length);
    ReadResult r;
    size_t report_size;
    FILE *warnings = open_memstream(&r.report, &report_size);
    Error err;
    assert_int_equal(corpus_read(&r.corpus, path, warnings, max_warnings, &err), 0);
    fclose(warnings);
    remove_tree(dir);
    free(path);
    free(dir);
    return r;
}

static void free_result(ReadResult *r) {
    corpus_free(&r->corpus);
    free(r->report);
}

static void good_lines_become_pairs(void **state) {
    (void)state;
    const char text[] = "The ball is blue\tLa bola es azul\nThe cat\tEl gato\tCC-BY 2.0 (France) Attribution\n";
    ReadResult r = read_text(text, sizeof text - 1, 10);
    assert_int_equal(corpus_size(&r.corpus), 2);
    assert_string_equal(r.corpus.pairs[0].source, "The ball is blue");
    assert_string_equal(r.corpus.pairs[0].target, "La bola es azul");
    assert_string_equal(r.corpus.pairs[1].target, "El gato");  // third column ignored
    assert_int_equal(r.corpus.pairs[1].line, 2);
    assert_string_equal(r.report, "");
    free_result(&r);
}

static void bom_crlf_and_blank_lines_are_accepted(void **state) {
    (void)state;
    const char text[] = "\xEF\xBB\xBFHello\tHola\r\n\r\n   \n\nBye\tAdiós\r\nlast\tÚltimo";
    ReadResult r = read_text(text, sizeof text - 1, 10);
    assert_int_equal(corpus_size(&r.corpus), 3);
    assert_string_equal(r.corpus.pairs[0].source, "Hello");
    assert_string_equal(r.corpus.pairs[0].target, "Hola");
    assert_string_equal(r.corpus.pairs[1].target, "Adiós");
    assert_int_equal(r.corpus.pairs[1].line, 5);
    assert_string_equal(r.corpus.pairs[2].target, "Último");  // no final newline
    assert_int_equal(r.corpus.blank, 3);
    assert_int_equal(corpus_skipped(&r.corpus), 0);
    assert_string_equal(r.report, "");
    free_result(&r);
}

static void each_malformed_kind_is_reported_with_file_and_line(void **state) {
    (void)state;
    const char text[] = "ok\tbien\n"
                        "no tab here\n"
                        "\tmissing source\n"
                        "missing target\t  \n"
                        "bad \xC3\x28 bytes\tmal\n"
                        "overlong \xC0\xAF\tx\n"
                        "nul\0byte\ty\n"
                        "fine\tbien\n";
    ReadResult r = read_text(text, sizeof text - 1, 10);
    assert_int_equal(corpus_size(&r.corpus), 2);
    assert_int_equal(r.corpus.missing_tab, 1);
    assert_int_equal(r.corpus.empty_side, 2);
    assert_int_equal(r.corpus.invalid_text, 3);
    assert_int_equal(r.corpus.pairs[1].line, 8);
    assert_non_null(strstr(r.report, "corpus.tsv:2: no TAB between source and target; line skipped"));
    assert_non_null(strstr(r.report, "corpus.tsv:3: empty source side"));
    assert_non_null(strstr(r.report, "corpus.tsv:4: empty target side"));
    assert_non_null(strstr(r.report, "corpus.tsv:5: invalid UTF-8 at byte 4 (truncated multi-byte sequence)"));
    assert_non_null(strstr(r.report, "corpus.tsv:6: invalid UTF-8 at byte 9 (overlong encoding)"));
    assert_non_null(strstr(r.report, "corpus.tsv:7: NUL byte at byte 3"));
    assert_non_null(strstr(r.report, "skipped 6 malformed lines of 8 (1 without TAB, 2 with an "
                                     "empty side, 3 with invalid text); kept 2 pairs"));
    free_result(&r);
}

static void warnings_stop_after_the_limit_but_counting_goes_on(void **state) {
    (void)state;
    char *text = NULL;
    size_t length;
    FILE *f = open_memstream(&text, &length);
    for (int i = 0; i < 50; i++) fprintf(f, "line %d has no tab\n", i);
    fprintf(f, "good\tbueno\n");
    fclose(f);
    ReadResult r = read_text(text, length, 5);
    assert_int_equal(r.corpus.missing_tab, 50);
    assert_int_equal(corpus_size(&r.corpus), 1);
    assert_non_null(strstr(r.report, "corpus.tsv:5: no TAB"));
    assert_null(strstr(r.report, "corpus.tsv:6: no TAB"));
    assert_non_null(strstr(r.report, "further malformed lines are counted but not shown"));
    assert_non_null(strstr(r.report, "skipped 50 malformed lines of 51"));
    free(text);
    free_result(&r);
}

static void a_hundred_thousand_lines_are_read(void **state) {
    (void)state;
    char *text = NULL;
    size_t length;
    FILE *f = open_memstream(&text, &length);
    for (int i = 0; i < 100000; i++) {
        if (i % 1000 == 999) fprintf(f, "malformed %d\n", i);
        else fprintf(f, "sentence number %d\tfrase número %d\n", i, i);
    }
    fclose(f);
    ReadResult r = read_text(text, length, 3);
    assert_int_equal(r.corpus.lines, 100000);
    assert_int_equal(corpus_size(&r.corpus), 99900);
    assert_int_equal(r.corpus.missing_tab, 100);
    assert_string_equal(r.corpus.pairs[99899].source, "sentence number 99998");
    assert_string_equal(r.corpus.pairs[99899].target, "frase número 99998");
    assert_int_equal(r.corpus.pairs[99899].line, 99999);
    free(text);
    free_result(&r);
}

static void a_missing_file_is_a_clear_error(void **state) {
    (void)state;
    Corpus corpus;
    Error err;
    assert_int_equal(corpus_read(&corpus, "/nonexistent/corpus.tsv", NULL, 0, &err), -1);
    assert_non_null(strstr(err.message, "/nonexistent/corpus.tsv"));
    assert_non_null(strstr(err.message, "No such file"));
}

static void a_directory_is_a_clear_error(void **state) {
    (void)state;
    Corpus corpus;
    Error err;
    assert_int_equal(corpus_read(&corpus, "data", NULL, 0, &err), -1);
    assert_non_null(strstr(err.message, "data"));
}

// A pair longer than the line limit is skipped and reported like any
// malformed line, not kept for the tokenizers to chew on.
static void a_line_over_the_limit_is_skipped_and_reported(void **state) {
    (void)state;
    const size_t long_side = (size_t)LINE_READER_MAX_BYTES + 10;
    const char head[] = "Hello\tHola\n", tail[] = "\nBye\tAdiós\n";
    size_t length = sizeof head - 1 + long_side + 2 + sizeof tail - 1;
    char *text = malloc(length);
    assert_non_null(text);
    char *p = text;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    memset(p, 'a', long_side);  // one huge "word", then a TAB and a target
    p += long_side;
    memcpy(p, "\tb", 2);
    p += 2;
    memcpy(p, tail, sizeof tail - 1);
    ReadResult r = read_text(text, length, 10);
    free(text);
    assert_int_equal(corpus_size(&r.corpus), 2);
    assert_string_equal(r.corpus.pairs[1].source, "Bye");
    assert_int_equal(corpus_skipped(&r.corpus), 1);
    expect_contains(r.report, "corpus.tsv:2:");
    expect_contains(r.report, "longer than 1048576 bytes");
    free_result(&r);
}

// Limits (README): a corpus line of exactly LINE_READER_MAX_BYTES (CRLF's CR
// not counted) is kept, one byte more is skipped and reported, here through
// `azul tokenize --learn`, which reads a corpus as `azul train` does.
static void a_corpus_line_of_exactly_the_limit_is_kept(void **state) {
    (void)state;
    const size_t limit = LINE_READER_MAX_BYTES;
    char *text = malloc(2 * limit + 64), *p = text;
    assert_non_null(text);
    p += sprintf(p, "Hello\tHola\n");
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t source = limit + extra - 2;  // the line: source, TAB, "b"
        for (size_t i = 0; i < source; i++) *p++ = i % 2 ? ' ' : 'a';
        p += sprintf(p, "\tb\r\n");
    }
    p += sprintf(p, "Bye\tAdiós\n");
    char *dir = make_temp_dir();
    char *corpus = write_temp_file(dir, "corpus.tsv", text, (size_t)(p - text)), out_path[4200];
    snprintf(out_path, sizeof out_path, "%s/tok.json", dir);
    char *out, *err, expected[128];
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", corpus, "-o", out_path,
                         "--vocab-size", "300"), 0);
    snprintf(expected, sizeof expected, "corpus.tsv:3: longer than %zu bytes (%zu); line skipped", limit, limit + 1);
    expect_contains(err, expected);
    assert_null(strstr(err, "corpus.tsv:2:"));
    expect_contains(err, "skipped 1 malformed line of 4");
    expect_contains(out, "from 3 pairs");
    free(out);
    free(err);
    free(corpus);
    free(text);
    remove_tree(dir);
    free(dir);
}

// Reads `length` bytes of pairs through corpus_read_at_most(max_bytes), from a
// file or, through a FIFO, as a stream; returns its status (err set on -1).
static int read_limited(size_t length, size_t max_bytes, bool stream, Corpus *c, Error *err) {
    char *text = malloc(length);
    assert_non_null(text);
    for (size_t i = 0; i < length; i++) text[i] = "ab\tcd\n"[i % 6];
    char *dir = make_temp_dir(), path[4200];
    snprintf(path, sizeof path, "%s/corpus.tsv", dir);
    pid_t writer = -1;
    if (stream) {
        assert_int_equal(mkfifo(path, 0600), 0);
        writer = fork();
        assert_true(writer >= 0);
        if (writer == 0) {  // feeds the FIFO and goes
            int fd = open(path, O_WRONLY);
            size_t done = 0;
            while (fd >= 0 && done < length) {
                ssize_t n = write(fd, text + done, length - done);
                if (n <= 0) break;
                done += (size_t)n;
            }
            _exit(0);
        }
    } else {
        free(write_temp_file(dir, "corpus.tsv", text, length));
    }
    int status = corpus_read_at_most(c, path, max_bytes, NULL, 0, err);
    if (writer > 0) waitpid(writer, NULL, 0);
    remove_tree(dir);
    free(dir);
    free(text);
    return status;
}

// The corpus is read whole: its size is bounded (CORPUS_MAX_BYTES), so that a
// huge file or an endless pipe is refused with the limit named, not read
// until memory runs out.  Exactly the limit is read; one byte more is not, a
// file before reading, a pipe as soon as it passes.
static void a_corpus_over_the_size_limit_is_refused(void **state) {
    (void)state;
    for (int stream = 0; stream <= 1; stream++) {
        Corpus c;
        Error err;
        assert_int_equal(read_limited(6000, 6000, stream, &c, &err), 0);
        assert_int_equal(corpus_size(&c), 1000);
        corpus_free(&c);
        assert_int_equal(read_limited(6001, 6000, stream, &c, &err), -1);
        expect_contains(err.message, "corpus ");
        expect_contains(err.message, "corpus.tsv is ");
        expect_contains(err.message, "larger than the limit of 6000 bytes");
        if (!stream) expect_contains(err.message, "corpus.tsv is 6001 bytes");
    }
    // a stream far larger than the limit is not read to its end
    Corpus c;
    Error err;
    assert_int_equal(read_limited(3 << 20, 100, true, &c, &err), -1);
    expect_contains(err.message, "larger than the limit of 100 bytes");
}

// The real limit, through the commands that read a corpus: a file one byte
// over 1 GiB (sparse: no disk, no time) is refused before it is read.
static void the_commands_refuse_a_corpus_over_one_gib(void **state) {
    (void)state;
    char *dir = make_temp_dir(), path[4200], out_path[4200];
    snprintf(path, sizeof path, "%s/huge.tsv", dir);
    snprintf(out_path, sizeof out_path, "%s/run", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)CORPUS_MAX_BYTES + 1), 0);
    close(fd);
    char expected[128];
    snprintf(expected, sizeof expected, "huge.tsv is %lld bytes, larger than the limit of %d bytes",
             (long long)CORPUS_MAX_BYTES + 1, CORPUS_MAX_BYTES);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", path, "--out", out_path), 1);
    expect_contains(err, "azul: error: corpus ");
    expect_contains(err, expected);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", path, "-o", out_path), 1);
    expect_contains(err, expected);
    free(out);
    free(err);
    remove_tree(dir);
    free(dir);
}

// Issue 11: the warnings printed the corpus's path as it was, while errors
// show control characters as U+FFFD: a file named with an ESC sequence or a
// newline coloured the terminal or split a warning in two.  Each warning is
// now one line, the path's control characters replaced.
static void warnings_show_a_hostile_path_as_printable(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    const char text[] = "no tab here\nThe cat\tEl gato\n";
    char *path = write_temp_file(dir, "bad\x1b[31m\nname\r.tsv", text, sizeof text - 1);
    Corpus corpus;
    char *report;
    size_t report_size;
    FILE *warnings = open_memstream(&report, &report_size);
    Error err;
    assert_int_equal(corpus_read(&corpus, path, warnings, 1, &err), 0);
    fclose(warnings);
    assert_null(strchr(report, '\x1b'));
    assert_null(strchr(report, '\r'));
    expect_contains(report, "bad\xEF\xBF\xBD[31m\xEF\xBF\xBDname\xEF\xBF\xBD.tsv:1: no TAB between source and "
                            "target; line skipped\n");
    int lines = 0;
    for (const char *p = report; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 3);  // the line, "further ... not shown", the summary
    for (const char *line = report; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, "azul: warning: ", 15) != 0) fail_msg("not a warning line: %s", line);
    }
    corpus_free(&corpus);
    free(report);
    free(path);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(good_lines_become_pairs),
    cmocka_unit_test(bom_crlf_and_blank_lines_are_accepted),
    cmocka_unit_test(each_malformed_kind_is_reported_with_file_and_line),
    cmocka_unit_test(warnings_stop_after_the_limit_but_counting_goes_on),
    cmocka_unit_test(a_hundred_thousand_lines_are_read),
    cmocka_unit_test(a_missing_file_is_a_clear_error),
    cmocka_unit_test(a_directory_is_a_clear_error),
    cmocka_unit_test(warnings_show_a_hostile_path_as_printable),
    cmocka_unit_test(a_line_over_the_limit_is_skipped_and_reported),
    cmocka_unit_test(a_corpus_line_of_exactly_the_limit_is_kept),
    cmocka_unit_test(a_corpus_over_the_size_limit_is_refused),
    cmocka_unit_test(the_commands_refuse_a_corpus_over_one_gib),
};
TEST_GROUP(corpus_tests, tests);
