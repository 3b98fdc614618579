// The scorer's rules that need no outside numbers: 13a tokenization, several
// references, and the command line.
#include <stdlib.h>
#include <string.h>

#include "eval/bleu.h"
#include "tests/test.h"

static void expect_tokens(const char *line, const char *expected) {
    char *t = bleu_tokenize_13a(line);
    assert_string_equal(t, expected);
    free(t);
}

static void tokenization_13a(void **state) {
    (void)state;
    expect_tokens("The ball is blue.", "The ball is blue .");
    expect_tokens("¿Dónde está?", "¿Dónde está ?");
    expect_tokens("It costs 1,000.50 dollars, ok.", "It costs 1,000.50 dollars , ok .");
    expect_tokens("3-2 win", "3 - 2 win");
    expect_tokens("don't stop-it", "don't stop-it");
    expect_tokens("a &amp; b &quot;c&quot;", "a & b \" c \"");
    expect_tokens("  spaced\xC2\xA0out  ", "spaced out");
}

static void more_references_never_lower_the_score(void **state) {
    (void)state;
    const char *hyps[] = {"the cat sat on the mat", "a dog barked loudly"};
    const char *ref1[] = {"the cat is on the mat", "the dog barked"};
    const char *ref2[] = {"the cat sat on the mat", "a dog was barking"};
    const char *const *one[1] = {ref1};
    const char *const *two[2] = {ref1, ref2};
    BleuScore b1, b2;
    ChrfScore c1, c2;
    bleu_corpus_score(hyps, 2, one, 1, &b1);
    bleu_corpus_score(hyps, 2, two, 2, &b2);
    chrf_corpus_score(hyps, 2, one, 1, &c1);
    chrf_corpus_score(hyps, 2, two, 2, &c2);
    assert_true(b2.score > b1.score);
    assert_true(c2.score > c1.score);
    // the first sentence matches ref2 exactly: 6 of 6 unigrams
    const char *const *only2[1] = {ref2};
    BleuScore exact;
    bleu_corpus_score(hyps, 1, only2, 1, &exact);
    assert_float_equal(exact.score, 100.0, 1e-9);
}

static void the_command_prints_sacrebleu_lines(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    const char ref[] = "La bola es azul.\nEl gato negro bebió la leche.\n";
    char *ref_path = write_temp_file(dir, "ref.txt", ref, sizeof ref - 1);
    char *out, *err;
    assert_int_equal(RUN(ref, &out, &err, "bleu", "--ref", ref_path), 0);
    assert_non_null(strstr(out, "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 12 ref_len = 12)\n"));
    assert_non_null(strstr(out, "chrF2 = 100.00\n"));
    assert_non_null(strstr(out, "tok:13a|smooth:exp"));
    free(out); free(err);
    assert_int_equal(RUN("one line\n", &out, &err, "bleu", "--ref", ref_path), 1);
    assert_non_null(strstr(err, "has 2 lines but <stdin> has 1"));
    free(out); free(err);
    assert_int_equal(RUN("bad \xFF\n", &out, &err, "bleu", "--ref", ref_path), 1);
    assert_non_null(strstr(err, "<stdin>:1: invalid UTF-8"));
    free(out); free(err);
    assert_int_equal(RUN("x\n", &out, &err, "bleu"), 2);
    assert_non_null(strstr(err, "--ref"));
    free(out); free(err);
    free(ref_path);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tokenization_13a),
    cmocka_unit_test(more_references_never_lower_the_score),
    cmocka_unit_test(the_command_prints_sacrebleu_lines),
};
TEST_GROUP(bleu_rule_tests, tests);
