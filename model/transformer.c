// The encoder-decoder Transformer: the encoder and decoder stacks, the whole
// model's forward and backward pass, and the view into its attention.
#include "model/transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/sublayers.h"
#include "model/threads.h"
#include "model/workspace.h"

static const float LAYERNORM_EPS = MODEL_LAYERNORM_EPS;

// Dropout masks are told apart by a stream number per site, so that each
// site draws its own mask from the step's seed.

enum { STREAM_SRC_EMBED = 1, STREAM_TGT_EMBED = 2 };
static uint64_t stream_of(int decoder, int layer, int site) {
    return (uint64_t)(decoder + 1) << 40 | (uint64_t)layer << 8 | (uint64_t)site;
}
enum { SITE_SELF_WEIGHTS, SITE_SELF_RESIDUAL, SITE_CROSS_WEIGHTS, SITE_CROSS_RESIDUAL,
       SITE_FFN_RESIDUAL };


// ---------------------------------------------------------------- encoder

static const float *encoder_forward(Pass *p) {
    const ModelConfig *c = p->c;
    const int B = p->ws->B, S = p->ws->S, C = c->d_model, N = B * S;
    Activations *a = &p->ws->acts;
    embedding_forward(a->src_embedded, p->ws->src, p->w->src_embed, p->ws->positions, B, S, C, 0);
    dropout_forward(a->src_embedded, a->src_embedded, (size_t)N * C, p->dropout,
                    p->ws->dropout_seed, STREAM_SRC_EMBED, pass_dropout_first(p, (size_t)N * C));
    const float *x = a->src_embedded;
    for (int l = 0; l < c->n_encoder_layers; l++) {
        EncoderLayerActivations *e = &a->encoder[l];
        const EncoderLayerWeights *w = &p->w->encoder[l];
        // self-attention: every source position looks at every non-padding one
        AttentionShape s = attention_shape(p, S, S, p->ws->src_masked, false,
                                           stream_of(0, l, SITE_SELF_WEIGHTS));
        const float *in = residual_begin(p, &e->attn_res, &w->ln1, x, N);
        multi_head_forward(&e->self_attn, &w->self_attn, in, in, &s, NULL);
        x = residual_end(p, &e->attn_res, &w->ln1, e->self_attn.out, N,
                         stream_of(0, l, SITE_SELF_RESIDUAL));
        // position-wise feed-forward
        in = residual_begin(p, &e->ffn_res, &w->ln2, x, N);
        feed_forward_forward(&e->ffn, &w->ffn, in, N, C, c->d_ff);
        x = residual_end(p, &e->ffn_res, &w->ln2, e->ffn.out, N, stream_of(0, l, SITE_FFN_RESIDUAL));
    }
    if (c->pre_ln) {
        layernorm_forward(a->encoder_ln.out, a->encoder_ln.mean, a->encoder_ln.rstd, x,
                          p->w->encoder_ln.weight, p->w->encoder_ln.bias, N, C, LAYERNORM_EPS);
        x = a->encoder_ln.out;
    }
    return x;
}

