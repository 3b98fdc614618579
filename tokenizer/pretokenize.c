#include "tokenizer/pretokenize.h"

#include <stb/stb_ds.h>
#include <utf8proc.h>

#include "core/utf8.h"

typedef enum { CLASS_SPACE, CLASS_LETTER, CLASS_NUMBER, CLASS_OTHER } CharClass;

// A grapheme cluster is classified by its first code point.
static CharClass classify(int32_t cp) {
    if (cp == ' ') return CLASS_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CLASS_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CLASS_NUMBER;
    default:
        return CLASS_OTHER;  // punctuation, symbols, emoji, a mark with nothing to sit on
    }
}

void pretokenize(const char *text, size_t length, Piece **pieces) {
    size_t piece_start = 0;
    CharClass piece_class = CLASS_SPACE;
    int has_piece = 0;           // is there an open piece?
    int32_t previous_cp = -1;
    utf8proc_int32_t break_state = 0;

    for (size_t i = 0; i < length;) {
        int32_t cp;
        int n = utf8_decode(text + i, &cp);
        int starts_grapheme =
            previous_cp < 0 || utf8proc_grapheme_break_stateful(previous_cp, cp, &break_state);
        previous_cp = cp;
        if (!starts_grapheme) { i += (size_t)n; continue; }  // stays in the current piece

        CharClass c = classify(cp);
        int continues = has_piece && ((piece_class == CLASS_SPACE && c != CLASS_SPACE) ||
                                      (c == piece_class && (c == CLASS_LETTER || c == CLASS_NUMBER)));
        if (continues) {
            piece_class = c;  // a space adopts the class of the grapheme after it
        } else {
            if (has_piece) {
                Piece p = {(uint32_t)piece_start, (uint32_t)(i - piece_start)};
                arrput(*pieces, p);
            }
            piece_start = i;
            piece_class = c;
            has_piece = 1;
        }
        i += (size_t)n;
    }
    if (has_piece) {
        Piece p = {(uint32_t)piece_start, (uint32_t)(length - piece_start)};
        arrput(*pieces, p);
    }
}
