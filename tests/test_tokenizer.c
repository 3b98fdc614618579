// Tokenizers: round trips on hard text, byte fallback, the saved form.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tests/test.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/tokenizer_pair.h"

static const char *const training_text[] = {
    "The ball is blue", "La bola es azul", "The black cat drank the milk",
    "El gato negro bebió la leche", "¿Dónde está la bola?", "Where is the ball?",
    "The balls are blue", "Las bolas son azules", "I have 25 blue balls.",
    "Tengo 25 bolas azules.", "«Quoi ?» dit-il.", "The cat is black", "El gato es negro",
};
enum { TRAINING_COUNT = sizeof training_text / sizeof training_text[0] };

static Tokenizer learn(TokenizerKind kind, int vocab_size, int min_count) {
    TokenizerConfig config = {kind, vocab_size, min_count, {false}};
    Tokenizer t;
    Error err;
    assert_int_equal(tokenizer_learn(&t, &config, training_text, TRAINING_COUNT, &err), 0);
    return t;
}

static char *normal(const char *text) {
    Error err;
    NormalizeOptions options = {false};
    char *out = normalize_text(text, strlen(text), options, NULL, &err);
    assert_non_null(out);
    return out;
}

// decode(encode(text)) must equal normalise(text); returns the token count.
static size_t expect_round_trip(Tokenizer *t, const char *text) {
    int32_t *ids = NULL;
    Error err;
    assert_int_equal(tokenizer_encode(t, text, strlen(text), &ids, &err), 0);
    char *decoded = tokenizer_decode(t, ids, (size_t)arrlen(ids));
    assert_non_null(decoded);
    char *expected = normal(text);
    assert_string_equal(decoded, expected);
    size_t n = (size_t)arrlen(ids);
    free(decoded);
    free(expected);
    arrfree(ids);
    return n;
}

static char *repeat(const char *unit, size_t times) {
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++) memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

static const char *const hard_texts[] = {
    "",
    "   ",
    "👨‍👩‍👧‍👦 family 🏳️‍🌈 and 👍🏽!",
    "¿сierto? Тhe bаll іs blue",                      // Cyrillic с, Т, а, і homoglyphs
    "esta\xCC\x81 n\xCC\x83 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",           // combining marks, zalgo
    "\xCC\x81 a mark with nothing before it",
    "東京は大きい 서울 مرحبا שלום",
    "Quoi\xE2\x80\xAF? «\xC2\xA0Oui\xC2\xA0» I\xE2\x80\x99m here\xE2\x80\x8B.",
    "▁ the block ▁▁ character itself",
    "<unk> <pad> <0x41> look like specials",
    "tab\there\nnewline  and   spaces ",
    "\xF4\x8F\xBF\xBF \xEF\xBF\xBF private and non-characters",
};

static void bpe_round_trips_hard_text(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 400, 1);
    for (size_t i = 0; i < sizeof hard_texts / sizeof hard_texts[0]; i++) {
        expect_round_trip(&t, hard_texts[i]);
    }
    tokenizer_free(&t);
}

static void bpe_round_trips_ten_thousand_character_words(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 400, 1);
    const char *units[] = {"a", "ab", "la", "é", "e\xCC\x81", "東", "😀", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        char *word = repeat(units[i], 10000 / strlen(units[i]) + 1);
        expect_round_trip(&t, word);
        free(word);
    }
    // A long word of varied letters, so that many different merges apply.
    char *word = malloc(10001);
    uint32_t x = 12345;
    for (int i = 0; i < 10000; i++) {
        x = x * 1103515245u + 12345u;
        word[i] = "abcdeilnorstuz"[(x >> 16) % 14];
    }
    word[10000] = '\0';
    expect_round_trip(&t, word);
    free(word);
    tokenizer_free(&t);
}

static void unseen_characters_fall_back_to_bytes(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 400, 1);
    int32_t *ids = NULL;
    Error err;
    assert_int_equal(tokenizer_encode(&t, "東", strlen("東"), &ids, &err), 0);
    // " " then the three bytes of 東 (E6 9D B1): never <unk>.
    assert_int_equal(arrlen(ids), 4);
    assert_int_equal(ids[1], TOKEN_FIRST_BYTE + 0xE6);
    assert_int_equal(ids[2], TOKEN_FIRST_BYTE + 0x9D);
    assert_int_equal(ids[3], TOKEN_FIRST_BYTE + 0xB1);
    arrfree(ids);
    tokenizer_free(&t);
}

static void bpe_merges_frequent_words_into_single_tokens(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 400, 1);
    assert_int_equal(expect_round_trip(&t, "The ball is blue"), 4);
    assert_int_equal(expect_round_trip(&t, "La bola es azul"), 4);
    assert_true(tokenizer_vocab_size(&t) <= 400);
    tokenizer_free(&t);
}