// From dmemory, the gradient of the encoder's output (every cross-attention's
// share added up), down to the source embeddings.
static void encoder_backward(Pass *p, const float *dmemory) {
    const ModelConfig *c = p->c;
    const int B = p->ws->B, S = p->ws->S, C = c->d_model, N = B * S;
    const size_t n = (size_t)N * C;
    Activations *a = &p->ws->acts;
    GradientScratch *g = &p->ws->scratch;
    float *dy = g->dy;  // gradient of the current layer's output, then of its input
    memset(dy, 0, n * sizeof(float));
    if (c->pre_ln) {
        // forward: memory = LN(last layer's output)
        const float *last = a->encoder[c->n_encoder_layers - 1].ffn_res.output;
        layernorm_backward(dy, p->dw->encoder_ln.weight, p->dw->encoder_ln.bias, dmemory, last,
                           p->w->encoder_ln.weight, a->encoder_ln.mean, a->encoder_ln.rstd, N, C);
    } else {
        memcpy(dy, dmemory, n * sizeof(float));
    }
    for (int l = c->n_encoder_layers - 1; l >= 0; l--) {
        const EncoderLayerActivations *e = &a->encoder[l];
        const EncoderLayerWeights *w = &p->w->encoder[l];
        EncoderLayerWeights *dw = &p->dw->encoder[l];

        // feed-forward sublayer: dy → dmid
        residual_end_backward(p, &e->ffn_res, &w->ln2, &dw->ln2, g->dmid, dy, N,
                              stream_of(0, l, SITE_FFN_RESIDUAL));
        float *din = sublayer_input_gradient(p, g->dmid, N);
        const float *in = sublayer_input_again(p, &e->ffn_res, &w->ln2, &e->attn_res, &w->ln1, N);
        feed_forward_backward(p, &e->ffn, &w->ffn, &dw->ffn, din, g->dbranch, in, N, C, c->d_ff);
        residual_begin_backward(p, &e->ffn_res, &w->ln2, &dw->ln2, g->dmid, N);

        // self-attention sublayer: dmid → dy (now the gradient of the layer's input)
        residual_end_backward(p, &e->attn_res, &w->ln1, &dw->ln1, dy, g->dmid, N,
                              stream_of(0, l, SITE_SELF_RESIDUAL));
        din = sublayer_input_gradient(p, dy, N);
        const bool first = l == 0;
        in = sublayer_input_again(p, &e->attn_res, &w->ln1, first ? NULL : &a->encoder[l - 1].ffn_res,
                                  first ? NULL : &p->w->encoder[l - 1].ln2, N);
        multi_head_backward(p, &e->self_attn, &w->self_attn, &dw->self_attn, din, din, g->dbranch,
                            in, in);
        residual_begin_backward(p, &e->attn_res, &w->ln1, &dw->ln1, dy, N);
    }
    // forward: src_embedded = dropout(embedding · √C + positions)
    dropout_backward(dy, dy, n, p->dropout, p->ws->dropout_seed, STREAM_SRC_EMBED,
                     pass_dropout_first(p, n));
    embedding_backward(p->dw->src_embed, dy, p->ws->src, B, S, C);
}

// ---------------------------------------------------------------- decoder

