// Searching for the best translation: greedy decoding and beam search.
//
// Both score a translation y of a source x by the model's own objective,
// log p(y | x) = Σₜ log p(yₜ | y<t, x), the final <eos> included; beam search
// ranks finished translations by that sum divided by length^α (α is the
// length penalty: 0 keeps the raw sum, which favours short output).
#ifndef AZUL_SEARCH_H
#define AZUL_SEARCH_H

#include "model/transformer.h"

typedef struct {
    int32_t *tokens;     // (length) without <bos>/<eos>
    int length;
    double log_prob;     // log p(y | x), <eos> included
    double score;        // log_prob / (length + 1)^α
    float *attention;    // (length + 1, S): the last layer's cross-attention per output
                         // step, averaged over heads (the <eos> step last)
    int S;
} Hypothesis;

void hypothesis_free(Hypothesis *h);

// The longest translation allowed for a source of S tokens: twice its length
// plus ten, within the model's max_len.
int translation_length_limit(const Model *m, int S);

// Greedy decoding of B padded sources (B, S) at once: each step every sentence
// takes its most probable next token.  out[b] receives sentence b's result.
int greedy_translate(Model *m, const int32_t *src, int B, int S, Hypothesis *out, Error *err);

// Beam search with K beams per sentence; out[b * n_best + i] receives the
// i-th best of sentence b (n_best ≤ K), by score.
int beam_translate(Model *m, const int32_t *src, int B, int S, int K, float length_penalty,
                   int n_best, Hypothesis *out, Error *err);

#endif
