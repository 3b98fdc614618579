// Pre-tokenisation: cutting normalised text into pieces before any vocabulary
// is consulted.  Words (runs of letters, with their combining marks), numbers
// (runs of digits) and each punctuation mark or symbol are pieces of their own:
//
//     " ¿Dónde está?"  →  " ¿" "Dónde" " está" "?"
//
// A piece keeps the single space in front of it, SentencePiece-style (shown to
// people as ▁), so concatenating the pieces gives back the text exactly and no
// information about spacing is lost.  Units are grapheme clusters (utf8proc's
// segmentation), so an emoji sequence or a letter with a combining accent is
// never split.
#ifndef AZUL_PRETOKENIZE_H
#define AZUL_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t start;   // byte offset in the text
    uint32_t length;  // bytes, including the leading space if there is one
} Piece;

// Appends the pieces of text[0..length) (valid UTF-8, normally the normal form
// with one space put in front, so that the first word is marked like the
// others) to the stb_ds array *pieces.
void pretokenize(const char *text, size_t length, Piece **pieces);

#endif
