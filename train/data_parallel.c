// A training batch split into shards, one thread each (data_parallel.h).
#include "train/data_parallel.h"

#include <stdlib.h>
#include <string.h>

#include "core/special_tokens.h"
#include "model/threads.h"

// Below this width a model's products are too small to share between threads
// one at a time (measured on the toy preset, d_model 64: see the README's
// benchmark section); from it on, sharing each product is as fast and needs
// one workspace instead of one per thread.
enum { WIDEST_MODEL_TO_SPLIT = 128 };

int data_parallel_shards_for(const ModelConfig *c, int threads) {
    return threads > 1 && c->d_model <= WIDEST_MODEL_TO_SPLIT ? threads : 1;
}

int data_parallel_init(DataParallel *dp, const Model *m, int n_shards, Error *err) {
    memset(dp, 0, sizeof *dp);
    dp->n_shards = n_shards < 1 ? 1 : n_shards;
    dp->shards = calloc((size_t)dp->n_shards, sizeof *dp->shards);
    dp->shard_gradients = calloc((size_t)dp->n_shards, sizeof *dp->shard_gradients);
    if (!dp->shards || !dp->shard_gradients) {
        data_parallel_free(dp);
        return error_out_of_memory(err, "the training shards", (size_t)n_shards * sizeof *dp->shards);
    }
    for (int k = 0; k < dp->n_shards; k++) workspace_init(&dp->shards[k], WORKSPACE_TRAINING);
    for (int k = 1; k < dp->n_shards; k++) {
        if (gradients_build(&dp->shard_gradients[k - 1], m, err) < 0) {
            data_parallel_free(dp);
            return -1;
        }
    }
    return 0;
}

void data_parallel_free(DataParallel *dp) {
    for (int k = 0; dp->shards && k < dp->n_shards; k++) workspace_free(&dp->shards[k]);
    for (int k = 1; dp->shard_gradients && k < dp->n_shards; k++) {
        gradients_free(&dp->shard_gradients[k - 1]);
    }
    free(dp->shards);
    free(dp->shard_gradients);
    memset(dp, 0, sizeof *dp);
}

int data_parallel_reserve(DataParallel *dp, const Model *m, int B, int S, int T, Error *err) {
    const int rows = (B + dp->n_shards - 1) / dp->n_shards;  // a shard of any batch of up to B
    for (int k = 0; k < dp->n_shards; k++) {
        if (workspace_reserve(&dp->shards[k], m, rows, S, T, err) < 0) return -1;
    }
    return 0;
}

static int real_tokens(const int32_t *ids, int n) {
    int count = 0;
    for (int i = 0; ids && i < n; i++) count += ids[i] != TOKEN_PAD;
    return count;
}

// Row b's real source and target tokens (tgt_out may be NULL: source only).
static int row_tokens(const int32_t *src, const int32_t *tgt_out, int S, int T, int b) {
    return real_tokens(src + (size_t)b * S, S) + (tgt_out ? real_tokens(tgt_out + (size_t)b * T, T) : 0);
}

void data_parallel_split_rows(const int32_t *src, const int32_t *tgt_out, int B, int S, int T, int parts,
                              int part, int *first, int *rows) {
    // boundary k: the first row at which the rows before hold k/parts of
    // the tokens, but no earlier than row k and no later than row B - (parts - k),
    // so that no part goes empty while there are rows to give
    long total = 0;
    for (int b = 0; b < B; b++) total += row_tokens(src, tgt_out, S, T, b);
    int bounds[2];
    for (int side = 0; side < 2; side++) {
        const int k = part + side;
        int row = 0;
        long before = 0;
        while (row < B && before * parts < total * k) {
            before += row_tokens(src, tgt_out, S, T, row);
            row++;
        }
        if (B >= parts) {
            if (row < k) row = k;
            if (row > B - (parts - k)) row = B - (parts - k);
        }
        bounds[side] = k == parts ? B : row;
    }
    *first = bounds[0];
    *rows = bounds[1] - bounds[0];
}

