// Greedy decoding: at every step each sentence takes its most probable next
// token, until <eos> or the length limit.
#ifndef AZUL_GREEDY_H
#define AZUL_GREEDY_H

#include "model/transformer.h"

// The longest translation allowed for a source of S tokens: twice its length
// plus ten, within the model's max_len.
int translation_length_limit(const Model *m, int S);

// Translates B padded sources (B, S) at once.  out (B, max_out) receives the
// token ids (no <bos>/<eos>) and lengths[b] their count.
int greedy_translate(Model *m, const int32_t *src, int B, int S, int max_out, int32_t *out,
                     int *lengths, Error *err);

#endif
