// Byte-pair encoding: learning the merges from a corpus, and applying them.
#ifndef AZUL_BPE_H
#define AZUL_BPE_H

#include "tokenizer/tokenizer.h"

// Learns a BPE vocabulary of config->vocab_size ids: specials, the 256 byte
// tokens, every character seen at least config->min_count times (the rarest
// are dropped if they do not fit), then merges until the size is reached or
// no pair occurs twice.  On failure t holds nothing.
int bpe_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences, size_t n,
              Error *err);

// Appends the ids of one piece to the stb_ds array *ids: its characters
// (bytes for unknown ones), merged in rank order, lowest rank first.
void bpe_encode_piece(const Tokenizer *t, const char *piece, size_t length, int32_t **ids);

// Appends the initial symbols of a piece — one token per character, or its
// bytes when the character has no token — to the stb_ds array *symbols.
void bpe_split_characters(const Tokenizer *t, const char *piece, size_t length,
                          int32_t **symbols);

static inline uint64_t bpe_pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

#endif