// The decoder over T target positions: the whole target in training, or
// (with p->cache) the next position of every row while translating, its
// self-attention reading the earlier positions' keys and values from the
// cache and its cross-attention the source's.
static const float *decoder_forward(Pass *p, const float *memory) {
    const ModelConfig *c = p->c;
    const int B = p->ws->B, S = p->ws->S, T = p->ws->T, C = c->d_model, N = B * T;
    DecoderCache *cache = p->cache;
    const int first = cache ? cache->t : 0;  // the position of the first of the T
    Activations *a = &p->ws->acts;
    embedding_forward(a->tgt_embedded, p->ws->tgt_in, p->w->tgt_embed, p->ws->positions, B, T, C,
                      first);
    dropout_forward(a->tgt_embedded, a->tgt_embedded, (size_t)N * C, p->dropout,
                    p->ws->dropout_seed, STREAM_TGT_EMBED, pass_dropout_first(p, (size_t)N * C));
    const float *x = a->tgt_embedded;
    for (int l = 0; l < c->n_decoder_layers; l++) {
        DecoderLayerActivations *d = &a->decoder[l];
        const DecoderLayerWeights *w = &p->w->decoder[l];
        // masked (causal) self-attention: position t sees only positions ≤ t;
        // decoding, those are the cached ones and the new one
        AttentionShape s = attention_shape(p, T, first + T, cache ? NULL : p->ws->tgt_masked, true,
                                           stream_of(1, l, SITE_SELF_WEIGHTS));
        CachedKeys self = {cache ? cache->self_k[l] : NULL, cache ? cache->self_v[l] : NULL, first};
        if (cache) s.kv_rows = cache->capacity;
        const float *in = residual_begin(p, &d->self_res, &w->ln1, x, N);
        multi_head_forward(&d->self_attn, &w->self_attn, in, in, &s, cache ? &self : NULL);
        x = residual_end(p, &d->self_res, &w->ln1, d->self_attn.out, N,
                         stream_of(1, l, SITE_SELF_RESIDUAL));
        // encoder-decoder attention: queries from here, keys and values from the memory
        AttentionShape cs = attention_shape(p, T, S, p->ws->src_masked, false,
                                            stream_of(1, l, SITE_CROSS_WEIGHTS));
        in = residual_begin(p, &d->cross_res, &w->ln2, x, N);
        CachedKeys source = {cache ? cache->cross_k[l] : NULL, cache ? cache->cross_v[l] : NULL, 0};
        multi_head_forward(&d->cross_attn, &w->cross_attn, in, cache ? NULL : memory, &cs,
                           cache ? &source : NULL);
        x = residual_end(p, &d->cross_res, &w->ln2, d->cross_attn.out, N,
                         stream_of(1, l, SITE_CROSS_RESIDUAL));
        // position-wise feed-forward
        in = residual_begin(p, &d->ffn_res, &w->ln3, x, N);
        feed_forward_forward(&d->ffn, &w->ffn, in, N, C, c->d_ff);
        x = residual_end(p, &d->ffn_res, &w->ln3, d->ffn.out, N, stream_of(1, l, SITE_FFN_RESIDUAL));
    }
    if (c->pre_ln) {
        layernorm_forward(a->decoder_ln.out, a->decoder_ln.mean, a->decoder_ln.rstd, x,
                          p->w->decoder_ln.weight, p->w->decoder_ln.bias, N, C, LAYERNORM_EPS);
        x = a->decoder_ln.out;
    }
    return x;
}

