// The scorer against sacreBLEU's own numbers: ../shared/testvectors/bleu
// holds cases that sacreBLEU 2.6.0 scored (the group is skipped without it).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "eval/bleu.h"
#include "tests/test.h"

static const char *vectors_dir(void) {
    const char *dir = getenv("AZUL_TESTVECTORS");
    return dir ? dir : "../shared/testvectors/bleu";
}

static const char *vectors_missing(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.tsv", vectors_dir());
    FILE *f = fopen(path, "r");
    if (!f) return "../shared/testvectors/bleu not found (set AZUL_TESTVECTORS to its path)";
    fclose(f);
    return NULL;
}

static char *read_text(const char *name, size_t *length) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", vectors_dir(), name);
    Error err;
    char *text = read_whole_file(path, 1 << 26, length, &err);
    if (!text) fail_msg("%s", err.message);
    return text;
}

// The rows of a TSV file with a header: an stb_ds array of stb_ds arrays of fields.
static char ***read_table(const char *name, char **text) {
    size_t length;
    *text = read_text(name, &length);
    char ***rows = NULL;
    char **lines = sentence_lines(*text, length);
    for (ptrdiff_t i = 1; i < arrlen(lines); i++) {
        char **fields = NULL;
        for (char *f = strtok(lines[i], "\t"); f; f = strtok(NULL, "\t")) arrput(fields, f);
        arrput(rows, fields);
    }
    arrfree(lines);
    return rows;
}

static void every_case_scores_as_sacrebleu_does(void **state) {
    (void)state;
    char *expected_text, *chrf_text;
    char ***expected = read_table("expected.tsv", &expected_text);
    char ***chrf_stats = read_table("expected_chrf_stats.tsv", &chrf_text);
    assert_int_equal(arrlen(expected), 13);
    for (ptrdiff_t c = 0; c < arrlen(expected); c++) {
        char **row = expected[c];
        char name[64];
        size_t hl, rl;
        snprintf(name, sizeof name, "%s.hyp", row[0]);
        char *hyp_text = read_text(name, &hl);
        snprintf(name, sizeof name, "%s.ref", row[0]);
        char *ref_text = read_text(name, &rl);
        char **hyps = sentence_lines(hyp_text, hl), **refs = sentence_lines(ref_text, rl);
        assert_int_equal(arrlen(hyps), arrlen(refs));
        const char *const *ref_sets[1] = {(const char *const *)refs};
        BleuScore b;
        ChrfScore f;
        bleu_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), ref_sets, 1, &b);
        chrf_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), ref_sets, 1, &f);

        char shown[32];
        snprintf(shown, sizeof shown, "%.2f", b.score);
        if (strcmp(shown, row[2]) != 0) fail_msg("%s: BLEU %s, sacreBLEU %s", row[0], shown, row[2]);
        if (fabs(b.score - atof(row[3])) > 1e-9) fail_msg("%s: BLEU %.15g vs %s", row[0], b.score, row[3]);
        for (int k = 0; k < 4; k++) {
            if (fabs(b.precisions[k] - atof(row[4 + k])) > 1e-9) {
                fail_msg("%s: p%d %.15g vs %s", row[0], k + 1, b.precisions[k], row[4 + k]);
            }
            assert_int_equal(b.matches[k], atol(row[13 + k]));
            assert_int_equal(b.totals[k], atol(row[17 + k]));
        }
        assert_true(fabs(b.bp - atof(row[8])) < 1e-12);
        assert_int_equal(b.sys_len, atol(row[9]));
        assert_int_equal(b.ref_len, atol(row[10]));
        snprintf(shown, sizeof shown, "%.2f", f.score);
        if (strcmp(shown, row[11]) != 0) fail_msg("%s: chrF %s, sacreBLEU %s", row[0], shown, row[11]);
        if (fabs(f.score - atof(row[12])) > 1e-9) fail_msg("%s: chrF %.15g vs %s", row[0], f.score, row[12]);
        char **stats = chrf_stats[c];
        assert_string_equal(stats[0], row[0]);
        for (int o = 0; o < 6; o++) {
            assert_int_equal(f.hyp[o], atol(stats[2 + 3 * o]));
            assert_int_equal(f.ref[o], atol(stats[3 + 3 * o]));
            assert_int_equal(f.match[o], atol(stats[4 + 3 * o]));
        }
        arrfree(hyps);
        arrfree(refs);
        free(hyp_text);
        free(ref_text);
    }
    for (ptrdiff_t c = 0; c < arrlen(expected); c++) arrfree(expected[c]);
    for (ptrdiff_t c = 0; c < arrlen(chrf_stats); c++) arrfree(chrf_stats[c]);
    arrfree(expected);
    arrfree(chrf_stats);
    free(expected_text);
    free(chrf_text);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_case_scores_as_sacrebleu_does),
};
TEST_GROUP_UNLESS(bleu_vector_tests, tests, vectors_missing);