int data_parallel_forward(DataParallel *dp, const Model *m, const int32_t *src,
                          const int32_t *tgt_in, const int32_t *tgt_out, int B, int S, int T,
                          bool training, uint64_t dropout_seed, Error *err) {
    const int n = dp->n_shards;
    if (B == 0) {  // another rank has all the rows
        for (int k = 0; k < n; k++) dp->shards[k].B = 0;
        dp->loss = dp->nll = 0.0;
        dp->loss_tokens = 0;
        return 0;
    }
    if (n == 1) {
        Workspace *ws = &dp->shards[0];
        ws->first_row = dp->row_offset;
        if (model_forward(m, ws, src, tgt_in, tgt_out, B, S, T, training, dropout_seed, err) < 0) {
            return -1;
        }
        dp->loss = ws->loss;
        dp->nll = ws->nll;
        dp->loss_tokens = ws->loss_tokens;
        return 0;
    }
    int failed = -1;  // the first shard that failed, if any
    Error shard_err;
    #pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int k = 0; k < n; k++) {
        Workspace *ws = &dp->shards[k];
        // the same split as between ranks: one process of n threads and n
        // ranks of one thread add the same gradients in the same order
        int b0, rows;
        data_parallel_split_rows(src, tgt_out, B, S, T, n, k, &b0, &rows);
        ws->first_row = dp->row_offset + b0;
        ws->B = 0;  // a shard without rows has nothing for the backward
        ws->loss = ws->nll = 0.0;
        ws->loss_tokens = 0;
        if (rows == 0) continue;
        Error e;
        if (model_forward(m, ws, src + (size_t)b0 * S, tgt_in + (size_t)b0 * T,
                          tgt_out ? tgt_out + (size_t)b0 * T : NULL, rows, S, T, training,
                          dropout_seed, &e) < 0) {
            #pragma omp critical(data_parallel_error)
            if (failed < 0 || k < failed) {
                failed = k;
                shard_err = e;
            }
        }
    }
    if (failed >= 0) {
        *err = shard_err;
        return -1;
    }
    // the batch's mean losses from the shards' means, in shard order
    double loss = 0.0, nll = 0.0;
    int tokens = 0;
    for (int k = 0; k < n; k++) {
        const Workspace *ws = &dp->shards[k];
        loss += ws->loss * ws->loss_tokens;
        nll += ws->nll * ws->loss_tokens;
        tokens += ws->loss_tokens;
    }
    dp->loss = tokens ? loss / tokens : 0.0;
    dp->nll = tokens ? nll / tokens : 0.0;
    dp->loss_tokens = tokens;
    return 0;
}

void data_parallel_backward(DataParallel *dp, const Model *m, Gradients *g) {
    const int n = dp->n_shards;
    if (n == 1) {
        if (dp->shards[0].B > 0) model_backward_shard(m, &dp->shards[0], g, dp->loss_tokens);
        return;
    }
    #pragma omp parallel num_threads(n)
    {
        // each shard's backward, then (after the barrier) each thread sums
        // its share of the parameters over the shards, always in shard order
        const int t = omp_get_thread_num(), threads = omp_get_num_threads();
        for (int k = t; k < n; k += threads) {
            if (dp->shards[k].B == 0) continue;
            model_backward_shard(m, &dp->shards[k], k == 0 ? g : &dp->shard_gradients[k - 1],
                                 dp->loss_tokens);
        }
        #pragma omp barrier
        const size_t begin = g->n * (size_t)t / (size_t)threads;
        const size_t end = g->n * (size_t)(t + 1) / (size_t)threads;
        for (int s = 1; s < n; s++) {
            float *restrict sum = g->grads, *restrict shard = dp->shard_gradients[s - 1].grads;
            #pragma omp simd
            for (size_t i = begin; i < end; i++) sum[i] += shard[i];
            memset(shard + begin, 0, (end - begin) * sizeof *shard);
        }
    }
}
