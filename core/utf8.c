#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>

// Length of the sequence a lead byte announces, 0 for bytes that cannot lead.
static int sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead < 0xC0) return 0;  // a continuation byte where a character should start
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    if (lead < 0xF8) return 4;
    return 0;                   // 0xF8..0xFF never appear in UTF-8
}

static bool fail(Utf8Problem *problem, size_t offset, const char *reason) {
    if (problem) {
        problem->offset = offset;
        problem->reason = reason;
    }
    return false;
}

bool utf8_validate(const char *text, size_t length, Utf8Problem *problem) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < length) {
        unsigned char lead = s[i];
        if (lead < 0x80) { i++; continue; }
        int n = sequence_length(lead);
        if (n == 0) {
            return fail(problem, i, lead < 0xC0 ? "unexpected continuation byte"
                                                : "byte that never occurs in UTF-8");
        }
        // Every byte after the lead must be 10xxxxxx; a shortfall is a truncation.
        for (int k = 1; k < n; k++) {
            if (i + (size_t)k >= length || (s[i + k] & 0xC0) != 0x80) {
                return fail(problem, i, "truncated multi-byte sequence");
            }
        }
        int32_t cp;
        utf8_decode(text + i, &cp);
        static const int32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < smallest[n]) return fail(problem, i, "overlong encoding");
        if (cp >= 0xD800 && cp <= 0xDFFF) return fail(problem, i, "UTF-16 surrogate");
        if (cp > 0x10FFFF) return fail(problem, i, "code point above U+10FFFF");
        i += (size_t)n;
    }
    return true;
}

int utf8_decode(const char *text, int32_t *codepoint) {
    const unsigned char *s = (const unsigned char *)text;
    int n = sequence_length(s[0]);
    switch (n) {
    case 1: *codepoint = s[0]; break;
    case 2: *codepoint = ((s[0] & 0x1F) << 6) | (s[1] & 0x3F); break;
    case 3: *codepoint = ((s[0] & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F); break;
    case 4:
        *codepoint = ((s[0] & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) |
                     (s[3] & 0x3F);
        break;
    default: *codepoint = 0xFFFD; n = 1; break;  // only reached on unvalidated input
    }
    return n;
}

int utf8_encode(int32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static const char REPLACEMENT[] = "\xEF\xBF\xBD";  // U+FFFD

// The character at text (not at its end): how many bytes it takes, and
// whether it may be shown as it is.
static int printable_at(const char *text, bool *shown) {
    const unsigned char *s = (const unsigned char *)text;
    int n = sequence_length(s[0]);
    for (int k = 1; k < n; k++) {
        if (s[k] == '\0') {  // truncated by the end of the text
            n = 0;
            break;
        }
    }
    if (n == 0 || !utf8_validate(text, (size_t)n, NULL)) {
        *shown = false;
        return 1;
    }
    int32_t cp;
    utf8_decode(text, &cp);
    // U+2028 and U+2029, the line and paragraph separators, end a line as
    // surely as a newline for a program that reads the output by Unicode's
    // rules (an editor, a browser, JavaScript); U+0085 (NEL) is a C1 control.
    *shown = !(cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029);
    return n;
}

void utf8_put_printable(FILE *out, const char *text) {
    for (size_t i = 0; text[i];) {
        bool shown;
        int n = printable_at(text + i, &shown);
        if (shown) fwrite(text + i, 1, (size_t)n, out);
        else fputs(REPLACEMENT, out);
        i += (size_t)n;
    }
}

char *utf8_printable(const char *text) {
    // at most three bytes for each byte of text
    char *out = malloc(strlen(text) * 3 + 1);
    if (!out) return NULL;
    size_t m = 0;
    for (size_t i = 0; text[i];) {
        bool shown;
        int n = printable_at(text + i, &shown);
        memcpy(out + m, shown ? text + i : REPLACEMENT, shown ? (size_t)n : 3);
        m += shown ? (size_t)n : 3;
        i += (size_t)n;
    }
    out[m] = '\0';
    return out;
}
