// The word vocabulary: every piece seen often enough is a token.
#ifndef AZUL_WORD_VOCAB_H
#define AZUL_WORD_VOCAB_H

#include "tokenizer/tokenizer.h"

// Keeps the most frequent pieces with count >= config->min_count, up to
// config->vocab_size ids in all (0: no limit); the rest will be <unk>.
// On failure t holds nothing.
int word_vocab_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences,
                     size_t n, Error *err);

#endif
