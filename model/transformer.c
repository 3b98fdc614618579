#include "model/transformer.h"
#include "cli/report.h"  // TODO(layers): die() goes

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/rng.h"
#include "core/special_tokens.h"

static const float LAYERNORM_EPS = MODEL_LAYERNORM_EPS;

static void *checked_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) die("out of memory (%zu × %zu bytes)", n, size);
    return p;
}

// ================================================================ parameters

// Hands out consecutive slices of one parameter array and records each in the
// tensor table.  With base NULL it only counts.
typedef struct {
    float *base;
    size_t used;
    TensorInfo **table;  // NULL: do not record
    char prefix[48];
} ParameterCursor;

static float *take_parameter(ParameterCursor *pc, const char *name, int rows, int cols,
                             TensorInit init) {
    size_t size = (size_t)rows * (size_t)(cols ? cols : 1);
    if (pc->table) {
        TensorInfo info = {{0}, init, cols ? 2 : 1, {rows, cols}, pc->used, size};
        snprintf(info.name, sizeof info.name, "%s%s", pc->prefix, name);
        arrput(*pc->table, info);
    }
    float *p = pc->base ? pc->base + pc->used : NULL;
    pc->used += size;
    return p;
}

static void take_attention(ParameterCursor *pc, AttentionWeights *a, int C) {
    a->wq = take_parameter(pc, "wq", C, C, INIT_XAVIER);
    a->bq = take_parameter(pc, "bq", C, 0, INIT_ZEROS);
    a->wk = take_parameter(pc, "wk", C, C, INIT_XAVIER);
    a->bk = take_parameter(pc, "bk", C, 0, INIT_ZEROS);
    a->wv = take_parameter(pc, "wv", C, C, INIT_XAVIER);
    a->bv = take_parameter(pc, "bv", C, 0, INIT_ZEROS);
    a->wo = take_parameter(pc, "wo", C, C, INIT_XAVIER);
    a->bo = take_parameter(pc, "bo", C, 0, INIT_ZEROS);
}

static void take_layernorm(ParameterCursor *pc, LayerNormWeights *ln, const char *name, int C) {
    char full[32];
    snprintf(full, sizeof full, "%s.weight", name);
    ln->weight = take_parameter(pc, full, C, 0, INIT_ONES);
    snprintf(full, sizeof full, "%s.bias", name);
    ln->bias = take_parameter(pc, full, C, 0, INIT_ZEROS);
}

static void take_feed_forward(ParameterCursor *pc, FeedForwardWeights *f, int C, int F) {
    f->w1 = take_parameter(pc, "ffn.w1", F, C, INIT_XAVIER);
    f->b1 = take_parameter(pc, "ffn.b1", F, 0, INIT_ZEROS);
    f->w2 = take_parameter(pc, "ffn.w2", C, F, INIT_XAVIER);
    f->b2 = take_parameter(pc, "ffn.b2", C, 0, INIT_ZEROS);
}

static void set_prefix(ParameterCursor *pc, const char *format, int index, const char *part) {
    snprintf(pc->prefix, sizeof pc->prefix, format, index, part);
}

// The one place that decides the order and names of the parameters.
static size_t lay_out_weights(Weights *w, float *base, const ModelConfig *c, TensorInfo **table) {
    const int C = c->d_model, F = c->d_ff;
    ParameterCursor pc = {base, 0, table, ""};
    w->src_embed = take_parameter(&pc, "src_embed", c->src_vocab, C, INIT_EMBEDDING);
    w->tgt_embed = take_parameter(&pc, "tgt_embed", c->tgt_vocab, C, INIT_EMBEDDING);
    for (int l = 0; l < c->n_encoder_layers; l++) {
        EncoderLayerWeights *e = &w->encoder[l];
        set_prefix(&pc, "encoder.%d.%s", l, "self_attn.");
        take_attention(&pc, &e->self_attn, C);
        set_prefix(&pc, "encoder.%d.%s", l, "");
        take_layernorm(&pc, &e->ln1, "ln1", C);
        take_feed_forward(&pc, &e->ffn, C, F);
        take_layernorm(&pc, &e->ln2, "ln2", C);
    }
    for (int l = 0; l < c->n_decoder_layers; l++) {
        DecoderLayerWeights *d = &w->decoder[l];
        set_prefix(&pc, "decoder.%d.%s", l, "self_attn.");
        take_attention(&pc, &d->self_attn, C);
        set_prefix(&pc, "decoder.%d.%s", l, "");
        take_layernorm(&pc, &d->ln1, "ln1", C);
        set_prefix(&pc, "decoder.%d.%s", l, "cross_attn.");
        take_attention(&pc, &d->cross_attn, C);
        set_prefix(&pc, "decoder.%d.%s", l, "");
        take_layernorm(&pc, &d->ln2, "ln2", C);
        take_feed_forward(&pc, &d->ffn, C, F);
        take_layernorm(&pc, &d->ln3, "ln3", C);
    }
    pc.prefix[0] = '\0';
    if (c->pre_ln) {
        take_layernorm(&pc, &w->encoder_ln, "encoder.final_ln", C);
        take_layernorm(&pc, &w->decoder_ln, "decoder.final_ln", C);
    } else {
        memset(&w->encoder_ln, 0, sizeof w->encoder_ln);
        memset(&w->decoder_ln, 0, sizeof w->decoder_ln);
    }
    w->out_w = c->tie_output ? w->tgt_embed
                             : take_parameter(&pc, "out.weight", c->tgt_vocab, C, INIT_XAVIER);
    w->out_b = take_parameter(&pc, "out.bias", c->tgt_vocab, 0, INIT_ZEROS);
    return pc.used;
}

