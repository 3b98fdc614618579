// The normal form: what counts as "the same text" for the tokenizer.
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "tests/test.h"
#include "tokenizer/normalize.h"

static char *normal(const char *text, bool casefold) {
    Error err;
    NormalizeOptions options = {casefold};
    char *out = normalize_text(text, strlen(text), options, NULL, &err);
    assert_non_null(out);
    return out;
}

static void expect_normal(const char *text, const char *expected) {
    char *out = normal(text, false);
    assert_string_equal(out, expected);
    free(out);
}

static void composed_and_decomposed_forms_are_equal(void **state) {
    (void)state;
    expect_normal("est\xC3\xA1", "está");        // U+00E1
    expect_normal("esta\xCC\x81", "está");       // a + U+0301
    expect_normal("n\xCC\x83" "o", "ño");        // n + combining tilde
    expect_normal("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "한");  // Hangul jamo compose
}

static void special_spaces_become_one_plain_space(void **state) {
    (void)state;
    expect_normal("Quoi\xC2\xA0?", "Quoi ?");          // no-break space
    expect_normal("Quoi\xE2\x80\xAF!", "Quoi !");      // narrow no-break space
    expect_normal("Quoi\xE2\x80\x89;", "Quoi ;");      // thin space
    expect_normal("  a \t\t b\r\n c  ", "a b c");      // runs collapse, ends trimmed
    expect_normal("a\xE2\x80\xA8" "b", "a b");         // line separator
}

static void curly_quotes_become_ascii(void **state) {
    (void)state;
    expect_normal("I\xE2\x80\x99m \xE2\x80\x9Chere\xE2\x80\x9D", "I'm \"here\"");
    expect_normal("\xE2\x80\x98" "a\xE2\x80\x9A" "b\xE2\x80\x9E", "'a'b\"");
    expect_normal("«guillemets»", "«guillemets»");     // kept: they are not quotes to fold
}

static void invisible_characters_are_dropped(void **state) {
    (void)state;
    expect_normal("zero\xE2\x80\x8Bwidth", "zerowidth");  // U+200B
    expect_normal("soft\xC2\xADhyphen", "softhyphen");   // U+00AD
    expect_normal("\xEF\xBB\xBF" "bom", "bom");           // U+FEFF
    expect_normal("bell\x07!", "bell!");                  // control character
    // U+200D stays: it holds emoji sequences together.
    expect_normal("👨\xE2\x80\x8D👩", "👨\xE2\x80\x8D👩");
}

static void nfc_keeps_compatibility_characters(void **state) {
    (void)state;
    expect_normal("CO₂ ﬁn ①", "CO₂ ﬁn ①");  // NFC, not NFKC
}

static void casefold_is_optional(void **state) {
    (void)state;
    char *kept = normal("La Bola ÁRBOL", false);
    char *folded = normal("La Bola ÁRBOL", true);
    assert_string_equal(kept, "La Bola ÁRBOL");
    assert_string_equal(folded, "la bola árbol");
    free(kept);
    free(folded);
}

static void normal_form_is_a_fixed_point(void **state) {
    (void)state;
    const char *texts[] = {"  ¿Dónde\xC2\xA0" "está?  ", "e\xCC\x81\xCC\x81 x", "a\xE2\x80\x8B b",
                           "\xE2\x80\x83\xE2\x80\x83", ""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *once = normal(texts[i], false);
        char *twice = normal(once, false);
        assert_string_equal(once, twice);
        free(once);
        free(twice);
    }
}

static void invalid_utf8_is_refused_with_its_offset(void **state) {
    (void)state;
    Error err;
    NormalizeOptions options = {false};
    assert_null(normalize_text("caf\xE9 au lait", 12, options, NULL, &err));
    expect_contains(err.message, "invalid UTF-8 at byte 3");
}

// "x" then n marks in the order NFC's sorting of marks likes least: every
// U+0301 (combining class 230) before every U+0316 (220), so that each pair
// is swapped; malloc'd.
static char *worst_order_marks(int n) {
    char *text = malloc(1 + 2 * (size_t)n + 1), *p = text;
    *p++ = 'x';  // a letter U+0301 does not compose with
    for (int i = 0; i < n; i++, p += 2) memcpy(p, i < n / 2 ? "\xCC\x81" : "\xCC\x96", 2);
    *p = '\0';
    return text;
}

// 32,000 marks in the worst order: ~2.6 × 10⁸ swaps for one run, a few
// milliseconds as the Stream-Safe format (a U+034F after every 30 marks)
// cuts it into runs; each run is still sorted, and the text stays a fixed
// point.
static void a_long_run_of_combining_marks_normalises_in_linear_time(void **state) {
    (void)state;
    char *text = worst_order_marks(32000);
    const double started = monotonic_seconds();
    char *out = normal(text, false);
    const double took = monotonic_seconds() - started;
    printf("  32,000 marks in the worst order normalised in %.1f ms\n", took * 1e3);
    assert_true(took < 0.1);
    // "x", 30 marks sorted (220 before 230), a joiner, the next 30, ...
    expect_contains(out, "x\xCC\x81\xCC\x81");
    expect_contains(out, "\xCD\x8F\xCC\x81");  // U+034F
    expect_contains(out, "\xCC\x96\xCC\x96\xCD\x8F");
    char *again = normal(out, false);
    assert_string_equal(again, out);
    size_t joiners = 0;
    for (const char *p = out; (p = strstr(p, "\xCD\x8F")); p += 2) joiners++;
    assert_int_equal(joiners, (32000 - 1) / 30);
    free(again);
    free(out);
    free(text);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(composed_and_decomposed_forms_are_equal),
    cmocka_unit_test(special_spaces_become_one_plain_space),
    cmocka_unit_test(curly_quotes_become_ascii),
    cmocka_unit_test(invisible_characters_are_dropped),
    cmocka_unit_test(nfc_keeps_compatibility_characters),
    cmocka_unit_test(casefold_is_optional),
    cmocka_unit_test(normal_form_is_a_fixed_point),
    cmocka_unit_test(invalid_utf8_is_refused_with_its_offset),
    cmocka_unit_test(a_long_run_of_combining_marks_normalises_in_linear_time),
};
TEST_GROUP(normalize_tests, tests);
