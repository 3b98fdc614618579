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
    int rows;                    // rows decoded together (sentences, or their beams)
    int room;                    // rows allocated: rows may grow up to it
    int S;                       // source length
    int capacity;                // positions the self-attention cache holds
    int t;                       // positions decoded so far
    int n_layers;
    float **self_k, **self_v;    // [layer] (room, capacity, C)
    float **cross_k, **cross_v;  // [layer] (room, S, C)
    int32_t *src;                // (room, S) the sources, for their padding mask
    int *sentence;               // (room) which source the cross-attention rows hold (-1: none)
    int *moves;                  // (room) scratch of decoder_cache_keep
    unsigned char *stays;        // (room) scratch of decoder_cache_keep
    Workspace step;              // the activations of one position of every row
} DecoderCache;

// Starts decoding B padded sources (B, S), with room for `beams` rows per
// sentence (beam search; 1 otherwise) and at most `capacity` positions.  It
// starts with one row per sentence: row b translates source b.  Runs the
// encoder on them, a few sentences at a time, and keeps only what decoding
// reads of its output: the cross-attention's keys and values.
int decoder_cache_start(DecoderCache *c, const Model *m, const int32_t *src, int B, int S,
                        int beams, int capacity, Error *err);
void decoder_cache_free(DecoderCache *c);

// Feeds tokens (rows) at position t and advances t; returns the next-token
// logits (rows, V), or NULL with err when the cache is full.
const float *decoder_cache_step(DecoderCache *c, const Model *m, const int32_t *tokens,
                                Error *err);

// The last step's cross-attention in the last layer, (rows, H, S): what
// alignments are read from.
AttentionView decoder_cache_cross_attention(const DecoderCache *c, const Model *m);

// Keeps n continuations (n ≤ room): continuation i goes on from what row
// from[i] holds.  A row may go on several times (beam search keeping two
// extensions of one beam) or not at all (a finished sentence, a dropped
// beam): its row is then free for another.  Afterwards the cache has n rows
// and continuation i is row at[i].  A row's first continuation stays where it
// is, so that only the others move, and only the positions filled so far
// (and the source's keys and values when the row changes sentence); no row
// is read after it is overwritten.  The next step then runs on n rows.
void decoder_cache_keep(DecoderCache *c, const Model *m, const int *from, int n, int *at);

#endif
