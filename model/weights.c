// The weights of the network: their names, shapes and order (the tensor
// table), their initialisation, and the gradients that mirror them.
#include "model/transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/rng.h"
#include "model/safetensors.h"

// ================================================================ parameters

// Hands out consecutive slices of one parameter array and records each in the
// tensor table.  With base NULL it only counts.  With a table that already
// holds every entry (the second walk), each view is taken from the entry's
// data pointer instead: the weights may then live anywhere, a mapped file say.
typedef struct {
    float *base;
    size_t used;
    TensorInfo **table;  // NULL: do not record
    const TensorInfo *placed;  // a finished table whose data pointers to use
    size_t index;
    char prefix[48];
} ParameterCursor;

static float *take_parameter(ParameterCursor *pc, const char *name, int rows, int cols,
                             TensorInit init) {
    size_t size = (size_t)rows * (size_t)(cols ? cols : 1);
    float *p = pc->base ? pc->base + pc->used : NULL;
    if (pc->table) {
        TensorInfo info = {{0}, init, cols ? 2 : 1, {rows, cols}, pc->used, size, p};
        snprintf(info.name, sizeof info.name, "%s%s", pc->prefix, name);
        arrput(*pc->table, info);
    }
    if (pc->placed) p = pc->placed[pc->index++].data;
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
static size_t lay_out_weights(Weights *w, float *base, const ModelConfig *c, TensorInfo **table,
                              const TensorInfo *placed) {
    const int C = c->d_model, F = c->d_ff;
    ParameterCursor pc = {base, 0, table, placed, 0, ""};
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
        float *p = info->data;
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

// The parts of a model every way of making one shares: the checked config,
// the layer arrays and the tensor table (without data yet).
static int model_begin(Model *m, const ModelConfig *config, Error *err) {
    memset(m, 0, sizeof *m);
    if (model_config_check(config, err) < 0) return -1;
    m->config = *config;
    const ModelConfig *c = &m->config;
    m->w.encoder = calloc((size_t)c->n_encoder_layers, sizeof *m->w.encoder);
    m->w.decoder = calloc((size_t)c->n_decoder_layers, sizeof *m->w.decoder);
    if (!m->w.encoder || !m->w.decoder) {
        model_free(m);
        return error_out_of_memory(err, "the model's layer table",
                                   (size_t)(config->n_encoder_layers + config->n_decoder_layers) * sizeof(DecoderLayerWeights));
    }
    m->n_params = lay_out_weights(&m->w, NULL, c, &m->tensors, NULL);
    return 0;
}

int model_build(Model *m, const ModelConfig *config, uint64_t seed, Error *err) {
    if (model_begin(m, config, err) < 0) return -1;
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) {
        size_t bytes = m->n_params * sizeof(float);
        model_free(m);
        return error_out_of_memory(err, "the weights", bytes);
    }
    for (ptrdiff_t t = 0; t < arrlen(m->tensors); t++) {
        m->tensors[t].data = m->params + m->tensors[t].offset;
    }
    lay_out_weights(&m->w, NULL, &m->config, NULL, m->tensors);
    initialise_weights(m, seed);
    return 0;
}

int model_build_from(Model *m, const ModelConfig *config, TensorSource source, void *context,
                     Error *err) {
    if (model_begin(m, config, err) < 0) return -1;
    for (ptrdiff_t t = 0; t < arrlen(m->tensors); t++) {
        const float *data = source(context, &m->tensors[t], err);
        if (!data) {
            model_free(m);
            return -1;
        }
        m->tensors[t].data = (float *)data;  // read-only when mapped: only training writes
    }
    lay_out_weights(&m->w, NULL, &m->config, NULL, m->tensors);
    return 0;
}

void model_free(Model *m) {
    if (m->file) safetensors_free(m->file);
    free(m->file);
    free(m->w.encoder);
    free(m->w.decoder);
    free(m->params);
    arrfree(m->tensors);
    memset(m, 0, sizeof *m);
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

// ================================================================ gradients

int gradients_build(Gradients *g, const Model *m, Error *err) {
    memset(g, 0, sizeof *g);
    const ModelConfig *c = &m->config;
    g->n = m->n_params;
    g->grads = calloc(g->n ? g->n : 1, sizeof(float));
    g->dw.encoder = calloc((size_t)c->n_encoder_layers, sizeof *g->dw.encoder);
    g->dw.decoder = calloc((size_t)c->n_decoder_layers, sizeof *g->dw.decoder);
    if (!g->grads || !g->dw.encoder || !g->dw.decoder) {
        gradients_free(g);
        return error_out_of_memory(err, "the gradients", m->n_params * sizeof(float));
    }
    lay_out_weights(&g->dw, g->grads, c, NULL, NULL);
    return 0;
}

void gradients_free(Gradients *g) {
    free(g->grads);
    free(g->dw.encoder);
    free(g->dw.decoder);
    memset(g, 0, sizeof *g);
}

void gradients_zero(Gradients *g) { memset(g->grads, 0, g->n * sizeof(float)); }

