// bin/azul as a user meets it: flags, messages, exit codes, `azul tokenize`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/test.h"

static void no_command_and_unknown_command_are_usage_errors(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(run_azul((const char *const[]){NULL}, NULL, &out, &err), 2);
    expect_contains(err, "usage: azul COMMAND");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "frobnicate"), 2);
    expect_contains(err, "azul: error: unknown command 'frobnicate'");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "--help"), 0);
    expect_contains(out, "tokenize");
    free(out); free(err);
}

static void bad_flags_are_usage_errors_naming_the_flag(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--bogus"), 2);
    expect_contains(err, "azul: error: unknown option '--bogus' (see 'azul tokenize --help')");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--vocab-size", "lots"), 2);
    expect_contains(err, "--vocab-size expects an integer");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model"), 2);
    expect_contains(err, "option '--model' needs a value");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--tokenizer", "unigram", "--learn"), 2);
    expect_contains(err, "--tokenizer must be bpe or word");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", "x.tsv"), 2);
    expect_contains(err, "--learn needs -o");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--help"), 0);
    expect_contains(out, "usage: azul tokenize");
    free(out); free(err);
}

static void missing_files_are_clear_errors(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", "/nonexistent.tsv",
                         "-o", "/tmp/never-written.json"),
                     1);
    expect_contains(err, "azul: error: cannot open corpus /nonexistent.tsv: No such file");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", "/nonexistent.json", "hi"), 1);
    expect_contains(err, "azul: error: cannot open /nonexistent.json");
    free(out); free(err);
}

static void learn_then_show_tokens(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char model[512];
    snprintf(model, sizeof model, "%s/tokenizers.json", dir);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus",
                         "data/toy-en-es/train.tsv", "-o", model, "--vocab-size", "1000"),
                     0);
    expect_contains(out, "learned bpe tokenizers from 372 pairs");
    free(out); free(err);

    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", model, "--side", "tgt",
                         "--pieces", "La bola es azul"),
                     0);
    assert_string_equal(out, "▁La ▁bola ▁es ▁azul\n");
    free(out); free(err);

    // Without TEXT it reads lines; a bad line warns and keeps its place.
    assert_int_equal(RUN("The ball is blue\nbad \xFF line\n\nThe cat\n", &out, &err, "tokenize",
                         "--model", model, "--pieces"),
                     0);
    assert_string_equal(out, "▁The ▁ball ▁is ▁blue\n\n\n▁The ▁cat\n");
    expect_contains(err, "azul: warning: <stdin>:2: invalid UTF-8 at byte 4");
    free(out); free(err);

    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", model, "--vocab"), 0);
    expect_contains(out, "0\t<pad>\tspecial\n");
    expect_contains(out, "\t<0xC3>\tbyte\n");
    expect_contains(out, "\tmerge ");
    free(out); free(err);

    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", model, "--stats", "--corpus",
                         "data/toy-en-es/dev.tsv"),
                     0);
    expect_contains(out, "source: 40 sentences");
    free(out); free(err);
    remove_tree(dir);
    free(dir);
}

static void malformed_corpus_lines_are_reported_and_the_rest_is_used(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    const char text[] = "The ball is blue\tLa bola es azul\nno tab\nThe cat\tEl gato\n\tempty\n";
    char *corpus = write_temp_file(dir, "corpus.tsv", text, sizeof text - 1);
    char model[512];
    snprintf(model, sizeof model, "%s/tokenizers.json", dir);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--tokenizer", "word",
                         "--corpus", corpus, "-o", model),
                     0);
    expect_contains(err, "corpus.tsv:2: no TAB between source and target; line skipped");
    expect_contains(err, "corpus.tsv:4: empty source side; line skipped");
    expect_contains(err, "skipped 2 malformed lines of 4");
    expect_contains(out, "from 2 pairs");
    free(out); free(err);
    free(corpus);
    remove_tree(dir);
    free(dir);
}

static void failures_never_damage_a_saved_file(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char model[512];
    snprintf(model, sizeof model, "%s/tokenizers.json", dir);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--tokenizer", "word",
                         "--corpus", "data/toy-en-es/train.tsv", "-o", model),
                     0);
    free(out); free(err);
    FILE *f = fopen(model, "rb");
    char before[256] = {0};
    assert_true(fread(before, 1, sizeof before - 1, f) > 0);
    fclose(f);

    // An empty corpus and an impossible vocabulary size fail before writing.
    char *empty = write_temp_file(dir, "empty.tsv", "\n\n", 2);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus", empty, "-o", model), 1);
    expect_contains(err, "holds no usable sentence pairs");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--vocab-size", "100", "--corpus",
                         "data/toy-en-es/train.tsv", "-o", model),
                     1);
    expect_contains(err, "too small for bpe");
    free(out); free(err);
    // An unwritable destination is reported.
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--learn", "--corpus",
                         "data/toy-en-es/train.tsv", "-o", "/nonexistent-dir/t.json"),
                     1);
    expect_contains(err, "cannot write /nonexistent-dir/t.json");
    free(out); free(err);

    f = fopen(model, "rb");
    char after[256] = {0};
    assert_true(fread(after, 1, sizeof after - 1, f) > 0);
    fclose(f);
    assert_string_equal(before, after);
    free(empty);
    remove_tree(dir);
    free(dir);
}