// From ddecoded (in scratch.dy), the gradient of the decoder's output, down
// to the target embeddings; adds the cross-attentions' share to dmemory.
static void decoder_backward(Pass *p, float *dmemory) {
    const ModelConfig *c = p->c;
    const int B = p->ws->B, T = p->ws->T, C = c->d_model, N = B * T;
    const size_t n = (size_t)N * C;
    Activations *a = &p->ws->acts;
    GradientScratch *g = &p->ws->scratch;
    if (c->pre_ln) {
        // forward: decoded = LN(last layer's output)
        const float *last = a->decoder[c->n_decoder_layers - 1].ffn_res.output;
        memset(g->dmid, 0, n * sizeof(float));
        layernorm_backward(g->dmid, p->dw->decoder_ln.weight, p->dw->decoder_ln.bias, g->dy, last,
                           p->w->decoder_ln.weight, a->decoder_ln.mean, a->decoder_ln.rstd, N, C);
        memcpy(g->dy, g->dmid, n * sizeof(float));
    }
    for (int l = c->n_decoder_layers - 1; l >= 0; l--) {
        const DecoderLayerActivations *d = &a->decoder[l];
        const DecoderLayerWeights *w = &p->w->decoder[l];
        DecoderLayerWeights *dw = &p->dw->decoder[l];

        // feed-forward sublayer: dy → dmid
        residual_end_backward(p, &d->ffn_res, &w->ln3, &dw->ln3, g->dmid, g->dy, N,
                              stream_of(1, l, SITE_FFN_RESIDUAL));
        float *din = sublayer_input_gradient(p, g->dmid, N);
        const float *in = sublayer_input_again(p, &d->ffn_res, &w->ln3, &d->cross_res, &w->ln2, N);
        feed_forward_backward(p, &d->ffn, &w->ffn, &dw->ffn, din, g->dbranch, in, N, C, c->d_ff);
        residual_begin_backward(p, &d->ffn_res, &w->ln3, &dw->ln3, g->dmid, N);

        // cross-attention sublayer: dmid → dx, and into dmemory
        residual_end_backward(p, &d->cross_res, &w->ln2, &dw->ln2, g->dx, g->dmid, N,
                              stream_of(1, l, SITE_CROSS_RESIDUAL));
        din = sublayer_input_gradient(p, g->dx, N);
        in = sublayer_input_again(p, &d->cross_res, &w->ln2, &d->self_res, &w->ln1, N);
        multi_head_backward(p, &d->cross_attn, &w->cross_attn, &dw->cross_attn, din, dmemory,
                            g->dbranch, in, p->ws->acts.memory);
        residual_begin_backward(p, &d->cross_res, &w->ln2, &dw->ln2, g->dx, N);

        // causal self-attention sublayer: dx → dy (the gradient of the layer's input)
        residual_end_backward(p, &d->self_res, &w->ln1, &dw->ln1, g->dy, g->dx, N,
                              stream_of(1, l, SITE_SELF_RESIDUAL));
        din = sublayer_input_gradient(p, g->dy, N);
        const bool first = l == 0;
        in = sublayer_input_again(p, &d->self_res, &w->ln1, first ? NULL : &a->decoder[l - 1].ffn_res,
                                  first ? NULL : &p->w->decoder[l - 1].ln3, N);
        multi_head_backward(p, &d->self_attn, &w->self_attn, &dw->self_attn, din, din, g->dbranch,
                            in, in);
        residual_begin_backward(p, &d->self_res, &w->ln1, &dw->ln1, g->dy, N);
    }
    // forward: tgt_embedded = dropout(embedding · √C + positions)
    dropout_backward(g->dy, g->dy, n, p->dropout, p->ws->dropout_seed, STREAM_TGT_EMBED,
                     pass_dropout_first(p, n));
    embedding_backward(p->dw->tgt_embed, g->dy, p->ws->tgt_in, B, T, C);
}
// ---------------------------------------------------------------- the whole model

static Pass forward_pass(const Model *m, Workspace *ws, DecoderCache *cache) {
    Pass p = {&m->config, &m->w, ws, NULL, cache, ws->training ? m->config.dropout : 0.0f};
    return p;
}

// the generator: a linear map to the target vocabulary (paper §3.4)
static void generator_forward(Pass *p, const float *decoded) {
    const int N = p->ws->B * p->ws->T;
    matmul_forward(p->ws->acts.logits, decoded, p->w->out_w, p->w->out_b, N, p->c->d_model,
                   p->c->tgt_vocab);
}

int model_encode(const Model *m, Workspace *ws, const int32_t *src, int B, int S, Error *err) {
    int32_t *bos = malloc((size_t)B * sizeof *bos);  // a target of one <bos> per row, unused
    if (!bos) return error_out_of_memory(err, "encoding", (size_t)B * sizeof *bos);
    for (int b = 0; b < B; b++) bos[b] = TOKEN_BOS;
    WorkspaceShape shape = workspace_shape(B, S, 1);
    shape.decoder = false;
    int status = workspace_place(ws, m, &shape, src, bos, NULL, err);
    free(bos);
    if (status < 0) return -1;
    ws->training = false;
    ws->dropout_seed = 0;
    Pass p = forward_pass(m, ws, NULL);
    ws->acts.memory = encoder_forward(&p);
    return 0;
}

