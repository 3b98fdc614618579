#include "infer/decoder_state.h"
#include "cli/report.h"  // TODO(layers): die() goes

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/special_tokens.h"

static float *alloc_floats(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) die("out of memory (%zu floats)", n);
    return p;
}

void decoder_state_init(DecoderState *d, Model *m, int copies, int capacity) {
    memset(d, 0, sizeof *d);
    const ModelConfig *c = &m->config;
    const int B = m->B, S = m->S, C = c->d_model, L = c->n_decoder_layers, H = c->n_heads;
    const int rows = B * copies, widest = capacity > S ? capacity : S;
    d->m = m;
    d->rows = rows;
    d->S = S;
    d->capacity = capacity;
    d->src_masked = malloc((size_t)rows * S);
    for (int r = 0; r < rows; r++) memcpy(d->src_masked + (size_t)r * S, m->src_masked + (size_t)(r / copies) * S, (size_t)S);
    d->self_k = calloc((size_t)L, sizeof *d->self_k);
    d->self_v = calloc((size_t)L, sizeof *d->self_v);
    d->cross_k = calloc((size_t)L, sizeof *d->cross_k);
    d->cross_v = calloc((size_t)L, sizeof *d->cross_v);
    float *k = alloc_floats((size_t)B * S * C), *v = alloc_floats((size_t)B * S * C);
    for (int l = 0; l < L; l++) {
        d->self_k[l] = alloc_floats((size_t)rows * capacity * C);
        d->self_v[l] = alloc_floats((size_t)rows * capacity * C);
        d->cross_k[l] = alloc_floats((size_t)rows * S * C);
        d->cross_v[l] = alloc_floats((size_t)rows * S * C);
        // The cross-attention's keys and values depend only on the source:
        // computed once here, then copied to each beam of the sentence.
        const AttentionWeights *w = &m->w.decoder[l].cross_attn;
        matmul_forward(k, m->acts.memory, w->wk, w->bk, B * S, C, C);
        matmul_forward(v, m->acts.memory, w->wv, w->bv, B * S, C, C);
        for (int r = 0; r < rows; r++) {
            memcpy(d->cross_k[l] + (size_t)r * S * C, k + (size_t)(r / copies) * S * C, (size_t)S * C * sizeof(float));
            memcpy(d->cross_v[l] + (size_t)r * S * C, v + (size_t)(r / copies) * S * C, (size_t)S * C * sizeof(float));
        }
    }
    free(k);
    free(v);
    size_t rc = (size_t)rows * C;
    d->x = alloc_floats(rc);
    d->normed = alloc_floats(rc);
    d->q = alloc_floats(rc);
    d->kv_k = alloc_floats(rc);
    d->kv_v = alloc_floats(rc);
    d->context = alloc_floats(rc);
    d->branch = alloc_floats(rc);
    d->hidden = alloc_floats((size_t)rows * c->d_ff);
    d->mean = alloc_floats((size_t)rows);
    d->rstd = alloc_floats((size_t)rows);
    d->weights = alloc_floats((size_t)rows * H * widest);
    d->dropped = alloc_floats((size_t)rows * H * widest);
    d->cross_weights = alloc_floats((size_t)rows * H * S);
    d->logits = alloc_floats((size_t)rows * c->tgt_vocab);
    d->reorder_buffer = alloc_floats((size_t)rows * capacity * C);
}

void decoder_state_free(DecoderState *d) {
    if (!d->m) return;
    for (int l = 0; l < d->m->config.n_decoder_layers; l++) {
        free(d->self_k[l]);
        free(d->self_v[l]);
        free(d->cross_k[l]);
        free(d->cross_v[l]);
    }
    free(d->self_k); free(d->self_v); free(d->cross_k); free(d->cross_v);
    free(d->src_masked);
    free(d->x); free(d->normed); free(d->q); free(d->kv_k); free(d->kv_v); free(d->context);
    free(d->branch); free(d->hidden); free(d->mean); free(d->rstd); free(d->weights);
    free(d->dropped); free(d->cross_weights); free(d->logits); free(d->reorder_buffer);
    memset(d, 0, sizeof *d);
}

// The sublayer's input: x itself (post-LN) or LN(x) (pre-LN).
static const float *sublayer_input(DecoderState *d, const LayerNormWeights *ln) {
    if (!d->m->config.pre_ln) return d->x;
    layernorm_forward(d->normed, d->mean, d->rstd, d->x, ln->weight, ln->bias, d->rows,
                      d->m->config.d_model, MODEL_LAYERNORM_EPS);
    return d->normed;
}

// x = LN(x + branch) (post-LN) or x + branch (pre-LN); no dropout at inference.
static void sublayer_output(DecoderState *d, const LayerNormWeights *ln) {
    const size_t n = (size_t)d->rows * d->m->config.d_model;
    for (size_t i = 0; i < n; i++) d->x[i] += d->branch[i];
    if (d->m->config.pre_ln) return;
    layernorm_forward(d->x, d->mean, d->rstd, d->x, ln->weight, ln->bias, d->rows,
                      d->m->config.d_model, MODEL_LAYERNORM_EPS);
}

