// The building blocks of the network, each forward beside its backward.
//
// Conventions (as in llm.c): outputs first, then inputs, then sizes; a
// backward *accumulates* into its d-buffers (+=), so callers zero them once
// per step, except where it says it writes: relu's and dropout's backward
// write their result (the only writer of it, so nothing needs zeroing, and
// they may work in place); shapes are given as (B, T, C) = (batch, positions,
// channels).
// Each op lives in its own file: matmul.c, layernorm.c, relu.c, dropout.c,
// embedding.c, attention.c, cross_entropy.c.
#ifndef AZUL_OPS_H
#define AZUL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Element-wise work on fewer floats than this runs on one thread: starting a
// parallel region and waiting for it costs microseconds (far more when the
// other thread has been descheduled), more than such work itself.
#define PARALLEL_MIN_FLOATS ((size_t)1 << 15)

// ---------------------------------------------------------------- matmul.c
// out (N, OC) = inp (N, C) · weightᵀ + bias, weight (OC, C) as in torch.nn.Linear;
// bias may be NULL.
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC);
// dinp (N, C) += dout · weight;  dweight (OC, C) += doutᵀ · inp;  dbias (OC) += Σₙ dout.
// dinp and dbias may be NULL.
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC);

// ---------------------------------------------------------------- layernorm.c
// out (N, C) = (inp - mean) / sqrt(var + eps) · weight + bias, per row, with the
// biased variance, as torch.nn.LayerNorm; keeps mean (N) and rstd (N) for backward.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C, float eps);
// The forward's out again, bit for bit, from its inp, mean and rstd (a
// training workspace does not keep every LayerNorm's output).
void layernorm_apply(float *out, const float *inp, const float *weight, const float *bias,
                     const float *mean, const float *rstd, int N, int C);
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C);

// ---------------------------------------------------------------- relu.c
// out = max(0, inp); the backward needs only the output and writes dinp
// (which may be dout).
void relu_forward(float *out, const float *inp, size_t n);
void relu_backward(float *dinp, const float *dout, const float *out, size_t n);

// ---------------------------------------------------------------- dropout.c
#include "model/rng.h"
// Each element is kept with probability 1 - p and scaled by 1 / (1 - p).  The
// mask is a pure function of (seed, stream, index): the backward recomputes it
// rather than storing it.  p = 0 is the identity.  The backwards write their
// gradients (dinp may be dout).  Element i of the n has index first + i:
// first is where these n sit in the whole batch, so that a shard of a batch
// (data parallelism) draws exactly the mask the whole batch would.
static inline float dropout_scale(float p, uint64_t seed, uint64_t stream, size_t index) {
    return hash_uniform(seed, stream, index) >= p ? 1.0f / (1.0f - p) : 0.0f;
}
void dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                     uint64_t stream, size_t first);
void dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                      uint64_t stream, size_t first);
// The residual connection around a sublayer: out = residual + dropout(branch).
void residual_dropout_forward(float *out, const float *residual, const float *branch, size_t n,
                              float p, uint64_t seed, uint64_t stream, size_t first);
void residual_dropout_backward(float *dresidual, float *dbranch, const float *dout, size_t n,
                               float p, uint64_t seed, uint64_t stream, size_t first);

// ---------------------------------------------------------------- embedding.c
// The paper's sinusoidal positional encoding of one position, row (C):
// PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(pos / 10000^(2i/C)).
void positional_encoding(float *row, int position, int C);
// out (B, T, C) = table[tokens[b, t]] · sqrt(C) + positions[first_position + t]:
// positions (≥ first_position + T, C) holds the encodings of positions 0, 1, …,
// computed once (a workspace keeps them) rather than at every step.
void embedding_forward(float *out, const int32_t *tokens, const float *table,
                       const float *positions, int B, int T, int C, int first_position);
// dtable[tokens[b, t]] += dout[b, t] · sqrt(C); the positions add no parameters.
void embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int B, int T,
                        int C);

