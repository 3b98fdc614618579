// Strict UTF-8 validation (RFC 3629) that says where and why a text is invalid.
//
// utf8proc would also refuse bad input, but a user who fed us a Latin-1 file
// deserves to hear "byte 17: unexpected continuation byte", not just "invalid".
#ifndef AZUL_UTF8_H
#define AZUL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

// Text a model produced, made safe to show: a byte token decodes to any byte,
// and a newline would split one output line in two, an ESC would reach the
// terminal as an escape sequence.  Every control character (C0, tab and CR
// included; DEL; C1, NEL among them), the line and paragraph separators
// U+2028 and U+2029, and every byte that is not part of valid UTF-8 becomes
// U+FFFD, the replacement character: visible, unambiguous, never a control.
// utf8_put_printable writes text so to out; utf8_printable returns such a
// copy (malloc'd; NULL when memory runs out).
void utf8_put_printable(FILE *out, const char *text);
char *utf8_printable(const char *text);

#endif