static void initialise_weights(Model *m, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (ptrdiff_t t = 0; t < arrlen(m->tensors); t++) {
        const TensorInfo *info = &m->tensors[t];
        float *p = m->params + info->offset;
        // Xavier/Glorot uniform keeps activations' variance steady through a
        // linear layer; embeddings get N(0, 1/C) so that after the ×√C they
        // have unit variance, like the positional encodings.
        float bound = sqrtf(6.0f / (float)(info->shape[0] + info->shape[1]));
        float sd = 1.0f / sqrtf((float)m->config.d_model);
        for (size_t i = 0; i < info->size; i++) {
            switch (info->init) {
            case INIT_XAVIER: p[i] = (2.0f * rng_uniform(&rng) - 1.0f) * bound; break;
            case INIT_EMBEDDING: p[i] = rng_normal(&rng) * sd; break;
            case INIT_ZEROS: p[i] = 0.0f; break;
            case INIT_ONES: p[i] = 1.0f; break;
            }
        }
    }
}

int model_build(Model *m, const ModelConfig *config, uint64_t seed, Error *err) {
    memset(m, 0, sizeof *m);
    if (model_config_check(config, err) < 0) return -1;
    m->config = *config;
    const ModelConfig *c = &m->config;
    m->w.encoder = checked_calloc((size_t)c->n_encoder_layers, sizeof *m->w.encoder);
    m->w.decoder = checked_calloc((size_t)c->n_decoder_layers, sizeof *m->w.decoder);
    m->dw.encoder = checked_calloc((size_t)c->n_encoder_layers, sizeof *m->dw.encoder);
    m->dw.decoder = checked_calloc((size_t)c->n_decoder_layers, sizeof *m->dw.decoder);

    m->n_params = lay_out_weights(&m->w, NULL, c, &m->tensors);
    m->params = checked_calloc(m->n_params, sizeof(float));
    m->grads = checked_calloc(m->n_params, sizeof(float));
    m->adam_m = checked_calloc(m->n_params, sizeof(float));
    m->adam_v = checked_calloc(m->n_params, sizeof(float));
    lay_out_weights(&m->w, m->params, c, NULL);
    lay_out_weights(&m->dw, m->grads, c, NULL);
    initialise_weights(m, seed);
    return 0;
}

size_t model_parameter_count(const ModelConfig *c) {
    const size_t C = (size_t)c->d_model, F = (size_t)c->d_ff;
    const size_t attention = 4 * (C * C + C), layernorm = 2 * C, ffn = F * C + F + C * F + C;
    return (size_t)c->src_vocab * C + (size_t)c->tgt_vocab * C +
           (size_t)c->n_encoder_layers * (attention + 2 * layernorm + ffn) +
           (size_t)c->n_decoder_layers * (2 * attention + 3 * layernorm + ffn) +
           (c->pre_ln ? 2 * layernorm : 0) + (c->tie_output ? 0 : (size_t)c->tgt_vocab * C) +
           (size_t)c->tgt_vocab;
}

const TensorInfo *model_find_tensor(const Model *m, const char *name) {
    for (ptrdiff_t t = 0; t < arrlen(m->tensors); t++) {
        if (strcmp(m->tensors[t].name, name) == 0) return &m->tensors[t];
    }
    return NULL;
}

