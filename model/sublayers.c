// The three kinds of sublayer the encoder and decoder stack, each forward
// beside its backward: the residual connection with its LayerNorm,
// multi-head attention and the position-wise feed-forward network.
#include "model/sublayers.h"

#include <math.h>
#include <string.h>

static const float LAYERNORM_EPS = MODEL_LAYERNORM_EPS;

// ---------------------------------------------------------------- residual + LayerNorm

// Records x and returns what the sublayer reads: x itself (post-LN) or LN(x).
const float *residual_begin(Pass *p, ResidualActivations *r, const LayerNormWeights *ln,
                            const float *x, int N) {
    r->input = x;
    r->sublayer_input = x;
    if (p->c->pre_ln) {
        layernorm_forward(r->ln.out, r->ln.mean, r->ln.rstd, x, ln->weight, ln->bias, N,
                          p->c->d_model, LAYERNORM_EPS);
        r->sublayer_input = r->ln.out;
    }
    return r->sublayer_input;
}

// sum = x + dropout(branch); post-LN normalises the sum, pre-LN passes it on.
const float *residual_end(Pass *p, ResidualActivations *r, const LayerNormWeights *ln,
                          const float *branch, int N, uint64_t stream) {
    const int C = p->c->d_model;
    residual_dropout_forward(r->sum, r->input, branch, (size_t)N * C, p->dropout,
                             p->ws->dropout_seed, stream, pass_dropout_first(p, (size_t)N * C));
    r->output = r->sum;
    if (!p->c->pre_ln) {
        layernorm_forward(r->ln.out, r->ln.mean, r->ln.rstd, r->sum, ln->weight, ln->bias, N, C,
                          LAYERNORM_EPS);
        r->output = r->ln.out;
    }
    return r->output;
}

// Mirror of residual_end: from dy, the gradient of r->output, writes the
// residual path's gradient into dx and the branch's into scratch.dbranch.
void residual_end_backward(Pass *p, const ResidualActivations *r,
                           const LayerNormWeights *ln, LayerNormWeights *dln, float *dx,
                           const float *dy, int N, uint64_t stream) {
    const int C = p->c->d_model;
    const size_t n = (size_t)N * C;
    GradientScratch *g = &p->ws->scratch;
    const float *dsum = dy;
    if (!p->c->pre_ln) {
        // forward: output = LN(sum)
        memset(g->dsum, 0, n * sizeof(float));
        layernorm_backward(g->dsum, dln->weight, dln->bias, dy, r->sum, ln->weight, r->ln.mean,
                           r->ln.rstd, N, C);
        dsum = g->dsum;
    }
    // forward: sum = input + dropout(branch)
    residual_dropout_backward(dx, g->dbranch, dsum, n, p->dropout, p->ws->dropout_seed, stream,
                              pass_dropout_first(p, n));
}

// Where the sublayer puts the gradient of what it read: straight into dx
// (post-LN: it read the input), or a buffer residual_begin_backward then
// passes back through the LayerNorm (pre-LN).
float *sublayer_input_gradient(Pass *p, float *dx, int N) {
    if (!p->c->pre_ln) return dx;
    memset(p->ws->scratch.dnormed, 0, (size_t)N * p->c->d_model * sizeof(float));
    return p->ws->scratch.dnormed;
}

const float *sublayer_input_again(Pass *p, const ResidualActivations *r, const LayerNormWeights *ln,
                                  const ResidualActivations *prev, const LayerNormWeights *prev_ln,
                                  int N) {
    float *normed = p->ws->scratch.normed;
    if (p->c->pre_ln) {
        layernorm_apply(normed, r->input, ln->weight, ln->bias, r->ln.mean, r->ln.rstd, N,
                        p->c->d_model);
        return normed;
    }
    if (!prev) return r->input;
    layernorm_apply(normed, prev->sum, prev_ln->weight, prev_ln->bias, prev->ln.mean,
                    prev->ln.rstd, N, p->c->d_model);
    return normed;
}

void residual_begin_backward(Pass *p, const ResidualActivations *r,
                             const LayerNormWeights *ln, LayerNormWeights *dln, float *dx,
                             int N) {
    if (!p->c->pre_ln) return;
    // forward: sublayer_input = LN(input)
    layernorm_backward(dx, dln->weight, dln->bias, p->ws->scratch.dnormed, r->input, ln->weight,
                       r->ln.mean, r->ln.rstd, N, p->c->d_model);
}

// ---------------------------------------------------------------- multi-head attention

AttentionShape attention_shape(const Pass *p, int Tq, int Tk, const uint8_t *key_masked,
                               bool causal, uint64_t stream) {
    AttentionShape s = {p->ws->B, Tq, Tk, p->c->d_model, p->c->n_heads,
                        1.0f / sqrtf((float)model_config_head_size(p->c)), 0, key_masked,
                        causal, p->dropout, p->ws->dropout_seed, stream,
                        (size_t)p->ws->first_row * (size_t)p->c->n_heads * (size_t)Tq * (size_t)Tk};
    return s;
}

