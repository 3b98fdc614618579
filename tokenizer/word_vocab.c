#include "tokenizer/word_vocab.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tokenizer/piece_counts.h"

int word_vocab_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences,
                     size_t n, Error *err) {
    memset(t, 0, sizeof *t);  // so that a failure leaves nothing to free
    if (config->vocab_size != 0 && config->vocab_size <= TOKEN_SPECIAL_COUNT) {
        return error_set(err, "vocabulary size %d is too small: the word vocabulary needs "
                              "more than its %d special tokens", config->vocab_size,
                         TOKEN_SPECIAL_COUNT);
    }
    PieceCount *counts;
    if (count_pieces(sentences, n, config->normalize, &counts, err) < 0) return -1;
    size_t n_pieces = (size_t)shlen(counts);
    int status = -1;
    PieceCount *sorted = piece_counts_sorted(counts, err);
    if (!sorted) goto done;
    if (tokenizer_init_specials(t, TOKENIZER_WORD, config->normalize, err) < 0) goto done;
    t->min_count = config->min_count > 0 ? config->min_count : 1;
    for (size_t i = 0; i < n_pieces; i++) {
        if (sorted[i].value < t->min_count) break;
        if (config->vocab_size && tokenizer_vocab_size(t) >= (size_t)config->vocab_size) break;
        if (tokenizer_add_token(t, sorted[i].key, strlen(sorted[i].key), -1, -1, err) < 0) goto done;
    }
    status = 0;

done:
    free(sorted);
    shfree(counts);
    if (status < 0) tokenizer_free(t);
    return status;
}
