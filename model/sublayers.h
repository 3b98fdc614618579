// Inside the model: the sublayers the encoder and decoder stacks are made of,
// and what a pass through them works with.  Only model/ includes this.
#ifndef AZUL_SUBLAYERS_H
#define AZUL_SUBLAYERS_H

#include "model/decoder_cache.h"
#include "model/transformer.h"

// One forward (and, training, backward) pass: the weights it reads, the
// workspace it writes, the gradients it adds to, the cache it decodes with.
typedef struct {
    const ModelConfig *c;
    const Weights *w;
    Workspace *ws;
    Weights *dw;          // backward only
    DecoderCache *cache;  // decoding one position at a time only
    float dropout;        // the rate in force: the config's when training, else 0
} Pass;

// Where n floats of this pass's batch (B equal rows of n / B) start in the
// whole batch, for dropout's masks: past the rows of the shards before this
// one (ws->first_row; 0 when the batch is not split).
static inline size_t pass_dropout_first(const Pass *p, size_t n) {
    return (size_t)p->ws->first_row * (n / (size_t)p->ws->B);
}

// ---------------------------------------------------------------- residual + LayerNorm
// A sublayer F in its residual connection (see ResidualActivations):
// residual_begin records x and returns what F reads (x, or LN(x) in pre-LN);
// residual_end forms x + dropout(F) and returns the sublayer's output.
const float *residual_begin(Pass *p, ResidualActivations *r, const LayerNormWeights *ln,
                            const float *x, int N);
const float *residual_end(Pass *p, ResidualActivations *r, const LayerNormWeights *ln,
                          const float *branch, int N, uint64_t stream);
// From dy, the gradient of the output: writes the residual path's gradient
// into dx (no need to zero it first) and leaves the branch's in scratch.dbranch.
void residual_end_backward(Pass *p, const ResidualActivations *r, const LayerNormWeights *ln,
                           LayerNormWeights *dln, float *dx, const float *dy, int N,
                           uint64_t stream);
// Where F's backward puts the gradient of what F read (then passed on by
// residual_begin_backward).
float *sublayer_input_gradient(Pass *p, float *dx, int N);
// What F read, again, for its backward (a training workspace keeps only one
// LayerNorm output at a time): pre-LN LN(r->input) with r's statistics;
// post-LN the previous residual's output LN(prev->sum), or r->input itself
// when no LayerNorm made it (prev NULL: the embeddings).  In scratch.normed.
const float *sublayer_input_again(Pass *p, const ResidualActivations *r, const LayerNormWeights *ln,
                                  const ResidualActivations *prev, const LayerNormWeights *prev_ln,
                                  int N);
void residual_begin_backward(Pass *p, const ResidualActivations *r, const LayerNormWeights *ln,
                             LayerNormWeights *dln, float *dx, int N);

// ---------------------------------------------------------------- multi-head attention

AttentionShape attention_shape(const Pass *p, int Tq, int Tk, const uint8_t *key_masked,
                               bool causal, uint64_t stream);

// Keys and values kept from earlier steps: k, v (B, kv_rows, C); new ones go
// at row `first`.
typedef struct {
    float *k, *v;
    int first;
} CachedKeys;

// k, v (N, C) = x W_Kᵀ + b_K, x W_Vᵀ + b_V
void project_keys_values(float *k, float *v, const AttentionWeights *w, const float *x, int N,
                         int C);
void multi_head_forward(AttentionActivations *a, const AttentionWeights *w, const float *xq,
                        const float *xkv, const AttentionShape *s, const CachedKeys *cached);
// dxq += ∂loss/∂xq and dxkv += ∂loss/∂xkv (the same buffer for self-attention),
// with the shape the forward recorded in a.
void multi_head_backward(Pass *p, const AttentionActivations *a, const AttentionWeights *w,
                         AttentionWeights *dw, float *dxq, float *dxkv, const float *dout,
                         const float *xq, const float *xkv);

// ---------------------------------------------------------------- feed-forward

void feed_forward_forward(FeedForwardActivations *f, const FeedForwardWeights *w, const float *x,
                          int N, int C, int F);
void feed_forward_backward(Pass *p, const FeedForwardActivations *f, const FeedForwardWeights *w,
                           FeedForwardWeights *dw, float *dx, const float *dout, const float *x,
                           int N, int C, int F);

#endif