void project_keys_values(float *k, float *v, const AttentionWeights *w, const float *x, int N,
                         int C) {
    matmul_forward(k, x, w->wk, w->bk, N, C, C);
    matmul_forward(v, x, w->wv, w->bv, N, C, C);
}

// out = MultiHead(queries from xq, keys and values from xkv) (paper §3.2.2).
// With a cache, the keys and values attended to are the cache's: those
// projected from xkv (if any) are first appended to it at row cached->first.
void multi_head_forward(AttentionActivations *a, const AttentionWeights *w, const float *xq,
                        const float *xkv, const AttentionShape *s, const CachedKeys *cached) {
    const int C = s->C, Nq = s->B * s->Tq;
    a->shape = *s;
    matmul_forward(a->q, xq, w->wq, w->bq, Nq, C, C);
    const float *k = a->k, *v = a->v;
    if (!cached) {
        project_keys_values(a->k, a->v, w, xkv, s->B * s->Tk, C);
    } else {
        if (xkv) {
            project_keys_values(a->k, a->v, w, xkv, Nq, C);
            const size_t rows = attention_kv_rows(s), row_bytes = (size_t)s->Tq * C * sizeof(float);
            for (int b = 0; b < s->B; b++) {
                size_t at = ((size_t)b * rows + (size_t)cached->first) * C;
                memcpy(cached->k + at, a->k + (size_t)b * s->Tq * C, row_bytes);
                memcpy(cached->v + at, a->v + (size_t)b * s->Tq * C, row_bytes);
            }
        }
        k = cached->k;
        v = cached->v;
    }
    attention_forward(a->context, a->weights, a->q, k, v, s);
    matmul_forward(a->out, a->context, w->wo, w->bo, Nq, C, C);
}

// dxq += ∂loss/∂xq and dxkv += ∂loss/∂xkv (the same buffer for self-attention),
// from dout = ∂loss/∂out.
void multi_head_backward(Pass *p, const AttentionActivations *a, const AttentionWeights *w,
                         AttentionWeights *dw, float *dxq, float *dxkv, const float *dout,
                         const float *xq, const float *xkv) {
    const AttentionShape *s = &a->shape;  // sizes, masks and dropout as the forward ran
    const int C = s->C, Nq = s->B * s->Tq, Nk = s->B * s->Tk;
    GradientScratch *g = &p->ws->scratch;
    // A training workspace does not keep the context (all layers share one
    // buffer for it): it is computed again, into dq, which is free until
    // attention_backward writes it.  The same code in the same order gives
    // the same floats.
    float *context = g->dq;
    attention_values(context, a->weights, a->v, s);
    memset(g->dcontext, 0, (size_t)Nq * C * sizeof(float));
    // forward: out = context · W_Oᵀ + b_O
    matmul_backward(g->dcontext, dw->wo, dw->bo, dout, context, w->wo, Nq, C, C);
    // forward: context = softmax(q kᵀ · scale) v, per head
    attention_backward(g->dq, g->dk, g->dv, g->dweights, g->dcontext, a->q, a->k, a->v,
                       a->weights, s);
    // forward: v = xkv W_Vᵀ + b_V,  k = xkv W_Kᵀ + b_K,  q = xq W_Qᵀ + b_Q
    matmul_backward(dxkv, dw->wv, dw->bv, g->dv, xkv, w->wv, Nk, C, C);
    matmul_backward(dxkv, dw->wk, dw->bk, g->dk, xkv, w->wk, Nk, C, C);
    matmul_backward(dxq, dw->wq, dw->bq, g->dq, xq, w->wq, Nq, C, C);
}

// ---------------------------------------------------------------- feed-forward

// out = W₂ ReLU(W₁ x + b₁) + b₂ (paper §3.3)
void feed_forward_forward(FeedForwardActivations *f, const FeedForwardWeights *w,
                          const float *x, int N, int C, int F) {
    matmul_forward(f->hidden, x, w->w1, w->b1, N, C, F);
    relu_forward(f->hidden, f->hidden, (size_t)N * F);
    matmul_forward(f->out, f->hidden, w->w2, w->b2, N, F, C);
}

void feed_forward_backward(Pass *p, const FeedForwardActivations *f,
                           const FeedForwardWeights *w, FeedForwardWeights *dw, float *dx,
                           const float *dout, const float *x, int N, int C, int F) {
    GradientScratch *g = &p->ws->scratch;
    memset(g->dhidden, 0, (size_t)N * F * sizeof(float));
    // forward: out = hidden · W₂ᵀ + b₂
    matmul_backward(g->dhidden, dw->w2, dw->b2, dout, f->hidden, w->w2, N, F, C);
    // forward: hidden = ReLU(pre); the gradient of pre replaces that of hidden
    relu_backward(g->dhidden, g->dhidden, f->hidden, (size_t)N * F);
    // forward: pre = x · W₁ᵀ + b₁
    matmul_backward(dx, dw->w1, dw->b1, g->dhidden, x, w->w1, N, C, F);
}