void model_zero_grad(Model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

// ================================================================ activations

typedef struct {
    float *base;
    size_t used;
} ActivationCursor;

static float *take(ActivationCursor *ac, size_t n) {
    float *p = ac->base ? ac->base + ac->used : NULL;
    ac->used += n;
    return p;
}

static void take_attention_acts(ActivationCursor *ac, AttentionActivations *a, int B, int H,
                                int Tq, int Tk, int C) {
    a->q = take(ac, (size_t)B * Tq * C);
    a->k = take(ac, (size_t)B * Tk * C);
    a->v = take(ac, (size_t)B * Tk * C);
    a->weights = take(ac, (size_t)B * H * Tq * Tk);
    a->dropped = take(ac, (size_t)B * H * Tq * Tk);
    a->context = take(ac, (size_t)B * Tq * C);
    a->out = take(ac, (size_t)B * Tq * C);
}

static void take_layernorm_acts(ActivationCursor *ac, LayerNormActivations *ln, int N, int C) {
    ln->out = take(ac, (size_t)N * C);
    ln->mean = take(ac, (size_t)N);
    ln->rstd = take(ac, (size_t)N);
}

static void take_residual_acts(ActivationCursor *ac, ResidualActivations *r, int N, int C) {
    r->sum = take(ac, (size_t)N * C);
    take_layernorm_acts(ac, &r->ln, N, C);
}

static void take_ffn_acts(ActivationCursor *ac, FeedForwardActivations *f, int N, int C, int F) {
    f->hidden = take(ac, (size_t)N * F);
    f->out = take(ac, (size_t)N * C);
}

// Lays the activations and gradient scratch of a (B, S, T) batch over base
// and returns the floats needed.
static size_t lay_out_activations(Model *m, float *base, int B, int S, int T) {
    const ModelConfig *c = &m->config;
    const int C = c->d_model, F = c->d_ff, H = c->n_heads, V = c->tgt_vocab;
    const int Tmax = S > T ? S : T;
    ActivationCursor ac = {base, 0};
    Activations *a = &m->acts;
    a->src_embedded = take(&ac, (size_t)B * S * C);
    a->tgt_embedded = take(&ac, (size_t)B * T * C);
    for (int l = 0; l < c->n_encoder_layers; l++) {
        EncoderLayerActivations *e = &a->encoder[l];
        take_residual_acts(&ac, &e->attn_res, B * S, C);
        take_attention_acts(&ac, &e->self_attn, B, H, S, S, C);
        take_residual_acts(&ac, &e->ffn_res, B * S, C);
        take_ffn_acts(&ac, &e->ffn, B * S, C, F);
    }
    for (int l = 0; l < c->n_decoder_layers; l++) {
        DecoderLayerActivations *d = &a->decoder[l];
        take_residual_acts(&ac, &d->self_res, B * T, C);
        take_attention_acts(&ac, &d->self_attn, B, H, T, T, C);
        take_residual_acts(&ac, &d->cross_res, B * T, C);
        take_attention_acts(&ac, &d->cross_attn, B, H, T, S, C);
        take_residual_acts(&ac, &d->ffn_res, B * T, C);
        take_ffn_acts(&ac, &d->ffn, B * T, C, F);
    }
    take_layernorm_acts(&ac, &a->encoder_ln, B * S, C);
    take_layernorm_acts(&ac, &a->decoder_ln, B * T, C);
    a->logits = take(&ac, (size_t)B * T * V);
    a->probs = take(&ac, (size_t)B * T * V);

    GradientScratch *g = &m->scratch;
    size_t NC = (size_t)B * Tmax * C, NF = (size_t)B * Tmax * F;
    g->dx = take(&ac, NC);
    g->dy = take(&ac, NC);
    g->dmid = take(&ac, NC);
    g->dbranch = take(&ac, NC);
    g->dsum = take(&ac, NC);
    g->dnormed = take(&ac, NC);
    g->dcontext = take(&ac, NC);
    g->dq = take(&ac, NC);
    g->dk = take(&ac, NC);
    g->dv = take(&ac, NC);
    g->dhidden = take(&ac, NF);
    g->dpre = take(&ac, NF);
    g->dweights = take(&ac, (size_t)B * H * Tmax * Tmax);
    g->dmemory = take(&ac, (size_t)B * S * C);
    return ac.used;
}

// Makes the activation memory fit a (B, S, T) batch: allocated once for the
// largest shape so far, reused for every smaller one.
static void reserve_activations(Model *m, int B, int S, int T) {
    if (m->activation_memory && B <= m->capacity_B && S <= m->capacity_S && T <= m->capacity_T) {
        return;
    }
    if (B < m->capacity_B) B = m->capacity_B;
    if (S < m->capacity_S) S = m->capacity_S;
    if (T < m->capacity_T) T = m->capacity_T;
    free(m->activation_memory);
    free(m->batch_memory);
    if (!m->acts.encoder) {
        m->acts.encoder = checked_calloc((size_t)m->config.n_encoder_layers, sizeof *m->acts.encoder);
        m->acts.decoder = checked_calloc((size_t)m->config.n_decoder_layers, sizeof *m->acts.decoder);
    }
    size_t floats = lay_out_activations(m, NULL, B, S, T);
    m->activation_memory = checked_calloc(floats, sizeof(float));
    size_t ids = (size_t)B * S + 2 * (size_t)B * T;
    m->batch_memory = checked_calloc(ids * sizeof(int32_t) + (size_t)B * (S + T), 1);
    m->capacity_B = B;
    m->capacity_S = S;
    m->capacity_T = T;
}

// Points the activations at the memory for the batch's actual shape (the
// strides depend on it) and copies the batch in.
static void place_batch(Model *m, const int32_t *src, const int32_t *tgt_in,
                        const int32_t *tgt_out, int B, int S, int T) {
    lay_out_activations(m, m->activation_memory, B, S, T);
    m->B = B;
    m->S = S;
    m->T = T;
    int32_t *ids = m->batch_memory;
    m->src = ids;
    m->tgt_in = ids + (size_t)B * S;
    m->tgt_out = m->tgt_in + (size_t)B * T;
    m->src_masked = (uint8_t *)(m->tgt_out + (size_t)B * T);
    m->tgt_masked = m->src_masked + (size_t)B * S;
    memcpy(m->src, src, (size_t)B * S * sizeof *src);
    memcpy(m->tgt_in, tgt_in, (size_t)B * T * sizeof *tgt_in);
    if (tgt_out) memcpy(m->tgt_out, tgt_out, (size_t)B * T * sizeof *tgt_out);
    else for (size_t i = 0; i < (size_t)B * T; i++) m->tgt_out[i] = TOKEN_PAD;
    for (size_t i = 0; i < (size_t)B * S; i++) m->src_masked[i] = src[i] == TOKEN_PAD;
    for (size_t i = 0; i < (size_t)B * T; i++) m->tgt_masked[i] = tgt_in[i] == TOKEN_PAD;
}

void model_free(Model *m) {
    free(m->w.encoder);
    free(m->w.decoder);
    free(m->dw.encoder);
    free(m->dw.decoder);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    arrfree(m->tensors);
    free(m->activation_memory);
    free(m->batch_memory);
    free(m->acts.encoder);
    free(m->acts.decoder);
    memset(m, 0, sizeof *m);
}

// ================================================================ forward and backward
//
// Dropout masks are told apart by a stream number per site, so that each
// site draws its own mask from the step's seed.

enum { STREAM_SRC_EMBED = 1, STREAM_TGT_EMBED = 2 };
static uint64_t stream_of(int decoder, int layer, int site) {
    return (uint64_t)(decoder + 1) << 40 | (uint64_t)layer << 8 | (uint64_t)site;
}
enum { SITE_SELF_WEIGHTS, SITE_SELF_RESIDUAL, SITE_CROSS_WEIGHTS, SITE_CROSS_RESIDUAL,
       SITE_FFN_RESIDUAL };

static float active_dropout(const Model *m) { return m->training ? m->config.dropout : 0.0f; }

// ---------------------------------------------------------------- residual + LayerNorm

// Records x and returns what the sublayer reads: x itself (post-LN) or LN(x).
static const float *residual_begin(Model *m, ResidualActivations *r, const LayerNormWeights *ln,
                                   const float *x, int N) {
    r->input = x;
    r->sublayer_input = x;
    if (m->config.pre_ln) {
        layernorm_forward(r->ln.out, r->ln.mean, r->ln.rstd, x, ln->weight, ln->bias, N,
                          m->config.d_model, LAYERNORM_EPS);
        r->sublayer_input = r->ln.out;
    }
    return r->sublayer_input;
}

// sum = x + dropout(branch); post-LN normalises the sum, pre-LN passes it on.
static const float *residual_end(Model *m, ResidualActivations *r, const LayerNormWeights *ln,
                                 const float *branch, int N, uint64_t stream) {
    const int C = m->config.d_model;
    residual_dropout_forward(r->sum, r->input, branch, (size_t)N * C, active_dropout(m),
                             m->dropout_seed, stream);
    r->output = r->sum;
    if (!m->config.pre_ln) {
        layernorm_forward(r->ln.out, r->ln.mean, r->ln.rstd, r->sum, ln->weight, ln->bias, N, C,
                          LAYERNORM_EPS);
        r->output = r->ln.out;
    }
    return r->output;
}

// Mirror of residual_end: from dy, the gradient of r->output, adds the
// residual path into dx and leaves the branch's gradient in scratch.dbranch.
static void residual_end_backward(Model *m, const ResidualActivations *r,
                                  const LayerNormWeights *ln, LayerNormWeights *dln, float *dx,
                                  const float *dy, int N, uint64_t stream) {
    const int C = m->config.d_model;
    const size_t n = (size_t)N * C;
    GradientScratch *g = &m->scratch;
    memset(g->dbranch, 0, n * sizeof(float));
    const float *dsum = dy;
    if (!m->config.pre_ln) {
        // forward: output = LN(sum)
        memset(g->dsum, 0, n * sizeof(float));
        layernorm_backward(g->dsum, dln->weight, dln->bias, dy, r->sum, ln->weight, r->ln.mean,
                           r->ln.rstd, N, C);
        dsum = g->dsum;
    }
    // forward: sum = input + dropout(branch)
    residual_dropout_backward(dx, g->dbranch, dsum, n, active_dropout(m), m->dropout_seed, stream);
}

// Where the sublayer puts the gradient of what it read: straight into dx
// (post-LN: it read the input), or a buffer residual_begin_backward then
// passes back through the LayerNorm (pre-LN).
static float *sublayer_input_gradient(Model *m, float *dx, int N) {
    if (!m->config.pre_ln) return dx;
    memset(m->scratch.dnormed, 0, (size_t)N * m->config.d_model * sizeof(float));
    return m->scratch.dnormed;
}

static void residual_begin_backward(Model *m, const ResidualActivations *r,
                                    const LayerNormWeights *ln, LayerNormWeights *dln, float *dx,
                                    int N) {
    if (!m->config.pre_ln) return;
    // forward: sublayer_input = LN(input)
    layernorm_backward(dx, dln->weight, dln->bias, m->scratch.dnormed, r->input, ln->weight,
                       r->ln.mean, r->ln.rstd, N, m->config.d_model);
}

// ---------------------------------------------------------------- multi-head attention

static AttentionShape attention_shape(const Model *m, int Tq, int Tk, const uint8_t *key_masked,
                                      bool causal, uint64_t stream) {
    AttentionShape s = {m->B, Tq, Tk, m->config.d_model, m->config.n_heads,
                        1.0f / sqrtf((float)model_config_head_size(&m->config)), 0, key_masked,
                        causal, active_dropout(m), m->dropout_seed, stream};
    return s;
}

// out = MultiHead(queries from xq, keys and values from xkv) (paper §3.2.2)
static void multi_head_forward(AttentionActivations *a, const AttentionWeights *w,
                               const float *xq, const float *xkv, const AttentionShape *s) {
    const int C = s->C, Nq = s->B * s->Tq, Nk = s->B * s->Tk;
    matmul_forward(a->q, xq, w->wq, w->bq, Nq, C, C);
    matmul_forward(a->k, xkv, w->wk, w->bk, Nk, C, C);
    matmul_forward(a->v, xkv, w->wv, w->bv, Nk, C, C);
    attention_forward(a->context, a->weights, a->dropped, a->q, a->k, a->v, s);
    matmul_forward(a->out, a->context, w->wo, w->bo, Nq, C, C);
}

// dxq += ∂loss/∂xq and dxkv += ∂loss/∂xkv (the same buffer for self-attention),
// from dout = ∂loss/∂out.
static void multi_head_backward(Model *m, const AttentionActivations *a, const AttentionWeights *w,
                                AttentionWeights *dw, float *dxq, float *dxkv, const float *dout,
                                const float *xq, const float *xkv, const AttentionShape *s) {
    const int C = s->C, Nq = s->B * s->Tq, Nk = s->B * s->Tk;
    GradientScratch *g = &m->scratch;
    memset(g->dcontext, 0, (size_t)Nq * C * sizeof(float));
    memset(g->dq, 0, (size_t)Nq * C * sizeof(float));
    memset(g->dk, 0, (size_t)Nk * C * sizeof(float));
    memset(g->dv, 0, (size_t)Nk * C * sizeof(float));
    // forward: out = context · W_Oᵀ + b_O
    matmul_backward(g->dcontext, dw->wo, dw->bo, dout, a->context, w->wo, Nq, C, C);
    // forward: context = softmax(q kᵀ · scale) v, per head
    attention_backward(g->dq, g->dk, g->dv, g->dweights, g->dcontext, a->q, a->k, a->v,
                       a->weights, a->dropped, s);
    // forward: v = xkv W_Vᵀ + b_V,  k = xkv W_Kᵀ + b_K,  q = xq W_Qᵀ + b_Q
    matmul_backward(dxkv, dw->wv, dw->bv, g->dv, xkv, w->wv, Nk, C, C);
    matmul_backward(dxkv, dw->wk, dw->bk, g->dk, xkv, w->wk, Nk, C, C);
    matmul_backward(dxq, dw->wq, dw->bq, g->dq, xq, w->wq, Nq, C, C);
}

// ---------------------------------------------------------------- feed-forward

// out = W₂ ReLU(W₁ x + b₁) + b₂ (paper §3.3)
static void feed_forward_forward(FeedForwardActivations *f, const FeedForwardWeights *w,
                                 const float *x, int N, int C, int F) {
    matmul_forward(f->hidden, x, w->w1, w->b1, N, C, F);
    relu_forward(f->hidden, f->hidden, (size_t)N * F);
    matmul_forward(f->out, f->hidden, w->w2, w->b2, N, F, C);
}

static void feed_forward_backward(Model *m, const FeedForwardActivations *f,
                                  const FeedForwardWeights *w, FeedForwardWeights *dw, float *dx,
                                  const float *dout, const float *x, int N, int C, int F) {
    GradientScratch *g = &m->scratch;
    memset(g->dhidden, 0, (size_t)N * F * sizeof(float));
    memset(g->dpre, 0, (size_t)N * F * sizeof(float));
    // forward: out = hidden · W₂ᵀ + b₂
    matmul_backward(g->dhidden, dw->w2, dw->b2, dout, f->hidden, w->w2, N, F, C);
    // forward: hidden = ReLU(pre)
    relu_backward(g->dpre, g->dhidden, f->hidden, (size_t)N * F);
    // forward: pre = x · W₁ᵀ + b₁
    matmul_backward(dx, dw->w1, dw->b1, g->dpre, x, w->w1, N, C, F);
}

// ---------------------------------------------------------------- encoder

static const float *encoder_forward(Model *m) {
    const ModelConfig *c = &m->config;
    const int B = m->B, S = m->S, C = c->d_model, N = B * S;
    Activations *a = &m->acts;
    embedding_forward(a->src_embedded, m->src, m->w.src_embed, B, S, C, 0);
    dropout_forward(a->src_embedded, a->src_embedded, (size_t)N * C, active_dropout(m),
                    m->dropout_seed, STREAM_SRC_EMBED);
    const float *x = a->src_embedded;
    for (int l = 0; l < c->n_encoder_layers; l++) {
        EncoderLayerActivations *e = &a->encoder[l];
        const EncoderLayerWeights *w = &m->w.encoder[l];
        // self-attention: every source position looks at every non-padding one
        AttentionShape s = attention_shape(m, S, S, m->src_masked, false,
                                           stream_of(0, l, SITE_SELF_WEIGHTS));
        const float *in = residual_begin(m, &e->attn_res, &w->ln1, x, N);
        multi_head_forward(&e->self_attn, &w->self_attn, in, in, &s);
        x = residual_end(m, &e->attn_res, &w->ln1, e->self_attn.out, N,
                         stream_of(0, l, SITE_SELF_RESIDUAL));
        // position-wise feed-forward
        in = residual_begin(m, &e->ffn_res, &w->ln2, x, N);
        feed_forward_forward(&e->ffn, &w->ffn, in, N, C, c->d_ff);
        x = residual_end(m, &e->ffn_res, &w->ln2, e->ffn.out, N, stream_of(0, l, SITE_FFN_RESIDUAL));
    }
    if (c->pre_ln) {
        layernorm_forward(a->encoder_ln.out, a->encoder_ln.mean, a->encoder_ln.rstd, x,
                          m->w.encoder_ln.weight, m->w.encoder_ln.bias, N, C, LAYERNORM_EPS);
        x = a->encoder_ln.out;
    }
    return x;
}

// From dmemory, the gradient of the encoder's output (every cross-attention's
// share added up), down to the source embeddings.
static void encoder_backward(Model *m, const float *dmemory) {
    const ModelConfig *c = &m->config;
    const int B = m->B, S = m->S, C = c->d_model, N = B * S;
    const size_t n = (size_t)N * C;
    Activations *a = &m->acts;
    GradientScratch *g = &m->scratch;
    float *dy = g->dy;  // gradient of the current layer's output, then of its input
    memset(dy, 0, n * sizeof(float));
    if (c->pre_ln) {
        // forward: memory = LN(last layer's output)
        const float *last = a->encoder[c->n_encoder_layers - 1].ffn_res.output;
        layernorm_backward(dy, m->dw.encoder_ln.weight, m->dw.encoder_ln.bias, dmemory, last,
                           m->w.encoder_ln.weight, a->encoder_ln.mean, a->encoder_ln.rstd, N, C);
    } else {
        memcpy(dy, dmemory, n * sizeof(float));
    }
    for (int l = c->n_encoder_layers - 1; l >= 0; l--) {
        const EncoderLayerActivations *e = &a->encoder[l];
        const EncoderLayerWeights *w = &m->w.encoder[l];
        EncoderLayerWeights *dw = &m->dw.encoder[l];

        // feed-forward sublayer: dy → dmid
        memset(g->dmid, 0, n * sizeof(float));
        residual_end_backward(m, &e->ffn_res, &w->ln2, &dw->ln2, g->dmid, dy, N,
                              stream_of(0, l, SITE_FFN_RESIDUAL));
        float *din = sublayer_input_gradient(m, g->dmid, N);
        feed_forward_backward(m, &e->ffn, &w->ffn, &dw->ffn, din, g->dbranch,
                              e->ffn_res.sublayer_input, N, C, c->d_ff);
        residual_begin_backward(m, &e->ffn_res, &w->ln2, &dw->ln2, g->dmid, N);

        // self-attention sublayer: dmid → dy (now the gradient of the layer's input)
        memset(dy, 0, n * sizeof(float));
        residual_end_backward(m, &e->attn_res, &w->ln1, &dw->ln1, dy, g->dmid, N,
                              stream_of(0, l, SITE_SELF_RESIDUAL));
        din = sublayer_input_gradient(m, dy, N);
        AttentionShape s = attention_shape(m, S, S, m->src_masked, false,
                                           stream_of(0, l, SITE_SELF_WEIGHTS));
        const float *in = e->attn_res.sublayer_input;
        multi_head_backward(m, &e->self_attn, &w->self_attn, &dw->self_attn, din, din, g->dbranch,
                            in, in, &s);
        residual_begin_backward(m, &e->attn_res, &w->ln1, &dw->ln1, dy, N);
    }
    // forward: src_embedded = dropout(embedding · √C + positions)
    memset(g->dx, 0, n * sizeof(float));
    dropout_backward(g->dx, dy, n, active_dropout(m), m->dropout_seed, STREAM_SRC_EMBED);
    embedding_backward(m->dw.src_embed, g->dx, m->src, B, S, C);
}

// ---------------------------------------------------------------- decoder

static const float *decoder_forward(Model *m, const float *memory) {
    const ModelConfig *c = &m->config;
    const int B = m->B, S = m->S, T = m->T, C = c->d_model, N = B * T;
    Activations *a = &m->acts;
    embedding_forward(a->tgt_embedded, m->tgt_in, m->w.tgt_embed, B, T, C, 0);
    dropout_forward(a->tgt_embedded, a->tgt_embedded, (size_t)N * C, active_dropout(m),
                    m->dropout_seed, STREAM_TGT_EMBED);
    const float *x = a->tgt_embedded;
    for (int l = 0; l < c->n_decoder_layers; l++) {
        DecoderLayerActivations *d = &a->decoder[l];
        const DecoderLayerWeights *w = &m->w.decoder[l];
        // masked (causal) self-attention: position t sees only positions ≤ t
        AttentionShape s = attention_shape(m, T, T, m->tgt_masked, true,
                                           stream_of(1, l, SITE_SELF_WEIGHTS));
        const float *in = residual_begin(m, &d->self_res, &w->ln1, x, N);
        multi_head_forward(&d->self_attn, &w->self_attn, in, in, &s);
        x = residual_end(m, &d->self_res, &w->ln1, d->self_attn.out, N,
                         stream_of(1, l, SITE_SELF_RESIDUAL));
        // encoder-decoder attention: queries from here, keys and values from the memory
        AttentionShape cs = attention_shape(m, T, S, m->src_masked, false,
                                            stream_of(1, l, SITE_CROSS_WEIGHTS));
        in = residual_begin(m, &d->cross_res, &w->ln2, x, N);
        multi_head_forward(&d->cross_attn, &w->cross_attn, in, memory, &cs);
        x = residual_end(m, &d->cross_res, &w->ln2, d->cross_attn.out, N,
                         stream_of(1, l, SITE_CROSS_RESIDUAL));
        // position-wise feed-forward
        in = residual_begin(m, &d->ffn_res, &w->ln3, x, N);
        feed_forward_forward(&d->ffn, &w->ffn, in, N, C, c->d_ff);
        x = residual_end(m, &d->ffn_res, &w->ln3, d->ffn.out, N, stream_of(1, l, SITE_FFN_RESIDUAL));
    }
    if (c->pre_ln) {
        layernorm_forward(a->decoder_ln.out, a->decoder_ln.mean, a->decoder_ln.rstd, x,
                          m->w.decoder_ln.weight, m->w.decoder_ln.bias, N, C, LAYERNORM_EPS);
        x = a->decoder_ln.out;
    }
    return x;
}

// From ddecoded (in scratch.dy), the gradient of the decoder's output, down
// to the target embeddings; adds the cross-attentions' share to dmemory.
static void decoder_backward(Model *m, float *dmemory) {
    const ModelConfig *c = &m->config;
    const int B = m->B, S = m->S, T = m->T, C = c->d_model, N = B * T;
    const size_t n = (size_t)N * C;
    Activations *a = &m->acts;
    GradientScratch *g = &m->scratch;
    if (c->pre_ln) {
        // forward: decoded = LN(last layer's output)
        const float *last = a->decoder[c->n_decoder_layers - 1].ffn_res.output;
        memset(g->dmid, 0, n * sizeof(float));
        layernorm_backward(g->dmid, m->dw.decoder_ln.weight, m->dw.decoder_ln.bias, g->dy, last,
                           m->w.decoder_ln.weight, a->decoder_ln.mean, a->decoder_ln.rstd, N, C);
        memcpy(g->dy, g->dmid, n * sizeof(float));
    }
    for (int l = c->n_decoder_layers - 1; l >= 0; l--) {
        const DecoderLayerActivations *d = &a->decoder[l];
        const DecoderLayerWeights *w = &m->w.decoder[l];
        DecoderLayerWeights *dw = &m->dw.decoder[l];

        // feed-forward sublayer: dy → dmid
        memset(g->dmid, 0, n * sizeof(float));
        residual_end_backward(m, &d->ffn_res, &w->ln3, &dw->ln3, g->dmid, g->dy, N,
                              stream_of(1, l, SITE_FFN_RESIDUAL));
        float *din = sublayer_input_gradient(m, g->dmid, N);
        feed_forward_backward(m, &d->ffn, &w->ffn, &dw->ffn, din, g->dbranch,
                              d->ffn_res.sublayer_input, N, C, c->d_ff);
        residual_begin_backward(m, &d->ffn_res, &w->ln3, &dw->ln3, g->dmid, N);

        // cross-attention sublayer: dmid → dx, and into dmemory
        memset(g->dx, 0, n * sizeof(float));
        residual_end_backward(m, &d->cross_res, &w->ln2, &dw->ln2, g->dx, g->dmid, N,
                              stream_of(1, l, SITE_CROSS_RESIDUAL));
        din = sublayer_input_gradient(m, g->dx, N);
        AttentionShape cs = attention_shape(m, T, S, m->src_masked, false,
                                            stream_of(1, l, SITE_CROSS_WEIGHTS));
        multi_head_backward(m, &d->cross_attn, &w->cross_attn, &dw->cross_attn, din, dmemory,
                            g->dbranch, d->cross_res.sublayer_input, m->acts.memory, &cs);
        residual_begin_backward(m, &d->cross_res, &w->ln2, &dw->ln2, g->dx, N);

        // causal self-attention sublayer: dx → dy (the gradient of the layer's input)
        memset(g->dy, 0, n * sizeof(float));
        residual_end_backward(m, &d->self_res, &w->ln1, &dw->ln1, g->dy, g->dx, N,
                              stream_of(1, l, SITE_SELF_RESIDUAL));
        din = sublayer_input_gradient(m, g->dy, N);
        AttentionShape s = attention_shape(m, T, T, m->tgt_masked, true,
                                           stream_of(1, l, SITE_SELF_WEIGHTS));
        const float *in = d->self_res.sublayer_input;
        multi_head_backward(m, &d->self_attn, &w->self_attn, &dw->self_attn, din, din, g->dbranch,
                            in, in, &s);
        residual_begin_backward(m, &d->self_res, &w->ln1, &dw->ln1, g->dy, N);
    }
    // forward: tgt_embedded = dropout(embedding · √C + positions)
    memset(g->dx, 0, n * sizeof(float));
    dropout_backward(g->dx, g->dy, n, active_dropout(m), m->dropout_seed, STREAM_TGT_EMBED);
    embedding_backward(m->dw.tgt_embed, g->dx, m->tgt_in, B, T, C);
}

// ---------------------------------------------------------------- the whole model

// Checks a batch and places it in the activation memory.
static int prepare_batch(Model *m, const int32_t *src, const int32_t *tgt_in,
                         const int32_t *tgt_out, int B, int S, int T, bool training,
                         uint64_t dropout_seed, Error *err) {
    const ModelConfig *c = &m->config;
    if (B < 1 || S < 1 || T < 1) return error_set(err, "empty batch (%d × %d, %d)", B, S, T);
    if (S > c->max_len || T > c->max_len) {
        return error_set(err, "batch of length %d exceeds the model's max_len %d",
                         S > T ? S : T, c->max_len);
    }
    for (size_t i = 0; i < (size_t)B * S; i++) {
        if (src[i] < 0 || src[i] >= c->src_vocab) {
            return error_set(err, "source token id %d is outside the vocabulary (%d)", src[i],
                             c->src_vocab);
        }
    }
    for (size_t i = 0; i < (size_t)B * T; i++) {
        if (tgt_in[i] < 0 || tgt_in[i] >= c->tgt_vocab ||
            (tgt_out && (tgt_out[i] < 0 || tgt_out[i] >= c->tgt_vocab))) {
            return error_set(err, "target token id %d is outside the vocabulary (%d)",
                             tgt_out && (tgt_out[i] < 0 || tgt_out[i] >= c->tgt_vocab) ? tgt_out[i]
                                                                                     : tgt_in[i],
                             c->tgt_vocab);
        }
    }
    reserve_activations(m, B, S, T);
    place_batch(m, src, tgt_in, tgt_out, B, S, T);
    m->training = training;
    m->dropout_seed = dropout_seed;
    return 0;
}

int model_encode(Model *m, const int32_t *src, int B, int S, Error *err) {
    int32_t *bos = malloc((size_t)B * sizeof *bos);  // a target of one <bos> per row, unused
    if (!bos) die("out of memory");
    for (int b = 0; b < B; b++) bos[b] = TOKEN_BOS;
    int status = prepare_batch(m, src, bos, NULL, B, S, 1, false, 0, err);
    free(bos);
    if (status < 0) return -1;
    m->acts.memory = encoder_forward(m);
    return 0;
}

int model_forward(Model *m, const int32_t *src, const int32_t *tgt_in, const int32_t *tgt_out,
                  int B, int S, int T, bool training, uint64_t dropout_seed, Error *err) {
    const ModelConfig *c = &m->config;
    if (prepare_batch(m, src, tgt_in, tgt_out, B, S, T, training, dropout_seed, err) < 0) return -1;
    Activations *a = &m->acts;
    a->memory = encoder_forward(m);
    a->decoded = decoder_forward(m, a->memory);
    // the generator: a linear map to the target vocabulary (paper §3.4)
    matmul_forward(a->logits, a->decoded, m->w.out_w, m->w.out_b, B * T, c->d_model, c->tgt_vocab);
    m->loss = 0.0;
    m->loss_tokens = 0;
    if (tgt_out) {
        m->loss = cross_entropy_forward(a->probs, a->logits, m->tgt_out, B * T, c->tgt_vocab,
                                        c->label_smoothing, TOKEN_PAD, &m->loss_tokens);
    }
    return 0;
}

void model_backward(Model *m) {
    const ModelConfig *c = &m->config;
    const int B = m->B, T = m->T, C = c->d_model, V = c->tgt_vocab;
    Activations *a = &m->acts;
    GradientScratch *g = &m->scratch;
    // forward: loss = cross_entropy(softmax(logits), tgt_out); dlogits overwrite probs
    cross_entropy_backward(a->probs, a->probs, m->tgt_out, B * T, V, c->label_smoothing,
                           TOKEN_PAD, m->loss_tokens);
    // forward: logits = decoded · W_outᵀ + b_out
    memset(g->dy, 0, (size_t)B * T * C * sizeof(float));
    matmul_backward(g->dy, m->dw.out_w, m->dw.out_b, a->probs, a->decoded, m->w.out_w, B * T, C, V);
    memset(g->dmemory, 0, (size_t)B * m->S * C * sizeof(float));
    decoder_backward(m, g->dmemory);
    encoder_backward(m, g->dmemory);
}
