// Word alignments read off the cross-attention: for each target word, the
// source word its tokens attended to most (the last decoder layer, heads
// averaged), in the Pharaoh "source-target" form Marian and OpenNMT print:
// "0-0 1-1 2-2 3-3".  Words are the text's space-separated units; a token
// whose text begins with a space starts a new word.
#ifndef AZUL_ALIGNMENT_H
#define AZUL_ALIGNMENT_H

#include "infer/search.h"
#include "tokenizer/tokenizer.h"

// source_word[i] for each target word i; returns the number of target words
// and fills *source_word (malloc'd), or -1 with err (and *source_word NULL)
// when memory runs out.  src_ids are the source tokens without <eos>
// (src_len of them); the attention's <eos> column is ignored.
int align_words(const Tokenizer *source, const int32_t *src_ids, int src_len,
                const Tokenizer *target, const Hypothesis *h, int **source_word, Error *err);

// "0-0 1-1 ..." (malloc'd), or NULL when memory runs out.
char *alignment_pharaoh(const int *source_word, int n_target_words);

#endif
