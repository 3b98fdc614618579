// The memory of a forward pass: every activation the backward pass will read
// (or, translating, only what the next layer reads), laid out over one
// allocation that grows to the largest batch seen and is then reused.
#include "model/workspace.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    float *base;
    size_t used;
} ActivationCursor;

static float *take(ActivationCursor *ac, size_t n) {
    float *p = ac->base ? ac->base + ac->used : NULL;
    ac->used += n;
    return p;
}

// q (B, Tq, C); k and v (B, Tkv, C): the keys and values projected in this
// pass (Tk of them, or only the new Tq when a cache holds the rest, or none
// when the cache holds them all); weights (B, H, Tq, Tk).
// A sublayer's output (attention's or the feed-forward's, before dropout and
// the residual sum) is read only by the residual step that follows it: the
// backward never needs it.  When the layers share a branch buffer, every
// layer writes it there instead of into a buffer of its own.
// The attention's context (the heads' weighted sums before W_O) is read
// only by W_O right after it, in the forward, and by W_O's backward, which
// computes it again: a training workspace keeps one buffer for all of them.
typedef struct {
    bool shared;
    float *buffer;   // NULL while only counting
    // a training workspace: the backward computes contexts and LayerNorm
    // outputs again, so they share one buffer each
    bool recomputed;
    float *context;  // NULL while only counting
    // A LayerNorm's output is read by the sublayer right after it, and
    // again by that sublayer's backward, which computes it again: a training
    // workspace keeps one buffer for them all, except the encoder's and
    // decoder's outputs (post-LN), which are read later.
    float *normed;   // NULL while only counting
} Branch;

static float *take_branch(ActivationCursor *ac, const Branch *branch, size_t n) {
    return branch->shared ? branch->buffer : take(ac, n);
}

static void take_attention_acts(ActivationCursor *ac, AttentionActivations *a, int B, int H,
                                int Tq, int Tk, int Tkv, int C, const Branch *branch) {
    a->q = take(ac, (size_t)B * Tq * C);
    a->k = Tkv ? take(ac, (size_t)B * Tkv * C) : NULL;
    a->v = Tkv ? take(ac, (size_t)B * Tkv * C) : NULL;
    a->weights = take(ac, (size_t)B * H * Tq * Tk);
    a->context = branch->recomputed ? branch->context : take(ac, (size_t)B * Tq * C);
    a->out = take_branch(ac, branch, (size_t)B * Tq * C);
}

static void take_layernorm_acts(ActivationCursor *ac, LayerNormActivations *ln, int N, int C) {
    ln->out = take(ac, (size_t)N * C);
    ln->mean = take(ac, (size_t)N);
    ln->rstd = take(ac, (size_t)N);
}

// keep: the LayerNorm's output is a stack's output (read by later layers)
static void take_residual_acts(ActivationCursor *ac, ResidualActivations *r, int N, int C,
                               const Branch *branch, bool keep) {
    r->sum = take(ac, (size_t)N * C);
    const bool shared = branch->recomputed && !keep;
    r->ln.out = shared ? branch->normed : take(ac, (size_t)N * C);
    r->ln.mean = take(ac, (size_t)N);
    r->ln.rstd = take(ac, (size_t)N);
}

static void take_ffn_acts(ActivationCursor *ac, FeedForwardActivations *f, int N, int C, int F,
                          const Branch *branch) {
    f->hidden = take(ac, (size_t)N * F);
    f->out = take_branch(ac, branch, (size_t)N * C);
}

// The backward's scratch, except dy (taken before the logits): it is first
// written after the output projection's backward has read the logits'
// gradient, so it lies over the logits, which nothing reads after that.
static void take_scratch(ActivationCursor *ac, GradientScratch *g, const ModelConfig *c,
                         const WorkspaceShape *s) {
    const int Tmax = s->S > s->T ? s->S : s->T;
    const size_t NC = (size_t)s->B * Tmax * c->d_model, NF = (size_t)s->B * Tmax * c->d_ff;
    g->dx = take(ac, NC);
    g->dmid = take(ac, NC);
    g->dbranch = take(ac, NC);
    // post-LN passes gradients through the LayerNorm after the sum, pre-LN
    // through the one before the sublayer
    g->dsum = c->pre_ln ? NULL : take(ac, NC);
    g->dnormed = c->pre_ln ? take(ac, NC) : NULL;
    g->dcontext = take(ac, NC);
    g->dq = take(ac, NC);
    g->dk = take(ac, NC);
    g->dv = take(ac, NC);
    g->normed = take(ac, NC);
    g->dhidden = take(ac, NF);
    g->dweights = take(ac, (size_t)s->B * c->n_heads * Tmax * Tmax);
    g->dmemory = take(ac, (size_t)s->B * s->S * c->d_model);
}

// Translating, layer l only reads layer l - 1's output: two layers' memory,
// used in turn, serve the whole stack.
typedef struct {
    size_t start[2];   // where the two slots begin
    size_t end;        // the furthest either reached
} LayerSlots;

