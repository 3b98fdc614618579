// What the ranks of an MPI job (train/world.h) compare before they exchange
// anything sized by their model or data.
//
// Why: every collective of a step assumes that every rank sends an array of
// the same length.  A rank started with another corpus learns other
// vocabularies, so its model, gradients and moments have another length;
// its first all-reduce (the timing run of --time-budget has one before any
// step) then ends inside MPI with "message truncated", or waits for bytes
// that never come.  One all-gather of a few numbers per rank, before any of
// that, lets every rank find the difference alike and say so.
#ifndef AZUL_RANK_AGREEMENT_H
#define AZUL_RANK_AGREEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    size_t parameters;      // the model's: the length of every array the ranks sum or send
    size_t training_pairs;  // the corpus's: its batches, hence the steps of an epoch
    long batch_tokens;      // --batch-tokens (0 while the recipe has not chosen it)
    uint64_t seed;          // which batches come in which order, and the dropout masks
    double time_budget;     // seconds, 0 for none: a budget starts with a timing run
} RankShape;

// Compares every rank's shape with rank 0's.  0 when they all agree; 1 with
// err naming the first rank that differs and both ranks' values, the same
// verdict and message on every rank, so that each can end by itself with no
// rank left waiting; -1 with err when MPI fails (on this rank alone).
int ranks_agree(const RankShape *mine, Error *err);

#endif
