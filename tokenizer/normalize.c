#include "tokenizer/normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"

enum { DROP = -1 };

// UAX #15's Stream-Safe Text Format: at most this many non-starters (here:
// code points of a nonzero combining class) in a row, then this one.
enum { STREAM_SAFE_MAX_NON_STARTERS = 30, COMBINING_GRAPHEME_JOINER = 0x034F };

// What step 1–3 of the normal form make of one code point: a replacement
// code point, or DROP.
static int32_t map_codepoint(int32_t cp) {
    switch (cp) {
    case '\t': case '\n': case '\v': case '\f': case '\r':
    case 0x85: case 0x2028: case 0x2029:
        return ' ';
    case 0x2018: case 0x2019: case 0x201A: case 0x201B:
        return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F:
        return '"';
    case 0x00AD: case 0x200B: case 0x2060: case 0xFEFF:
        return DROP;
    default:
        break;
    }
    utf8proc_category_t category = utf8proc_category(cp);
    if (category == UTF8PROC_CATEGORY_ZS) return ' ';
    if (category == UTF8PROC_CATEGORY_CC) return DROP;
    return cp;
}

char *normalize_text(const char *text, size_t length, NormalizeOptions options,
                     size_t *out_length, Error *err) {
    Utf8Problem problem;
    if (!utf8_validate(text, length, &problem)) {
        error_set(err, "invalid UTF-8 at byte %zu: %s", problem.offset, problem.reason);
        return NULL;
    }

    // Steps 1–3, character by character, and the joiners of the Stream-Safe
    // format.  Replacements are never longer than what they replace, and a
    // joiner (2 bytes) follows 30 marks (2 bytes or more each): the input
    // length and a 30th of it bound the output.
    const size_t capacity = length + length / STREAM_SAFE_MAX_NON_STARTERS + 4;
    char *mapped = malloc(capacity);
    if (!mapped) {
        error_out_of_memory(err, "normalising text", capacity);
        return NULL;
    }
    size_t n = 0;
    int non_starters = 0;  // in a row, just before i
    for (size_t i = 0; i < length;) {
        int32_t cp;
        i += (size_t)utf8_decode(text + i, &cp);
        cp = map_codepoint(cp);
        if (cp == DROP) continue;
        const bool starter = utf8proc_get_property(cp)->combining_class == 0;
        if (!starter && non_starters == STREAM_SAFE_MAX_NON_STARTERS) {
            n += (size_t)utf8_encode(COMBINING_GRAPHEME_JOINER, mapped + n);
            non_starters = 0;
        }
        non_starters = starter ? 0 : non_starters + 1;
        n += (size_t)utf8_encode(cp, mapped + n);
    }

    // Step 4–5: utf8proc decomposes, case-folds if asked, and recomposes.
    utf8proc_option_t flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (options.casefold) flags |= UTF8PROC_CASEFOLD;
    utf8proc_uint8_t *composed = NULL;
    utf8proc_ssize_t composed_length =
        n ? utf8proc_map((const utf8proc_uint8_t *)mapped, (utf8proc_ssize_t)n, &composed, flags)
          : 0;
    free(mapped);
    if (composed_length < 0) {
        // Validation above makes this unreachable except when memory runs out.
        error_set(err, "Unicode normalisation failed: %s", utf8proc_errmsg(composed_length));
        return NULL;
    }

    // Step 1's second half: collapse runs of spaces, trim both ends.  This runs
    // after NFC so that a space created by composition cannot slip through.
    char *out = malloc((size_t)composed_length + 1);
    if (!out) {
        free(composed);
        error_out_of_memory(err, "normalising text", (size_t)composed_length + 1);
        return NULL;
    }
    size_t m = 0;
    bool pending_space = false;
    for (utf8proc_ssize_t i = 0; i < composed_length; i++) {
        char c = (char)composed[i];
        if (c == ' ') {
            pending_space = m > 0;
            continue;
        }
        if (pending_space) out[m++] = ' ';
        pending_space = false;
        out[m++] = c;
    }
    out[m] = '\0';
    free(composed);
    if (out_length) *out_length = m;
    return out;
}