static void enter_layer(ActivationCursor *ac, LayerSlots *slots, int l, bool reuse) {
    if (ac->used > slots->end) slots->end = ac->used;
    if (!reuse || l < 2) {
        if (l < 2) slots->start[l] = ac->used;
        return;
    }
    ac->used = slots->start[l % 2];
}

static void leave_layers(ActivationCursor *ac, LayerSlots *slots) {
    if (slots->end > ac->used) ac->used = slots->end;
}

// Lays the activations (and, for a backward workspace, the gradient scratch)
// of one batch shape over base and returns the floats needed.
static size_t lay_out_activations(Workspace *ws, const ModelConfig *c, float *base,
                                  const WorkspaceShape *s) {
    const int B = s->B, S = s->S, T = s->decoder ? s->T : 0;
    const int C = c->d_model, F = c->d_ff, H = c->n_heads;
    ActivationCursor ac = {base, 0};
    Activations *a = &ws->acts;
    const int S_enc = s->encoder ? S : 0;
    const bool reuse = ws->use == WORKSPACE_DECODING, training = ws->use == WORKSPACE_TRAINING;
    a->src_embedded = take(&ac, (size_t)B * S_enc * C);
    a->tgt_embedded = take(&ac, (size_t)B * T * C);
    // decoding reuses two layer slots anyway; otherwise the layers share one
    // buffer for their sublayers' outputs
    const size_t widest = (size_t)B * (S_enc > T ? S_enc : T) * C;
    Branch branch = {!reuse, NULL, training, NULL, NULL};
    if (branch.shared) branch.buffer = take(&ac, widest);
    if (branch.recomputed) {
        branch.context = take(&ac, widest);
        branch.normed = take(&ac, widest);
    }
    const bool post_ln = !c->pre_ln;
    LayerSlots slots = {0};
    for (int l = 0; l < c->n_encoder_layers; l++) {
        EncoderLayerActivations *e = &a->encoder[l];
        enter_layer(&ac, &slots, l, reuse);
        const bool last = l == c->n_encoder_layers - 1;
        take_residual_acts(&ac, &e->attn_res, B * S_enc, C, &branch, false);
        take_attention_acts(&ac, &e->self_attn, B, H, S_enc, S_enc, S_enc, C, &branch);
        take_residual_acts(&ac, &e->ffn_res, B * S_enc, C, &branch, last && post_ln);
        take_ffn_acts(&ac, &e->ffn, B * S_enc, C, F, &branch);
    }
    leave_layers(&ac, &slots);
    slots = (LayerSlots){0};
    for (int l = 0; l < c->n_decoder_layers; l++) {
        DecoderLayerActivations *d = &a->decoder[l];
        enter_layer(&ac, &slots, l, reuse);
        const bool last = l == c->n_decoder_layers - 1;
        take_residual_acts(&ac, &d->self_res, B * T, C, &branch, false);
        take_attention_acts(&ac, &d->self_attn, B, H, T, s->decoder ? s->self_keys : 0, T, C, &branch);
        take_residual_acts(&ac, &d->cross_res, B * T, C, &branch, false);
        take_attention_acts(&ac, &d->cross_attn, B, H, T, S, s->memory_keys ? S : 0, C, &branch);
        take_residual_acts(&ac, &d->ffn_res, B * T, C, &branch, last && post_ln);
        take_ffn_acts(&ac, &d->ffn, B * T, C, F, &branch);
    }
    leave_layers(&ac, &slots);
    if (c->pre_ln) {
        take_layernorm_acts(&ac, &a->encoder_ln, B * S_enc, C);
        take_layernorm_acts(&ac, &a->decoder_ln, B * T, C);
    } else {
        a->encoder_ln = a->decoder_ln = (LayerNormActivations){0};
    }
    // translating computes no loss
    a->log_z = reuse ? NULL : take(&ac, (size_t)B * T);
    if (training) {
        const int Tmax = S > T ? S : T;
        ws->scratch.dy = take(&ac, (size_t)B * Tmax * C);
    }
    ActivationCursor over_logits = ac;
    a->logits = take(&ac, (size_t)B * T * c->tgt_vocab);
    if (training) {
        take_scratch(&over_logits, &ws->scratch, c, s);
        if (over_logits.used > ac.used) ac.used = over_logits.used;
    }
    return ac.used;
}

WorkspaceShape workspace_shape(int B, int S, int T) {
    WorkspaceShape s = {B, S, T, T, true, true, true};
    return s;
}

void workspace_init(Workspace *ws, WorkspaceUse use) {
    memset(ws, 0, sizeof *ws);
    ws->use = use;
}

void workspace_free(Workspace *ws) {
    free(ws->positions);
    free(ws->activation_memory);
    free(ws->batch_memory);
    free(ws->acts.encoder);
    free(ws->acts.decoder);
    memset(ws, 0, sizeof *ws);
}

