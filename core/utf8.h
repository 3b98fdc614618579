// Strict UTF-8 validation (RFC 3629) that says where and why a text is invalid.
//
// utf8proc would also refuse bad input, but a user who fed us a Latin-1 file
// deserves to hear "byte 17: unexpected continuation byte", not just "invalid".
#ifndef AZUL_UTF8_H
#define AZUL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t offset;       // byte offset of the first byte of the bad sequence
    const char *reason;  // e.g. "overlong encoding", "UTF-16 surrogate"
} Utf8Problem;

// True when text[0..length) is valid UTF-8; otherwise false with *problem set.
bool utf8_validate(const char *text, size_t length, Utf8Problem *problem);

// Decodes one code point from valid UTF-8; returns the number of bytes used.
int utf8_decode(const char *text, int32_t *codepoint);

// Writes the UTF-8 form of codepoint to out (4 bytes room); returns its length.
int utf8_encode(int32_t codepoint, char *out);

#endif