void decoder_state_step(DecoderState *d, const int32_t *tokens) {
    Model *m = d->m;
    const ModelConfig *c = &m->config;
    const int R = d->rows, C = c->d_model, t = d->t;
    const float scale = 1.0f / sqrtf((float)model_config_head_size(c));
    // the new position's input: embedding · √C + PE(t)
    embedding_forward(d->x, tokens, m->w.tgt_embed, R, 1, C, t);
    for (int l = 0; l < c->n_decoder_layers; l++) {
        const DecoderLayerWeights *w = &m->w.decoder[l];
        // causal self-attention: the new query against the cached keys 0..t
        const float *in = sublayer_input(d, &w->ln1);
        matmul_forward(d->q, in, w->self_attn.wq, w->self_attn.bq, R, C, C);
        matmul_forward(d->kv_k, in, w->self_attn.wk, w->self_attn.bk, R, C, C);
        matmul_forward(d->kv_v, in, w->self_attn.wv, w->self_attn.bv, R, C, C);
        for (int r = 0; r < R; r++) {
            size_t at = ((size_t)r * d->capacity + t) * C;
            memcpy(d->self_k[l] + at, d->kv_k + (size_t)r * C, (size_t)C * sizeof(float));
            memcpy(d->self_v[l] + at, d->kv_v + (size_t)r * C, (size_t)C * sizeof(float));
        }
        AttentionShape self = {R, 1, t + 1, C, c->n_heads, scale, d->capacity, NULL, false, 0.0f, 0, 0};
        attention_forward(d->context, d->weights, d->dropped, d->q, d->self_k[l], d->self_v[l], &self);
        matmul_forward(d->branch, d->context, w->self_attn.wo, w->self_attn.bo, R, C, C);
        sublayer_output(d, &w->ln1);
        // cross-attention over the source
        in = sublayer_input(d, &w->ln2);
        matmul_forward(d->q, in, w->cross_attn.wq, w->cross_attn.bq, R, C, C);
        AttentionShape cross = {R, 1, d->S, C, c->n_heads, scale, 0, d->src_masked, false, 0.0f, 0, 0};
        float *cw = l == c->n_decoder_layers - 1 ? d->cross_weights : d->weights;
        attention_forward(d->context, cw, d->dropped, d->q, d->cross_k[l], d->cross_v[l], &cross);
        matmul_forward(d->branch, d->context, w->cross_attn.wo, w->cross_attn.bo, R, C, C);
        sublayer_output(d, &w->ln2);
        // feed-forward
        in = sublayer_input(d, &w->ln3);
        matmul_forward(d->hidden, in, w->ffn.w1, w->ffn.b1, R, C, c->d_ff);
        relu_forward(d->hidden, d->hidden, (size_t)R * c->d_ff);
        matmul_forward(d->branch, d->hidden, w->ffn.w2, w->ffn.b2, R, c->d_ff, C);
        sublayer_output(d, &w->ln3);
    }
    const float *out = d->x;
    if (c->pre_ln) {
        layernorm_forward(d->normed, d->mean, d->rstd, d->x, m->w.decoder_ln.weight,
                          m->w.decoder_ln.bias, R, C, MODEL_LAYERNORM_EPS);
        out = d->normed;
    }
    matmul_forward(d->logits, out, m->w.out_w, m->w.out_b, R, C, c->tgt_vocab);
    d->t++;
}

void decoder_state_reorder(DecoderState *d, const int *parents) {
    const ModelConfig *c = &d->m->config;
    const int R = d->rows, C = c->d_model, H = c->n_heads;
    const size_t row_cache = (size_t)d->capacity * C, filled = (size_t)d->t * C;
    float *copy = d->reorder_buffer;
    for (int l = 0; l < c->n_decoder_layers; l++) {
        float *caches[2] = {d->self_k[l], d->self_v[l]};
        for (int k = 0; k < 2; k++) {
            memcpy(copy, caches[k], (size_t)R * row_cache * sizeof(float));
            for (int r = 0; r < R; r++) {
                memcpy(caches[k] + (size_t)r * row_cache, copy + (size_t)parents[r] * row_cache,
                       filled * sizeof(float));
            }
        }
    }
    // and the last cross-attention, which alignments read
    size_t cw = (size_t)H * d->S;
    memcpy(copy, d->cross_weights, (size_t)R * cw * sizeof(float));
    for (int r = 0; r < R; r++) memcpy(d->cross_weights + r * cw, copy + (size_t)parents[r] * cw, cw * sizeof(float));
}

void decoder_state_log_probs(const DecoderState *d, float *log_probs) {
    const int V = d->m->config.tgt_vocab;
    for (int r = 0; r < d->rows; r++) {
        const float *x = d->logits + (size_t)r * V;
        float *out = log_probs + (size_t)r * V;
        float max = x[TOKEN_EOS];
        for (int v = TOKEN_SPECIAL_COUNT; v < V; v++) if (x[v] > max) max = x[v];
        double sum = exp((double)x[TOKEN_EOS] - max);
        for (int v = TOKEN_SPECIAL_COUNT; v < V; v++) sum += exp((double)x[v] - max);
        float log_z = max + (float)log(sum);
        for (int v = 0; v < V; v++) {
            bool allowed = v == TOKEN_EOS || v >= TOKEN_SPECIAL_COUNT;
            out[v] = allowed ? x[v] - log_z : -INFINITY;
        }
    }
}

void decoder_state_alignment(const DecoderState *d, int r, float *out) {
    const int H = d->m->config.n_heads, S = d->S;
    for (int j = 0; j < S; j++) out[j] = 0.0f;
    for (int h = 0; h < H; h++) {
        const float *w = d->cross_weights + ((size_t)r * H + h) * S;
        for (int j = 0; j < S; j++) out[j] += w[j] / (float)H;
    }
}