static void damaged_tokenizer_files_are_refused(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    const char *bad[] = {
        "", "{", "[]", "{\"format\": \"azul-tokenizers\", \"joint\": false}",
        "{\"format\": \"azul-tokenizers\", \"joint\": true, \"source\": {\"format\": "
        "\"azul-tokenizer\", \"version\": 1, \"kind\": \"word\", \"normalization\": {\"form\": "
        "\"NFC\", \"casefold\": false}, \"tokens\": [\"a\", \"a\"]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = write_temp_file(dir, "t.json", bad[i], strlen(bad[i]));
        char *out, *err;
        assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", path, "x"), 1);
        expect_contains(err, "azul: error: ");
        expect_contains(err, "t.json");
        free(out); free(err);
        free(path);
    }
    remove_tree(dir);
    free(dir);
}

// The benchmark's machine-readable form describes the work it timed (never
// how fast it was: speed is not for tests to judge).
static void bench_reports_training_and_decoding_as_json(void **state) {
    (void)state;
    const char *works[] = {"train", "decode"};
    for (int i = 0; i < 2; i++) {
        char *out, *err;
        int status = i == 0 ? RUN(NULL, &out, &err, "bench", "--preset", "toy", "--batch", "3", "--src-len", "5",
                                  "--tgt-len", "4", "--vocab", "50", "--steps", "1", "--json")
                            : RUN(NULL, &out, &err, "bench", "--preset", "toy", "--batch", "3", "--src-len", "5",
                                  "--tgt-len", "4", "--vocab", "50", "--steps", "1", "--json", "--decode");
        if (status != 0) fail_msg("%s", err);
        cJSON *j = cJSON_Parse(out);
        if (!j) fail_msg("not JSON: %s", out);
        assert_string_equal(cJSON_GetObjectItem(j, "work")->valuestring, works[i]);
        assert_int_equal(cJSON_GetObjectItem(j, "batch")->valueint, 3);
        assert_int_equal(cJSON_GetObjectItem(j, "tgt_len")->valueint, 4);
        assert_non_null(cJSON_GetObjectItem(j, "median_ms"));
        assert_non_null(cJSON_GetObjectItem(j, "peak_rss_mib"));
        cJSON_Delete(j);
        free(out); free(err);
    }
}

static void gradcheck_command_verifies_backprop(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "gradcheck", "--samples", "4"), 0);
    expect_contains(out, "encoder.0.self_attn.wq");
    expect_contains(out, "decoder.1.cross_attn.wv");
    expect_contains(out, "88 tensors, ");
    expect_contains(out, "worst |analytic - numerical| / allowance");
    expect_contains(out, "PASS\n");
    free(out); free(err);
    // No allowance for rounding at all: no float32 difference can meet that, and it says so.
    assert_int_equal(RUN(NULL, &out, &err, "gradcheck", "--samples", "2", "--tolerance", "0",
                         "--sigmas", "0"), 1);
    expect_contains(out, "FAIL\n");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "gradcheck", "--preset", "huge"), 2);
    expect_contains(err, "unknown preset 'huge'");
    free(out); free(err);
}

// azul translate answers every line, one line out per line in: a line it
// cannot translate is a warning and an empty line.  When not one line could
// be translated, the command has failed: its output keeps the places, and
// its exit status says so.
static void translate_fails_when_no_line_could_be_translated(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *model = join(dir, "model"), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", model,
                         "--steps", "2", "--valid-sentences", "2"), 0);
    free(out); free(err);
    char long_line[4000] = "The ball";
    for (int i = 0; i < 300; i++) strcat(long_line, " blue");
    char input[8192];
    snprintf(input, sizeof input, "bad \xFF byte\n\nbad \xFE too\n%s\n", long_line);
    assert_int_equal(RUN(input, &out, &err, "translate", "--model", model), 1);
    assert_string_equal(out, "\n\n\n\n");
    expect_contains(err, "azul: warning: <stdin>:1: invalid UTF-8 at byte 4");
    expect_contains(err, "azul: warning: <stdin>:4: too long");
    expect_contains(err, "azul: error: <stdin>: none of its 3 non-blank lines could be translated");
    free(out); free(err);
    // one line translated is enough
    snprintf(input, sizeof input, "bad \xFF byte\nThe ball is blue\n");
    assert_int_equal(RUN(input, &out, &err, "translate", "--model", model), 0);
    expect_contains(err, "azul: warning: <stdin>:1: invalid UTF-8 at byte 4");
    assert_null(strstr(err, "azul: error"));
    free(out); free(err);
    // nothing to translate is no failure
    assert_int_equal(RUN("\n\n", &out, &err, "translate", "--model", model), 0);
    assert_string_equal(out, "\n\n");
    free(out); free(err);
    free(model);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_command_verifies_backprop),
    cmocka_unit_test(bench_reports_training_and_decoding_as_json),
    cmocka_unit_test(no_command_and_unknown_command_are_usage_errors),
    cmocka_unit_test(bad_flags_are_usage_errors_naming_the_flag),
    cmocka_unit_test(missing_files_are_clear_errors),
    cmocka_unit_test(learn_then_show_tokens),
    cmocka_unit_test(malformed_corpus_lines_are_reported_and_the_rest_is_used),
    cmocka_unit_test(failures_never_damage_a_saved_file),
    cmocka_unit_test(damaged_tokenizer_files_are_refused),
    cmocka_unit_test(translate_fails_when_no_line_could_be_translated),
};
TEST_GROUP(cli_tests, tests);
