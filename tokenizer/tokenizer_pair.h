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

// Reads a tokenizer pair saved as JSON by `azul tokenize --learn`.
int tokenizer_pair_load(TokenizerPair *pair, const char *path, Error *err);
// Writes it atomically: a crash leaves the old file or the new one, never half.
int tokenizer_pair_save(const TokenizerPair *pair, const char *path, Error *err);

#endif
