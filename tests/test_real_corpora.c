// The tokenizers on every line of the real Tatoeba corpora beside the
// project (../shared/corpora; the group is skipped when they are absent).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tests/test.h"
#include "train/dataset.h"

static const char *corpora_missing(void) {
    return shared_corpora_dir() ? NULL
                                : "../shared/corpora not found (set AZUL_CORPORA to its path)";
}

static Corpus read_corpus(const char *pair_name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/train.tsv", shared_corpora_dir(), pair_name);
    Corpus corpus;
    Error err;
    assert_int_equal(corpus_read(&corpus, path, stderr, 10, &err), 0);
    assert_true(corpus_size(&corpus) > 100000);
    assert_int_equal(corpus_skipped(&corpus), 0);
    return corpus;
}

// Checks decode(encode(x)) == normalise(x) for every sentence of one side;
// returns how many sentences held an <unk>.
static size_t round_trip_side(Tokenizer *t, const Corpus *corpus, int target_side) {
    size_t with_unknown = 0;
    int32_t *ids = NULL;
    for (size_t i = 0; i < corpus_size(corpus); i++) {
        const char *text = target_side ? corpus->pairs[i].target : corpus->pairs[i].source;
        Error err;
        arrsetlen(ids, 0);
        assert_int_equal(tokenizer_encode(t, text, strlen(text), &ids, &err), 0);
        int unknown = 0;
        for (ptrdiff_t k = 0; k < arrlen(ids); k++) unknown |= ids[k] == TOKEN_UNK;
        with_unknown += (size_t)unknown;
        if (unknown) continue;
        char *decoded = tokenizer_decode(t, ids, (size_t)arrlen(ids));
        char *expected = normalize_text(text, strlen(text), t->normalize, NULL, &err);
        assert_non_null(decoded);
        assert_non_null(expected);
        if (strcmp(decoded, expected) != 0) {
            fail_msg("line %zu does not round-trip:\n  normal:  %s\n  decoded: %s",
                     corpus->pairs[i].line, expected, decoded);
        }
        free(decoded);
        free(expected);
    }
    arrfree(ids);
    return with_unknown;
}

// BPE learned on every tenth pair must still round-trip every line: the
// characters it never saw go through byte fallback.
static void bpe_round_trips(const char *pair_name) {
    Corpus corpus = read_corpus(pair_name);
    Corpus tenth = corpus;
    tenth.pairs = NULL;
    for (size_t i = 0; i < corpus_size(&corpus); i += 10) arrput(tenth.pairs, corpus.pairs[i]);
    TokenizerConfig config = {TOKENIZER_BPE, 8000, 2, {false}};
    TokenizerPair pair;
    Error err;
    assert_int_equal(dataset_learn_tokenizers(&pair, &config, false, &tenth, &err), 0);
    arrfree(tenth.pairs);
    assert_int_equal(round_trip_side(&pair.source, &corpus, 0), 0);
    assert_int_equal(round_trip_side(&pair.target, &corpus, 1), 0);
    tokenizer_pair_free(&pair);
    corpus_free(&corpus);
}

// A word vocabulary learned on the whole file knows every word in it.
static void word_round_trips(const char *pair_name) {
    Corpus corpus = read_corpus(pair_name);
    TokenizerConfig config = {TOKENIZER_WORD, 0, 1, {false}};
    TokenizerPair pair;
    Error err;
    assert_int_equal(dataset_learn_tokenizers(&pair, &config, false, &corpus, &err), 0);
    assert_int_equal(round_trip_side(&pair.source, &corpus, 0), 0);
    assert_int_equal(round_trip_side(&pair.target, &corpus, 1), 0);
    tokenizer_pair_free(&pair);
    corpus_free(&corpus);
}

static void spa_eng_bpe_round_trips_every_line(void **state) { (void)state; bpe_round_trips("spa-eng"); }
static void fra_eng_bpe_round_trips_every_line(void **state) { (void)state; bpe_round_trips("fra-eng"); }
static void spa_eng_word_round_trips_every_line(void **state) { (void)state; word_round_trips("spa-eng"); }
static void fra_eng_word_round_trips_every_line(void **state) { (void)state; word_round_trips("fra-eng"); }

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(spa_eng_bpe_round_trips_every_line),
    cmocka_unit_test(fra_eng_bpe_round_trips_every_line),
    cmocka_unit_test(spa_eng_word_round_trips_every_line),
    cmocka_unit_test(fra_eng_word_round_trips_every_line),
};
TEST_GROUP_UNLESS(real_corpus_tests, tests, corpora_missing);
