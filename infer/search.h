// Searching for the best translation: greedy decoding and beam search.
//
// Both score a translation y of a source x by the model's own objective,
// log p(y | x) = Σₜ log p(yₜ | y<t, x), the final <eos> included; beam search
// ranks finished translations by that sum divided by (length + 1)^α, the
// +1 counting the <eos> (α is the length penalty: 0 keeps the raw sum, which
// favours short output).  Both
// drive the model's one decoder through its key/value cache
// (model/decoder_cache.h); nothing here computes a layer.
#ifndef AZUL_SEARCH_H
#define AZUL_SEARCH_H

#include <stdbool.h>

#include "model/decoder_cache.h"
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
// The same for one padded source row (S ids, padding at the end): its own
// length counts, not the batch's, so that a sentence is translated the same
// whichever sentences share its batch.
int sentence_length_limit(const Model *m, const int32_t *row, int S);

// Row r of the last step's cross-attention, averaged over heads: (S).
void cross_attention_of_row(const DecoderCache *cache, const Model *m, int r, float *out);

// Greedy decoding of B padded sources (B, S) at once: each step every sentence
// takes its most probable next token.  out[b] receives sentence b's result.
int greedy_translate(const Model *m, const int32_t *src, int B, int S, Hypothesis *out,
                     Error *err);

// When a search gives up: a time of monotonic_seconds() (core/clock.h),
// looked at before each decoding step, or SEARCH_NO_DEADLINE.  A server
// bounds one request's work with it (infer knows nothing of requests); past
// it, a search fails with err saying so, and search_past_deadline is true.
#define SEARCH_NO_DEADLINE 0.0
bool search_past_deadline(double deadline);
int greedy_translate_until(const Model *m, const int32_t *src, int B, int S, double deadline,
                           Hypothesis *out, Error *err);

// Beam search with K beams per sentence, as an object that advances one
// target position per step: init, step until it returns 0 (all sentences
// done; -1 with err on failure), finish, free.
typedef struct BeamSearch BeamSearch;

int beam_search_init(BeamSearch **search, const Model *m, const int32_t *src, int B, int S, int K,
                     float length_penalty, int n_best, Error *err);
int beam_search_step(BeamSearch *search, Error *err);
// out[b * n_best + i] receives the i-th best of sentence b (n_best ≤ K), by
// score; a sentence with fewer finished translations gets empty ones scored -∞.
void beam_search_finish(BeamSearch *search, Hypothesis *out);
void beam_search_free(BeamSearch *search);

// All of the above in one call (until the deadline, as greedy_translate_until).
int beam_translate(const Model *m, const int32_t *src, int B, int S, int K, float length_penalty,
                   int n_best, Hypothesis *out, Error *err);
int beam_translate_until(const Model *m, const int32_t *src, int B, int S, int K, float length_penalty,
                         int n_best, double deadline, Hypothesis *out, Error *err);

#endif
