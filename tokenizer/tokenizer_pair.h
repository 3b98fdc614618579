// The two tokenizers of a translation model, source and target, learned from
// the two sides of a corpus (or one joint tokenizer learned from both sides).
//
// Saved form:
//   {"format": "azul-tokenizers", "version": 1, "joint": false,
//    "source": {tokenizer}, "target": {tokenizer}}     (no "target" when joint)
#ifndef AZUL_TOKENIZER_PAIR_H
#define AZUL_TOKENIZER_PAIR_H

#include <cjson/cJSON.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json.h"

typedef struct {
    Tokenizer source;
    Tokenizer target;  // a copy of source when joint
    bool joint;
} TokenizerPair;

// Learns from n sentence pairs: sources[i] and targets[i].
int tokenizer_pair_learn(TokenizerPair *pair, const TokenizerConfig *config, bool joint,
                         const char *const *sources, const char *const *targets, size_t n,
                         Error *err);
void tokenizer_pair_free(TokenizerPair *pair);

// Fails unless the source and target vocabularies have exactly the sizes a
// model was built for (a model file whose tokenizers were swapped or edited).
int tokenizer_pair_check_sizes(const TokenizerPair *pair, int src_vocab, int tgt_vocab,
                               Error *err);

// The saved form of both, or NULL when memory runs out.
cJSON *tokenizer_pair_to_json(const TokenizerPair *pair);
int tokenizer_pair_from_json(TokenizerPair *pair, const cJSON *json, Error *err);

// The largest file of tokenizers tokenizer_pair_load reads (512 MiB).
enum { TOKENIZER_MAX_FILE_BYTES = 512 * 1024 * 1024 };

// The JSON values a saved pair may hold, checked before it is parsed (cJSON
// spends some 80 bytes a value).  A token is one value and a merge three (an
// array of two ids); a learned tokenizer has about as many merges as tokens.
// A file: two tokenizers of TOKENIZER_MAX_SAVED_TOKENS tokens with a merge
// each, 80 million values and some 6 GB of nodes, where the 512 MiB allowed
// would let dense JSON make 270 million; azul learns at most a million ids a
// side, some 8 million values.
#define TOKENIZER_PAIR_MAX_JSON_VALUES ((size_t)2 * 4 * TOKENIZER_MAX_SAVED_TOKENS + 1000)
// Inside a model or training state, whose config gives the vocabularies:
// 8 values an id, room for twice as many merges as tokens (a merge that makes
// a token already there adds none), and 1,000 for the rest.
size_t tokenizer_pair_max_json_values(int src_vocab, int tgt_vocab);

// Parses a pair's saved text (as a model or training state holds it) and
// rebuilds the pair; refused unparsed past max_values JSON values.
int tokenizer_pair_from_text(TokenizerPair *pair, const char *text, size_t max_values, Error *err);

// Reads a tokenizer pair saved as JSON by `azul tokenize --learn`.
int tokenizer_pair_load(TokenizerPair *pair, const char *path, Error *err);
// Writes it atomically: a crash leaves the old file or the new one, never half.
int tokenizer_pair_save(const TokenizerPair *pair, const char *path, Error *err);

#endif
