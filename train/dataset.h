// A corpus turned into token ids, ready to be batched.
//
// Source sequences end with <eos> (so the encoder sees where the sentence
// stops); target sequences are stored bare and get <bos> / <eos> when a batch
// is built: tgt_in = <bos> y₁ … yₙ, tgt_out = y₁ … yₙ <eos>.
#ifndef AZUL_DATASET_H
#define AZUL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer_pair.h"
#include "train/corpus.h"

typedef struct {
    uint32_t src_offset, tgt_offset;  // into Dataset.ids
    uint16_t src_len;                 // <eos> included
    uint16_t tgt_len;                 // without <bos>/<eos>
    uint32_t line;                    // in the corpus file
    uint32_t corpus_index;            // in Corpus.pairs
} EncodedPair;

typedef struct {
    int32_t *ids;          // stb_ds array
    EncodedPair *pairs;    // stb_ds array
    size_t too_long;       // pairs dropped for exceeding max_len
    size_t empty;          // pairs with a side that normalises to nothing
    size_t source_tokens, target_tokens;  // over the kept pairs, <eos> included
} Dataset;

// Encodes every pair of the corpus; keeps those whose source (with <eos>) and
// target (with <bos> or <eos>) fit in max_len tokens.
int dataset_encode(Dataset *d, const Corpus *corpus, TokenizerPair *tokenizers, int max_len,
                   Error *err);
void dataset_free(Dataset *d);

// Learns the tokenizers from the two sides of the corpus.
int dataset_learn_tokenizers(TokenizerPair *tokenizers, const TokenizerConfig *config, bool joint,
                             const Corpus *corpus, Error *err);
size_t dataset_size(const Dataset *d);

#endif