// ---------------------------------------------------------------- attention.c
// Multi-head scaled dot-product attention, the paper's
//     Attention(Q, K, V) = softmax(Q Kᵀ · scale) V
// for each of H heads, head h using channels [h·C/H, (h+1)·C/H) of q, k, v.
//   q (B, Tq, C); k, v (B, Tk, C)
//   key_masked (B, Tk): 1 where a key is padding and must not be attended to (or NULL)
//   weights (B, H, Tq, Tk): the softmax output, what the attention inspector shows;
//     masked entries are 0, and a row with nothing to attend to is all 0
//   dropout (training) multiplies the weights by a mask before the sum; the
//     mask is not stored but drawn again from (seed, stream) by the backward
//   out (B, Tq, C): the heads' weighted sums of values, side by side
//   causal: query i may not see later positions.  The Tq queries are the last
//     Tq of the Tk positions, so query i sits at position i + Tk - Tq: in
//     training (Tq = Tk) that is i, and a decoder fed one new position at a
//     time (Tq = 1) sees every key it has cached.
typedef struct {
    int B, Tq, Tk, C, H;
    float scale;               // 1/sqrt(C/H) in the Transformer
    int kv_rows;               // rows of k and v per batch entry, ≥ Tk (0: Tk); a decoder's
                               // key/value cache holds more rows than are filled yet
    const uint8_t *key_masked; // (B, kv_rows) or NULL
    bool causal;
    float dropout;
    uint64_t seed, stream;
    size_t dropout_first;      // the index of weight (0, 0, 0, 0) in the whole batch's
                               // (a shard's offset: see dropout_forward)
} AttentionShape;

static inline size_t attention_kv_rows(const AttentionShape *s) {
    return (size_t)(s->kv_rows ? s->kv_rows : s->Tk);
}

// Whether query i of batch entry b may attend to key j: the one masking rule,
// which the inspector reads too.
static inline bool attention_key_visible(const AttentionShape *s, int b, int i, int j) {
    if (s->causal && j > i + s->Tk - s->Tq) return false;
    return !(s->key_masked && s->key_masked[(size_t)b * attention_kv_rows(s) + j]);
}

void attention_forward(float *out, float *weights, const float *q, const float *k, const float *v,
                       const AttentionShape *s);
// out (B, Tq, C) = the heads' weighted sums of v, with the weights (and the
// dropout) of an attention_forward of the same shape: its out again, for a
// backward whose workspace did not keep it.
void attention_values(float *out, const float *weights, const float *v, const AttentionShape *s);
// dq, dk and dv are written, not added to; dweights_scratch (B, H, Tq, Tk) is
// working space.
void attention_backward(float *dq, float *dk, float *dv, float *dweights_scratch,
                        const float *dout, const float *q, const float *k, const float *v,
                        const float *weights, const AttentionShape *s);

// ---------------------------------------------------------------- cross_entropy.c
// Softmax cross-entropy with label smoothing ε, as torch.nn.CrossEntropyLoss(
// ignore_index=pad, label_smoothing=ε): the target distribution of a position
// is (1-ε)·one-hot(target) + ε/V, positions whose target is `ignore` count for
// nothing, and the loss is the mean over the positions that count.
//   logits (N, V) → log_z (N), each row's log Σⱼ e^logitⱼ; returns the mean loss.
// mean_nll (may be NULL) receives the plain mean -log p(target), without the
// smoothing: exp of it is the perplexity.
double cross_entropy_forward(float *log_z, const float *logits, const int32_t *targets, int N,
                             int V, float smoothing, int32_t ignore, int *counted,
                             double *mean_nll);
// logits (N, V) are replaced by dlogits = (softmax(logits) - target distribution)
// / counted, the probabilities recomputed from log_z: no buffer of them is kept.
void cross_entropy_backward(float *logits, const float *log_z, const int32_t *targets, int N,
                            int V, float smoothing, int32_t ignore, int counted);

#endif