int model_forward(const Model *m, Workspace *ws, const int32_t *src, const int32_t *tgt_in,
                  const int32_t *tgt_out, int B, int S, int T, bool training,
                  uint64_t dropout_seed, Error *err) {
    const ModelConfig *c = &m->config;
    if (ws->use == WORKSPACE_DECODING && tgt_out) {
        return error_set(err, "a decoding workspace has no room for a loss: none can be computed");
    }
    threads_adapt_to_other_programs();  // for the forward and the backward after it
    WorkspaceShape shape = workspace_shape(B, S, T);
    if (workspace_place(ws, m, &shape, src, tgt_in, tgt_out, err) < 0) return -1;
    ws->training = training;
    ws->dropout_seed = dropout_seed;
    Pass p = forward_pass(m, ws, NULL);
    Activations *a = &ws->acts;
    a->memory = encoder_forward(&p);
    a->decoded = decoder_forward(&p, a->memory);
    generator_forward(&p, a->decoded);
    ws->loss = ws->nll = 0.0;
    ws->loss_tokens = 0;
    if (tgt_out) {
        ws->loss = cross_entropy_forward(a->log_z, a->logits, ws->tgt_out, B * T, c->tgt_vocab,
                                         c->label_smoothing, TOKEN_PAD, &ws->loss_tokens, &ws->nll);
    }
    return 0;
}

void model_backward(const Model *m, Workspace *ws, Gradients *grads) {
    model_backward_shard(m, ws, grads, ws->loss_tokens);
}

void model_backward_shard(const Model *m, Workspace *ws, Gradients *grads, int batch_tokens) {
    const ModelConfig *c = &m->config;
    const int B = ws->B, T = ws->T, C = c->d_model, V = c->tgt_vocab;
    Pass pass = forward_pass(m, ws, NULL);
    pass.dw = &grads->dw;
    Pass *p = &pass;
    Activations *a = &ws->acts;
    GradientScratch *g = &ws->scratch;
    // forward: loss = cross_entropy(softmax(logits), tgt_out); dlogits overwrite the logits
    cross_entropy_backward(a->logits, a->log_z, ws->tgt_out, B * T, V, c->label_smoothing,
                           TOKEN_PAD, batch_tokens);
    // forward: logits = decoded · W_outᵀ + b_out
    memset(g->dy, 0, (size_t)B * T * C * sizeof(float));
    matmul_backward(g->dy, p->dw->out_w, p->dw->out_b, a->logits, a->decoded, m->w.out_w, B * T, C, V);
    memset(g->dmemory, 0, (size_t)B * ws->S * C * sizeof(float));
    decoder_backward(p, g->dmemory);
    encoder_backward(p, g->dmemory);
}

// ---------------------------------------------------------------- decoding with a cache

const float *decoder_cache_step(DecoderCache *c, const Model *m, const int32_t *tokens,
                                Error *err) {
    if (c->t >= c->capacity) {
        error_set(err, "the decoder's cache is full (%d positions)", c->capacity);
        return NULL;
    }
    threads_adapt_to_other_programs();  // dozens of short regions per token
    Workspace *ws = &c->step;
    WorkspaceShape shape = {c->rows, c->S, 1, c->capacity, false, true, false};
    if (workspace_place(ws, m, &shape, c->src, tokens, NULL, err) < 0) return NULL;
    ws->training = false;
    Pass p = forward_pass(m, ws, c);
    ws->acts.decoded = decoder_forward(&p, NULL);
    generator_forward(&p, ws->acts.decoded);
    c->t++;
    return ws->acts.logits;
}

AttentionView decoder_cache_cross_attention(const DecoderCache *c, const Model *m) {
    const int last = m->config.n_decoder_layers - 1;
    AttentionView v = model_attention_view(&c->step, ATTENTION_CROSS, last);
    v.k = c->cross_k[last];
    v.v = c->cross_v[last];
    return v;
}

// ---------------------------------------------------------------- looking inside

AttentionView model_attention_view(const Workspace *ws, AttentionKind kind, int layer) {
    const AttentionActivations *a = kind == ATTENTION_ENCODER ? &ws->acts.encoder[layer].self_attn
                                    : kind == ATTENTION_DECODER ? &ws->acts.decoder[layer].self_attn
                                                                : &ws->acts.decoder[layer].cross_attn;
    AttentionView v = {a->shape, a->q, a->k, a->v, a->weights, a->context};
    return v;
}
