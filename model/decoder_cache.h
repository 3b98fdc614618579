// The decoder, one position at a time, for translation.
//
// Training runs the decoder over whole target sentences at once.  Translating,
// the target is not known: each new token depends on the ones before.  Rather
// than recompute every earlier position at every step, the keys and values of
// the decoder's self-attention are kept in a cache and only the new position is
// computed; the cross-attention's keys and values, which depend only on the
// source, are computed once per sentence.  A step therefore costs O(t), not
// O(t²).  The step runs the very decoder that training runs (transformer.c),
// told to read its keys and values from here.
#ifndef AZUL_DECODER_CACHE_H
#define AZUL_DECODER_CACHE_H

#include "model/transformer.h"

typedef struct {
    int rows;                    // sentences (× beams) decoded together
    int S;                       // source length
    int capacity;                // positions the self-attention cache holds
    int t;                       // positions decoded so far
    int n_layers;
    float **self_k, **self_v;    // [layer] (rows, capacity, C)
    float **cross_k, **cross_v;  // [layer] (rows, S, C)
    int32_t *src;                // (rows, S) the sources, for their padding mask
    float *reorder_buffer;       // (rows, capacity, C), made by the first reorder
    Workspace step;              // the activations of one position of every row
} DecoderCache;

// Starts decoding B padded sources (B, S), each repeated `copies` times
// (beams): rows = B × copies; at most `capacity` positions.  Runs the encoder
// on them, a few sentences at a time, and keeps only what decoding reads of
// its output: the cross-attention's keys and values.
int decoder_cache_start(DecoderCache *c, const Model *m, const int32_t *src, int B, int S,
                        int copies, int capacity, Error *err);
void decoder_cache_free(DecoderCache *c);

// Feeds tokens (rows) at position t and advances t; returns the next-token
// logits (rows, V), or NULL with err when the cache is full.
const float *decoder_cache_step(DecoderCache *c, const Model *m, const int32_t *tokens,
                                Error *err);

// The last step's cross-attention in the last layer, (rows, H, S): what
// alignments are read from.
AttentionView decoder_cache_cross_attention(const DecoderCache *c, const Model *m);

// Rearranges the rows: row r takes what row parents[r] held (beam search
// keeping the best continuations).  Only the positions filled so far move.
int decoder_cache_reorder(DecoderCache *c, const Model *m, const int *parents, Error *err);

#endif