static void bpe_learning_is_deterministic(void **state) {
    (void)state;
    Tokenizer a = learn(TOKENIZER_BPE, 350, 1), b = learn(TOKENIZER_BPE, 350, 1);
    cJSON *ja = tokenizer_to_json(&a), *jb = tokenizer_to_json(&b);
    char *sa = cJSON_PrintUnformatted(ja), *sb = cJSON_PrintUnformatted(jb);
    assert_string_equal(sa, sb);
    cJSON_free(sa); cJSON_free(sb);
    cJSON_Delete(ja); cJSON_Delete(jb);
    tokenizer_free(&a);
    tokenizer_free(&b);
}

static void word_vocabulary_round_trips_known_words_and_marks_unknown(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_WORD, 0, 1);
    expect_round_trip(&t, "The black cat is blue");
    expect_round_trip(&t, "  ¿Dónde  está la bola? ");
    int32_t *ids = NULL;
    Error err;
    assert_int_equal(tokenizer_encode(&t, "The zebra is blue", 17, &ids, &err), 0);
    assert_int_equal(arrlen(ids), 4);
    assert_int_equal(ids[1], TOKEN_UNK);
    arrfree(ids);
    tokenizer_free(&t);
}

static void word_vocabulary_honours_min_count_and_size(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_WORD, 0, 2);
    assert_true(tokenizer_lookup(&t, " ball") >= 0);     // 2 occurrences
    assert_int_equal(tokenizer_lookup(&t, " drank"), -1); // 1 occurrence
    tokenizer_free(&t);
    Tokenizer small = learn(TOKENIZER_WORD, 10, 1);
    assert_int_equal(tokenizer_vocab_size(&small), 10);
    tokenizer_free(&small);
}

static void encode_refuses_invalid_utf8(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 300, 1);
    int32_t *ids = NULL;
    Error err;
    assert_int_equal(tokenizer_encode(&t, "bola \xC3", 6, &ids, &err), -1);
    assert_non_null(strstr(err.message, "byte 5"));
    assert_int_equal(arrlen(ids), 0);
    tokenizer_free(&t);
}

static void decode_repairs_what_a_model_may_emit(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 300, 1);
    // A lone lead byte, specials in the middle, an out-of-range id.
    int32_t a = tokenizer_lookup(&t, "a");
    int32_t ids[] = {TOKEN_BOS, a, TOKEN_FIRST_BYTE + 0xC3, TOKEN_PAD, a, TOKEN_EOS, 999999};
    char *text = tokenizer_decode(&t, ids, 7);
    assert_non_null(text);
    assert_string_equal(text, "a\xEF\xBF\xBD" "a");
    free(text);
    tokenizer_free(&t);
}

static void saved_form_gives_back_the_same_tokenizer(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        Tokenizer t = learn(kind ? TOKENIZER_BPE : TOKENIZER_WORD, kind ? 380 : 0, 1);
        cJSON *json = tokenizer_to_json(&t);
        Tokenizer back;
        Error err;
        assert_int_equal(tokenizer_from_json(&back, json, &err), 0);
        assert_int_equal(tokenizer_vocab_size(&back), tokenizer_vocab_size(&t));
        for (size_t i = 0; i < sizeof hard_texts / sizeof hard_texts[0]; i++) {
            int32_t *x = NULL, *y = NULL;
            const char *s = hard_texts[i];
            assert_int_equal(tokenizer_encode(&t, s, strlen(s), &x, &err), 0);
            assert_int_equal(tokenizer_encode(&back, s, strlen(s), &y, &err), 0);
            assert_int_equal(arrlen(x), arrlen(y));
            assert_memory_equal(x, y, (size_t)arrlen(x) * sizeof *x);
            arrfree(x);
            arrfree(y);
        }
        cJSON_Delete(json);
        tokenizer_free(&t);
        tokenizer_free(&back);
    }
}

