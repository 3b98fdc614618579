// Strict UTF-8 validation: each kind of invalid sequence is refused with the
// byte offset where it starts.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test.h"
#include "core/utf8.h"

static void expect_invalid(const char *text, size_t length, size_t offset, const char *reason) {
    Utf8Problem problem = {999, NULL};
    assert_false(utf8_validate(text, length, &problem));
    assert_int_equal(problem.offset, offset);
    assert_string_equal(problem.reason, reason);
}

static void valid_text_passes(void **state) {
    (void)state;
    const char *texts[] = {"", "The ball is blue", "¿Dónde está?", "сierto", "👨‍👩‍👧",
                           "\xF4\x8F\xBF\xBF" /* U+10FFFF */, "\xEF\xBF\xBD"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_true(utf8_validate(texts[i], strlen(texts[i]), NULL));
    }
}

static void overlong_forms_are_refused(void **state) {
    (void)state;
    expect_invalid("ab\xC0\xAF", 4, 2, "overlong encoding");          // '/' in two bytes
    expect_invalid("\xC1\xBF", 2, 0, "overlong encoding");
    expect_invalid("x\xE0\x80\xAF", 4, 1, "overlong encoding");        // three bytes
    expect_invalid("\xF0\x80\x80\xAF", 4, 0, "overlong encoding");     // four bytes
}

static void lone_continuation_bytes_are_refused(void **state) {
    (void)state;
    expect_invalid("\x80", 1, 0, "unexpected continuation byte");
    expect_invalid("abc\xBF", 4, 3, "unexpected continuation byte");
    expect_invalid("\xC3\xA1\xA1", 3, 2, "unexpected continuation byte");  // á + extra
}

static void surrogates_are_refused(void **state) {
    (void)state;
    expect_invalid("ok \xED\xA0\x80", 6, 3, "UTF-16 surrogate");   // U+D800
    expect_invalid("\xED\xBF\xBF", 3, 0, "UTF-16 surrogate");      // U+DFFF
}

static void truncated_sequences_are_refused(void **state) {
    (void)state;
    expect_invalid("est\xC3", 4, 3, "truncated multi-byte sequence");
    expect_invalid("\xE2\x82", 2, 0, "truncated multi-byte sequence");
    expect_invalid("\xF0\x9F\x98 x", 5, 0, "truncated multi-byte sequence");
}

static void impossible_bytes_are_refused(void **state) {
    (void)state;
    expect_invalid("\xFF", 1, 0, "byte that never occurs in UTF-8");
    expect_invalid("a\xF8\x88\x80\x80\x80", 6, 1, "byte that never occurs in UTF-8");
    expect_invalid("\xF4\x90\x80\x80", 4, 0, "code point above U+10FFFF");
}

static void encode_and_decode_agree(void **state) {
    (void)state;
    const int32_t points[] = {0, 'A', 0x7F, 0x80, 0xE1, 0x7FF, 0x800, 0x2581, 0xFFFD, 0xFFFF,
                              0x10000, 0x1F600, 0x10FFFF};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        char bytes[4];
        int n = utf8_encode(points[i], bytes);
        assert_true(utf8_validate(bytes, (size_t)n, NULL));
        int32_t back;
        assert_int_equal(utf8_decode(bytes, &back), n);
        assert_int_equal(back, points[i]);
    }
}

// Everything that ends a line by Unicode's rules becomes U+FFFD, so that one
// translation stays one line: the C0 and C1 controls did already; U+2028 and
// U+2029 passed through.
static void line_breaking_characters_are_not_printable(void **state) {
    (void)state;
    const char *breakers[] = {"\n", "\r", "\v", "\f", "\xC2\x85", "\xE2\x80\xA8", "\xE2\x80\xA9"};
    for (size_t i = 0; i < sizeof breakers / sizeof breakers[0]; i++) {
        char text[16];
        snprintf(text, sizeof text, "a%sb", breakers[i]);
        char *shown = utf8_printable(text);
        assert_string_equal(shown, "a\xEF\xBF\xBD" "b");
        free(shown);
    }
    // their neighbours are ordinary text
    char *shown = utf8_printable("\xE2\x80\xA7\xE2\x80\xAF\xC2\xA0");
    assert_string_equal(shown, "\xE2\x80\xA7\xE2\x80\xAF\xC2\xA0");
    free(shown);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(valid_text_passes),
    cmocka_unit_test(overlong_forms_are_refused),
    cmocka_unit_test(lone_continuation_bytes_are_refused),
    cmocka_unit_test(surrogates_are_refused),
    cmocka_unit_test(truncated_sequences_are_refused),
    cmocka_unit_test(impossible_bytes_are_refused),
    cmocka_unit_test(encode_and_decode_agree),
    cmocka_unit_test(line_breaking_characters_are_not_printable),
};
TEST_GROUP(utf8_tests, tests);
