// Pre-tokenisation: words, numbers and each mark apart, spaces kept in front.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tests/test.h"
#include "tokenizer/pretokenize.h"

// The pieces of text joined with '|', e.g. " ¿|Dónde| está|?".
static char *pieces_of(const char *text) {
    Piece *pieces = NULL;
    pretokenize(text, strlen(text), &pieces);
    size_t size = strlen(text) + (size_t)arrlen(pieces) + 1;
    char *out = calloc(size, 1);
    for (ptrdiff_t i = 0; i < arrlen(pieces); i++) {
        if (i) strcat(out, "|");
        strncat(out, text + pieces[i].start, pieces[i].length);
    }
    arrfree(pieces);
    return out;
}

static void expect_pieces(const char *text, const char *expected) {
    char *got = pieces_of(text);
    assert_string_equal(got, expected);
    free(got);
}

static void words_and_marks_are_apart(void **state) {
    (void)state;
    expect_pieces(" ¿Dónde está?", " ¿|Dónde| está|?");
    expect_pieces(" The ball is blue.", " The| ball| is| blue|.");
    expect_pieces(" ¡Hola!", " ¡|Hola|!");
    expect_pieces(" «Non», dit-il...", " «|Non|»|,| dit|-|il|.|.|.");
}

static void numbers_are_their_own_pieces(void **state) {
    (void)state;
    expect_pieces(" I have 25 cats, 3.5 kg", " I| have| 25| cats|,| 3|.|5| kg");
    expect_pieces(" h2o", " h|2|o");
}

static void graphemes_are_never_split(void **state) {
    (void)state;
    // An emoji family (ZWJ sequence) and a skin tone stay whole; so does a
    // letter with combining marks.
    expect_pieces(" 👨‍👩‍👧 👍🏽", " 👨‍👩‍👧| 👍🏽");
    expect_pieces(" esta\xCC\x81 bien", " esta\xCC\x81| bien");
}

static void pieces_cover_the_text_exactly(void **state) {
    (void)state;
    const char *text = " Het is 12:30 — tijd voor €5,- koffie!! Ça va? 東京 ★";
    char *joined = pieces_of(text);
    // Removing the separators gives the text back.
    char *p = joined, *q = joined;
    for (; *p; p++) if (*p != '|') *q++ = *p;
    *q = '\0';
    assert_string_equal(joined, text);
    free(joined);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(words_and_marks_are_apart),
    cmocka_unit_test(numbers_are_their_own_pieces),
    cmocka_unit_test(graphemes_are_never_split),
    cmocka_unit_test(pieces_cover_the_text_exactly),
};
TEST_GROUP(pretokenize_tests, tests);
