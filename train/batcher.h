// Batching by token count with length bucketing.
//
// Each epoch the pairs are shuffled (from the seed and the epoch number),
// then sorted by length, so that pairs of similar length share a batch and
// little compute goes to padding; batches are cut so that
// pairs × longest side ≤ max_tokens, and the batches are shuffled in turn.
// Everything follows from (seed, epoch): a resumed run sees the same batches.
#ifndef AZUL_BATCHER_H
#define AZUL_BATCHER_H

#include "core/error.h"
#include "train/dataset.h"

typedef struct {
    uint32_t first;  // into Batcher.order
    uint32_t count;
} BatchSpan;

typedef struct {
    uint32_t *order;     // stb_ds array: pair indices in batch order
    BatchSpan *batches;  // stb_ds array
    int max_rows, max_src, max_tgt;  // the largest batch shape of the epoch
} Batcher;

// Plans the batches of an epoch.  Fails only when memory runs out, and then
// leaves b as it was.
int batcher_plan_epoch(Batcher *b, const Dataset *d, uint64_t seed, long epoch, int max_tokens,
                       Error *err);
size_t batcher_count(const Batcher *b);
void batcher_free(Batcher *b);

// Pads batch k into src (B, S), tgt_in (B, T), tgt_out (B, T); returns B and
// sets S and T to the batch's longest source and target (<bos>/<eos> included).
int batcher_fill(const Batcher *b, const Dataset *d, size_t k, int32_t *src, int32_t *tgt_in,
                 int32_t *tgt_out, int *S, int *T);

// The same for any list of pair indices (validation uses it, unshuffled).
int batch_fill_pairs(const Dataset *d, const uint32_t *pairs, int count, int32_t *src,
                     int32_t *tgt_in, int32_t *tgt_out, int *S, int *T);

#endif
