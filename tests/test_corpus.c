// Reading parallel corpora: what is accepted, what is skipped and reported.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(good_lines_become_pairs),
    cmocka_unit_test(bom_crlf_and_blank_lines_are_accepted),
    cmocka_unit_test(each_malformed_kind_is_reported_with_file_and_line),
    cmocka_unit_test(warnings_stop_after_the_limit_but_counting_goes_on),
    cmocka_unit_test(a_hundred_thousand_lines_are_read),
    cmocka_unit_test(a_missing_file_is_a_clear_error),
    cmocka_unit_test(a_directory_is_a_clear_error),
    cmocka_unit_test(a_line_over_the_limit_is_skipped_and_reported),
};
TEST_GROUP(corpus_tests, tests);
