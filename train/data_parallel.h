// Data parallelism inside one process: a training batch split by rows into
// shards, each shard's forward and backward run from start to end by one
// thread, with a workspace and gradients of its own, and the shards'
// gradients then summed in a fixed order.
//
// Why: the other way to use several threads — every matrix product, softmax
// and LayerNorm shared between them — pays a fork and a join per operation.
// For a small model (the toy preset's products take a few microseconds) the
// threads spend more time meeting than multiplying; a shard per thread meets
// twice per step.  A large model's products are big enough to share, and one
// workspace for the whole batch then keeps memory lower, so the trainer
// splits only small models (data_parallel_shards_for).
//
// Shard k holds consecutive rows of the batch carrying about 1/n of its real
// tokens (data_parallel_split_rows, the rule the ranks of an MPI job split
// by too), padded to the whole batch's lengths: its dropout masks are the whole batch's (Workspace
// first_row), its loss gradient is divided by the whole batch's token count
// (model_backward_shard), so the summed gradients are the batch's gradients,
// up to the order of additions.  With one shard this is exactly model_forward
// and model_backward.
//
// The same holds one level up, between the processes of an MPI job
// (train/world.h): each rank takes consecutive rows of the global batch
// (data_parallel_split_rows), splits them among its threads, and divides by
// the global batch's token count once the ranks have summed their losses.
#ifndef AZUL_DATA_PARALLEL_H
#define AZUL_DATA_PARALLEL_H

#include "model/transformer.h"

typedef struct {
    int n_shards;
    Workspace *shards;           // [n_shards] WORKSPACE_TRAINING
    Gradients *shard_gradients;  // [n_shards - 1]: those of shards 1…; shard 0 adds to the caller's
    // where the forward's row 0 sits in the global batch (rows of other ranks
    // come before it): its dropout masks are those rows' masks; 0 alone
    int row_offset;
    // the last forward's whole batch, as model_forward reports one batch's;
    // the trainer of several ranks replaces them by the global batch's sums
    // before data_parallel_backward, whose divisor loss_tokens is
    double loss, nll;
    int loss_tokens;
} DataParallel;

// How many shards a training step of this model should use on this many
// threads: 1 (share every operation instead) unless the model is small.
int data_parallel_shards_for(const ModelConfig *c, int threads);

int data_parallel_init(DataParallel *dp, const Model *m, int n_shards, Error *err);
void data_parallel_free(DataParallel *dp);

// Makes room for batches up to (B, S, T) now (see workspace_reserve): a
// shard of ceil(B/n) rows; one that the token balance gives more grows then.
int data_parallel_reserve(DataParallel *dp, const Model *m, int B, int S, int T, Error *err);

// The rows [*first, *first + *rows) of a batch of B that part `part` of
// `parts` takes: consecutive rows holding as nearly as possible 1/parts of
// the batch's real (not padding) source and target tokens.  Every part gets
// at least one row while there are rows enough.
void data_parallel_split_rows(const int32_t *src, const int32_t *tgt_out, int B, int S, int T, int parts,
                              int part, int *first, int *rows);

// model_forward on the batch (B may be 0: nothing to do), one shard per thread; dp->loss, nll and
// loss_tokens are the whole batch's.  A shard's activations stay in its
// workspace for data_parallel_backward.
int data_parallel_forward(DataParallel *dp, const Model *m, const int32_t *src,
                          const int32_t *tgt_in, const int32_t *tgt_out, int B, int S, int T,
                          bool training, uint64_t dropout_seed, Error *err);

// The gradients of the last forward's mean loss, added to g (the shards'
// own gradients are left zero again).
void data_parallel_backward(DataParallel *dp, const Model *m, Gradients *g);

#endif
