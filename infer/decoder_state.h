// The decoder, one position at a time, for translation.
//
// Training runs the decoder over whole target sentences at once.  Translating,
// the target is not known: each new token depends on the ones before.  Rather
// than recompute every earlier position at every step, the keys and values of
// the decoder's self-attention are kept in a cache and only the new position is
// computed; the cross-attention's keys and values, which depend only on the
// source, are computed once per sentence.  A step therefore costs O(t), not O(t²).
#ifndef AZUL_DECODER_STATE_H
#define AZUL_DECODER_STATE_H

#include "model/transformer.h"

typedef struct {
    Model *m;
    int rows;            // sentences (× beams) decoded together
    int S;               // source length
    int capacity;        // positions the self-attention cache holds
    int t;               // positions decoded so far
    uint8_t *src_masked; // (rows, S)
    float **self_k, **self_v;    // [layer] (rows, capacity, C)
    float **cross_k, **cross_v;  // [layer] (rows, S, C)
    float *cross_weights;        // (rows, H, S): last step's cross-attention, last layer
    // working space for one position
    float *x, *normed, *q, *kv_k, *kv_v, *context, *branch, *hidden;  // (rows, C) / (rows, F)
    float *mean, *rstd;          // (rows)
    float *weights, *dropped;    // (rows, H, max(capacity, S))
    float *logits;               // (rows, V)
    float *reorder_buffer;       // (rows, capacity, C)
} DecoderState;

// Starts decoding for the sources whose encoder output model_encode left in
// m (B rows), each repeated `copies` times (beams): rows = B × copies.
void decoder_state_init(DecoderState *d, Model *m, int copies, int capacity);
void decoder_state_free(DecoderState *d);

// Feeds tokens (rows) at position t; leaves the next-token logits in
// d->logits (rows, V) and advances t.
void decoder_state_step(DecoderState *d, const int32_t *tokens);

// Log-probabilities of the next token from d->logits, into log_probs (rows,
// V).  Tokens a translation may not contain (<pad>, <unk>, <bos>) get -∞.
void decoder_state_log_probs(const DecoderState *d, float *log_probs);

// The last step's cross-attention of row r, averaged over heads: (S).
void decoder_state_alignment(const DecoderState *d, int r, float *out);

// Rearranges the rows: row r takes what row parents[r] held (beam search
// keeping the best continuations).
void decoder_state_reorder(DecoderState *d, const int *parents);

#endif
