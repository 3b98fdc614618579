#include "tokenizer/word_vocab.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tokenizer/piece_counts.h"

int word_vocab_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences,
                     size_t n, Error *err) {
    if (config->vocab_size != 0 && config->vocab_size <= TOKEN_SPECIAL_COUNT) {
        return error_set(err, "vocabulary size %d is too small: the word vocabulary needs "
                              "more than its %d special tokens", config->vocab_size,
                         TOKEN_SPECIAL_COUNT);
    }
    PieceCount *counts;
    if (count_pieces(sentences, n, config->normalize, &counts, err) < 0) return -1;
    PieceCount *sorted = piece_counts_sorted(counts);
    size_t n_pieces = (size_t)shlen(counts);

    tokenizer_init_specials(t, TOKENIZER_WORD, config->normalize);
    t->min_count = config->min_count > 0 ? config->min_count : 1;
    for (size_t i = 0; i < n_pieces; i++) {
        if (sorted[i].value < t->min_count) break;
        if (config->vocab_size && tokenizer_vocab_size(t) >= (size_t)config->vocab_size) break;
        tokenizer_add_token(t, sorted[i].key, strlen(sorted[i].key), -1, -1);
    }
    free(sorted);
    shfree(counts);
    return 0;
}