// The positional encodings of positions 0 … rows-1 (at least): only rows not
// yet computed are, so a training run or a translation computes each once.
static int reserve_positions(Workspace *ws, int rows, int C, Error *err) {
    if (ws->position_width != C) ws->position_rows = 0;
    if (rows <= ws->position_rows) return 0;
    float *table = realloc(ws->positions, (size_t)rows * C * sizeof *table);
    if (!table) return error_out_of_memory(err, "the positional encodings", (size_t)rows * C * sizeof *table);
    ws->positions = table;
    for (int t = ws->position_rows; t < rows; t++) positional_encoding(table + (size_t)t * C, t, C);
    ws->position_rows = rows;
    ws->position_width = C;
    return 0;
}

// Makes room for the shape: the memory only ever grows.
static int reserve(Workspace *ws, const ModelConfig *c, const WorkspaceShape *s, Error *err) {
    if (!ws->acts.encoder || ws->n_encoder_layers != c->n_encoder_layers ||
        ws->n_decoder_layers != c->n_decoder_layers) {
        free(ws->acts.encoder);
        free(ws->acts.decoder);
        ws->acts.encoder = calloc((size_t)c->n_encoder_layers, sizeof *ws->acts.encoder);
        ws->acts.decoder = calloc((size_t)c->n_decoder_layers, sizeof *ws->acts.decoder);
        if (!ws->acts.encoder || !ws->acts.decoder) {
            return error_out_of_memory(err, "the activation table", sizeof(DecoderLayerActivations));
        }
        ws->n_encoder_layers = c->n_encoder_layers;
        ws->n_decoder_layers = c->n_decoder_layers;
    }
    size_t floats = lay_out_activations(ws, c, NULL, s);
    if (floats > ws->activation_floats) {
        free(ws->activation_memory);
        ws->activation_floats = 0;
        ws->activation_memory = calloc(floats, sizeof(float));
        if (!ws->activation_memory) {
            return error_out_of_memory(err, "the activations of this batch", floats * sizeof(float));
        }
        ws->activation_floats = floats;
    }
    int positions = s->S > s->T ? s->S : s->T;
    if (s->self_keys > positions) positions = s->self_keys;
    if (reserve_positions(ws, positions, c->d_model, err) < 0) return -1;
    size_t ids = (size_t)s->B * s->S + 2 * (size_t)s->B * s->T;
    size_t bytes = ids * sizeof(int32_t) + (size_t)s->B * (s->S + s->T);
    if (bytes > ws->batch_bytes) {
        free(ws->batch_memory);
        ws->batch_bytes = 0;
        ws->batch_memory = malloc(bytes);
        if (!ws->batch_memory) return error_out_of_memory(err, "the batch", bytes);
        ws->batch_bytes = bytes;
    }
    return 0;
}

static int check_batch(const ModelConfig *c, const int32_t *src, const int32_t *tgt_in,
                       const int32_t *tgt_out, int B, int S, int T, Error *err) {
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
        if (tgt_in[i] < 0 || tgt_in[i] >= c->tgt_vocab) {
            return error_set(err, "target token id %d is outside the vocabulary (%d)", tgt_in[i],
                             c->tgt_vocab);
        }
        if (tgt_out && (tgt_out[i] < 0 || tgt_out[i] >= c->tgt_vocab)) {
            return error_set(err, "target token id %d is outside the vocabulary (%d)", tgt_out[i],
                             c->tgt_vocab);
        }
    }
    return 0;
}

int workspace_place(Workspace *ws, const Model *m, const WorkspaceShape *s, const int32_t *src,
                    const int32_t *tgt_in, const int32_t *tgt_out, Error *err) {
    const int B = s->B, S = s->S, T = s->T;
    if (check_batch(&m->config, src, tgt_in, tgt_out, B, S, T, err) < 0) return -1;
    if (reserve(ws, &m->config, s, err) < 0) return -1;
    // The strides depend on the actual shape: lay out anew for it.
    lay_out_activations(ws, &m->config, ws->activation_memory, s);
    ws->B = B;
    ws->S = S;
    ws->T = T;
    ws->self_keys = s->self_keys;
    int32_t *ids = ws->batch_memory;
    ws->src = ids;
    ws->tgt_in = ids + (size_t)B * S;
    ws->tgt_out = ws->tgt_in + (size_t)B * T;
    ws->src_masked = (uint8_t *)(ws->tgt_out + (size_t)B * T);
    ws->tgt_masked = ws->src_masked + (size_t)B * S;
    memcpy(ws->src, src, (size_t)B * S * sizeof *src);
    memcpy(ws->tgt_in, tgt_in, (size_t)B * T * sizeof *tgt_in);
    if (tgt_out) memcpy(ws->tgt_out, tgt_out, (size_t)B * T * sizeof *tgt_out);
    else for (size_t i = 0; i < (size_t)B * T; i++) ws->tgt_out[i] = TOKEN_PAD;
    for (size_t i = 0; i < (size_t)B * S; i++) ws->src_masked[i] = src[i] == TOKEN_PAD;
    for (size_t i = 0; i < (size_t)B * T; i++) ws->tgt_masked[i] = tgt_in[i] == TOKEN_PAD;
    return 0;
}

int workspace_reserve(Workspace *ws, const Model *m, int B, int S, int T, Error *err) {
    WorkspaceShape s = workspace_shape(B, S, T);
    return reserve(ws, &m->config, &s, err);
}
