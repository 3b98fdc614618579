// The tokenizer's round-trip contract (tokenizer/tokenizer.h), checked on
// one text by the harnesses that have a tokenizer at hand.
#ifndef AZUL_FUZZ_ROUNDTRIP_H
#define AZUL_FUZZ_ROUNDTRIP_H

#include <stddef.h>

#include "tokenizer/tokenizer.h"

// Aborts unless, for text[0..length):
//   - normalising fails exactly when the text is not valid UTF-8, and
//     encoding fails exactly then too;
//   - the normal form is a fixed point: normalising it again changes nothing;
//   - encoding gives ids of the vocabulary, never <pad>, <bos> or <eos>, and
//     <unk> only from a word vocabulary;
//   - decoding gives valid UTF-8, and exactly the normal form when no id is
//     <unk> (always, for bpe: its byte fallback spells any character).
void fuzz_check_roundtrip(Tokenizer *t, const char *text, size_t length);

#endif
