// Unicode normalisation: the first step of tokenisation.
//
// Two texts a reader would call the same must give the same tokens: "está"
// typed with a precomposed "á" or with "a" + U+0301, a French "?" preceded by
// a narrow no-break space or a plain one, a curly or a straight apostrophe.
// The normal form is:
//   1. every white-space character (Unicode Zs, tab, newlines, U+2028/9) is a
//      plain space; runs of spaces become one; none at either end;
//   2. curly quotes ‘ ’ ‚ ‛ become ' and “ ” „ ‟ become ";
//   3. invisible characters U+200B, U+00AD, U+2060, U+FEFF and control
//      characters are dropped (U+200D is kept: emoji sequences need it);
//   4. NFC, canonical composition (not NFKC: it would turn "CO₂" into "CO2"
//      and "ﬁ" into "fi", changing text the user wrote);
//   5. optionally, Unicode case folding ("La" and "la" become one token).
// Before step 4, the text is made Stream-Safe (Unicode UAX #15, D4): after
// 30 combining marks in a row a U+034F COMBINING GRAPHEME JOINER is put in.
// NFC sorts each run of marks by swapping neighbours, so one run of n marks
// costs up to n² / 2 swaps (a 64 KiB run, ~10⁸); runs of 30 keep the cost
// linear.  No real text has such a run; utf8proc has no option for it.
#ifndef AZUL_NORMALIZE_H
#define AZUL_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/utf8.h"

typedef struct {
    bool casefold;
} NormalizeOptions;

// Returns the normal form of text[0..length) as a NUL-terminated malloc'd
// string (its length in *out_length), or NULL with err set when the text is
// not valid UTF-8 ("invalid UTF-8 at byte N: why") or memory runs out.
char *normalize_text(const char *text, size_t length, NormalizeOptions options,
                     size_t *out_length, Error *err);

#endif