// Each damaged form of a valid saved tokenizer must be refused with a message.
static void damaged_saved_forms_are_refused(void **state) {
    (void)state;
    Tokenizer t = learn(TOKENIZER_BPE, 300, 1);
    cJSON *good = tokenizer_to_json(&t);
    tokenizer_free(&t);
    const char *edits[][2] = {
        {"format", "\"something-else\""}, {"version", "99"},     {"kind", "\"unigram\""},
        {"tokens", "[\"a\", \"a\"]"},    {"tokens", "[\"\"]"},  {"tokens", "[1, 2]"},
        {"merges", "[[0, 1]]"},          {"merges", "[[260]]"}, {"merges", "[[4, 5]]"},
        {"merges", "[[1e99, 5]]"},       {"merges", "{}"},      {"normalization", "{\"form\": \"NFKC\", \"casefold\": false}"},
        {"tokens", "INVALID-UTF8"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        cJSON *bad = cJSON_Duplicate(good, 1);
        cJSON *value;
        if (strcmp(edits[i][1], "INVALID-UTF8") == 0) {  // JSON text cannot carry it; build it
            value = cJSON_CreateArray();
            cJSON_AddItemToArray(value, cJSON_CreateString("bad \xC3("));
        } else {
            value = cJSON_Parse(edits[i][1]);
        }
        assert_true(cJSON_ReplaceItemInObjectCaseSensitive(bad, edits[i][0], value));
        Tokenizer back;
        Error err = {{0}};
        if (tokenizer_from_json(&back, bad, &err) != -1) {
            fail_msg("accepted a tokenizer with %s = %s", edits[i][0], edits[i][1]);
        }
        assert_true(strlen(err.message) > 10);
        cJSON_Delete(bad);
    }
    cJSON_Delete(good);
}

static void bpe_refuses_a_vocabulary_too_small_for_its_bytes(void **state) {
    (void)state;
    TokenizerConfig config = {TOKENIZER_BPE, 100, 1, {false}};
    Tokenizer t;
    Error err;
    assert_int_equal(tokenizer_learn(&t, &config, training_text, TRAINING_COUNT, &err), -1);
    assert_non_null(strstr(err.message, "too small"));
    tokenizer_free(&t);
}

static void learning_refuses_invalid_utf8_naming_the_sentence(void **state) {
    (void)state;
    const char *const sentences[] = {"La bola es azul", "bola \xC3( mala", "El gato"};
    for (int kind = 0; kind < 2; kind++) {
        TokenizerConfig config = {kind ? TOKENIZER_BPE : TOKENIZER_WORD, kind ? 300 : 0, 1, {false}};
        Tokenizer t;
        Error err;
        assert_int_equal(tokenizer_learn(&t, &config, sentences, 3, &err), -1);
        assert_string_equal(err.message, "sentence 2: invalid UTF-8 at byte 5: truncated multi-byte sequence");
        tokenizer_free(&t);  // a failed learner leaves nothing behind
    }
}

static void word_vocabulary_knows_words_longer_than_any_buffer(void **state) {
    (void)state;
    char *word = repeat("abc", 200);  // 600 bytes: one piece, one token
    const char *const sentences[] = {word, "the end"};
    TokenizerConfig config = {TOKENIZER_WORD, 0, 1, {false}};
    Tokenizer t;
    Error err;
    assert_int_equal(tokenizer_learn(&t, &config, sentences, 2, &err), 0);
    int32_t *ids = NULL;
    assert_int_equal(tokenizer_encode(&t, word, strlen(word), &ids, &err), 0);
    assert_int_equal(arrlen(ids), 1);
    assert_true(ids[0] != TOKEN_UNK);
    assert_int_equal(expect_round_trip(&t, word), 1);
    arrfree(ids);
    free(word);
    tokenizer_free(&t);
}

// A model's tokenizers must have the vocabulary sizes its config was built for.
static void tokenizer_sizes_are_checked_against_a_model(void **state) {
    (void)state;
    const char *sources[] = {"the ball is blue"}, *targets[] = {"la bola es azul y roja"};
    TokenizerConfig word = {TOKENIZER_WORD, 100, 1, {false}};
    TokenizerPair pair;
    Error err;
    assert_int_equal(tokenizer_pair_learn(&pair, &word, false, sources, targets, 1, &err), 0);
    int src = (int)tokenizer_vocab_size(&pair.source), tgt = (int)tokenizer_vocab_size(&pair.target);
    assert_int_equal(tokenizer_pair_check_sizes(&pair, src, tgt, &err), 0);
    assert_int_equal(tokenizer_pair_check_sizes(&pair, src, tgt + 1, &err), -1);
    assert_non_null(strstr(err.message, "vocabulary sizes"));
    assert_int_equal(tokenizer_pair_check_sizes(&pair, tgt, src, &err), -1);  // swapped sides
    tokenizer_pair_free(&pair);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tokenizer_sizes_are_checked_against_a_model),
    cmocka_unit_test(bpe_round_trips_hard_text),
    cmocka_unit_test(bpe_round_trips_ten_thousand_character_words),
    cmocka_unit_test(unseen_characters_fall_back_to_bytes),
    cmocka_unit_test(bpe_merges_frequent_words_into_single_tokens),
    cmocka_unit_test(bpe_learning_is_deterministic),
    cmocka_unit_test(word_vocabulary_round_trips_known_words_and_marks_unknown),
    cmocka_unit_test(word_vocabulary_honours_min_count_and_size),
    cmocka_unit_test(encode_refuses_invalid_utf8),
    cmocka_unit_test(decode_repairs_what_a_model_may_emit),
    cmocka_unit_test(saved_form_gives_back_the_same_tokenizer),
    cmocka_unit_test(damaged_saved_forms_are_refused),
    cmocka_unit_test(bpe_refuses_a_vocabulary_too_small_for_its_bytes),
    cmocka_unit_test(learning_refuses_invalid_utf8_naming_the_sentence),
    cmocka_unit_test(word_vocabulary_knows_words_longer_than_any_buffer),
};
TEST_GROUP(tokenizer_tests, tests);
