// The saved form of a tokenizer: a versioned JSON object, small enough to
// live inside the model file's metadata and plain enough to read.
//
//   {"format": "azul-tokenizer", "version": 1, "kind": "bpe",
//    "normalization": {"form": "NFC", "casefold": false}, "min_count": 2,
//    "specials": ["<pad>", "<unk>", "<bos>", "<eos>"], "byte_fallback": true,
//    "tokens": [" ", "e", ..., " la", ...],      ids from 260 (bpe) or 4 (word) on
//    "merges": [[261, 262], ...]}                 bpe: in rank order, as id pairs
//
// A token's text is its bytes; a leading space marks the start of a word.
#ifndef AZUL_TOKENIZER_JSON_H
#define AZUL_TOKENIZER_JSON_H

#include <cjson/cJSON.h>

#include "tokenizer/tokenizer.h"

// The saved form, or NULL when memory runs out (never a tree with parts
// missing).
cJSON *tokenizer_to_json(const Tokenizer *t);

// The most ordinary tokens (the "tokens" array) a saved tokenizer may hold:
// ten times the largest vocabulary `--vocab-size` learns, more than twice
// what a model takes (model/config.c).
enum { TOKENIZER_MAX_SAVED_TOKENS = 10 * 1000 * 1000 };

// Rebuilds a tokenizer from its saved form, checking every field: a damaged
// or hostile file gets an error naming the field, never a crash.
int tokenizer_from_json(Tokenizer *t, const cJSON *json, Error *err);
// The same with another limit on the tokens (the tests use a small one).
int tokenizer_from_json_at_most(Tokenizer *t, const cJSON *json, int max_tokens, Error *err);

#endif
