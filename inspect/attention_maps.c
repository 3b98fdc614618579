#include "inspect/attention_maps.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/utf8.h"

static const char *const kind_names[ATTENTION_KINDS] = {"encoder", "decoder", "cross"};

const char *attention_kind_name(AttentionKind kind) { return kind_names[kind]; }

// Labels and the translation are shown to people, in every format: made
// printable here (a hostile vocabulary's token may hold any byte).
static char *label(const Tokenizer *t, int32_t id) {
    char shown[256];
    tokenizer_token_display(t, id, shown, sizeof shown);
    return utf8_printable(shown);
}

static char *printable_translation(const Tokenizer *t, const int32_t *ids, size_t n) {
    char *text = tokenizer_decode(t, ids, n);
    char *shown = text ? utf8_printable(text) : NULL;
    free(text);
    return shown;
}

static float *copy_of(const float *from, size_t n, bool *ok) {
    float *to = malloc((n ? n : 1) * sizeof *to);
    if (to) memcpy(to, from, n * sizeof *to);
    else *ok = false;
    return to;
}

// Copies every attention of the forward pass in ws out through the model's
// attention view, with the tokens that label it.
static int keep_maps(AttentionMaps *maps, const Model *m, TokenizerPair *tokenizers, const Workspace *ws,
                     const int32_t *src, const int32_t *tgt, const int32_t *tgt_in, const int32_t *tgt_out,
                     Error *err) {
    const ModelConfig *c = &m->config;
    const int S = ws->S, T = ws->T;
    bool ok = true;
    maps->S = S;
    maps->T = T;
    maps->H = c->n_heads;
    maps->C = c->d_model;
    maps->n_layers[ATTENTION_ENCODER] = c->n_encoder_layers;
    maps->n_layers[ATTENTION_DECODER] = c->n_decoder_layers;
    maps->n_layers[ATTENTION_CROSS] = c->n_decoder_layers;
    maps->translation = printable_translation(&tokenizers->target, tgt, (size_t)(T - 1));
    maps->source_ids = malloc((size_t)S * sizeof *maps->source_ids);
    maps->target_ids = malloc((size_t)T * sizeof *maps->target_ids);  // T - 1, at least 1
    if (maps->source_ids) memcpy(maps->source_ids, src, (size_t)S * sizeof *src);
    if (maps->target_ids && T > 1) memcpy(maps->target_ids, tgt, (size_t)(T - 1) * sizeof *tgt);
    maps->source_tokens = calloc((size_t)S, sizeof(char *));
    maps->target_inputs = calloc((size_t)T, sizeof(char *));
    maps->target_outputs = calloc((size_t)T, sizeof(char *));
    ok = maps->translation && maps->source_tokens && maps->target_inputs && maps->target_outputs &&
         maps->source_ids && maps->target_ids;
    for (int i = 0; ok && i < S; i++) ok = (maps->source_tokens[i] = label(&tokenizers->source, src[i]));
    for (int i = 0; ok && i < T; i++) {
        maps->target_inputs[i] = label(&tokenizers->target, tgt_in[i]);
        maps->target_outputs[i] = label(&tokenizers->target, tgt_out[i]);
        ok = maps->target_inputs[i] && maps->target_outputs[i];
    }
    for (int k = 0; ok && k < ATTENTION_KINDS; k++) {
        AttentionKind kind = (AttentionKind)k;
        const size_t rows = (size_t)attention_rows(maps, kind), cols = (size_t)attention_cols(maps, kind);
        const size_t L = (size_t)maps->n_layers[k], C = (size_t)maps->C;
        maps->weights[k] = calloc(L, sizeof(float *));
        maps->queries[k] = calloc(L, sizeof(float *));
        maps->keys[k] = calloc(L, sizeof(float *));
        maps->values[k] = calloc(L, sizeof(float *));
        maps->contexts[k] = calloc(L, sizeof(float *));
        ok = maps->weights[k] && maps->queries[k] && maps->keys[k] && maps->values[k] && maps->contexts[k];
        for (int l = 0; ok && l < maps->n_layers[k]; l++) {
            AttentionView v = model_attention_view(ws, kind, l);
            maps->weights[k][l] = copy_of(v.weights, (size_t)maps->H * rows * cols, &ok);
            maps->queries[k][l] = copy_of(v.q, rows * C, &ok);
            maps->keys[k][l] = copy_of(v.k, cols * C, &ok);
            maps->values[k][l] = copy_of(v.v, cols * C, &ok);
            maps->contexts[k][l] = copy_of(v.context, rows * C, &ok);
            maps->shapes[k] = v.shape;
            maps->shapes[k].key_masked = NULL;  // the workspace's masks go; one sentence has no padding
        }
    }
    return ok ? 0 : error_out_of_memory(err, "the attention maps", (size_t)S * T * sizeof(float));
}

// The target's ids: `target` teacher-forced, or (NULL) the greedy
// translation of src, given up at the deadline; -1 with err.
static int target_ids(const Model *m, TokenizerPair *tokenizers, const int32_t *src, const char *target,
                      double deadline, int32_t **tgt, Error *err) {
    if (!target) {
        Hypothesis h;
        if (greedy_translate_until(m, src, 1, (int)arrlen(src), deadline, &h, err) < 0) return -1;
        for (int i = 0; i < h.length; i++) arrput(*tgt, h.tokens[i]);
        hypothesis_free(&h);
        return 0;
    }
    // bounded before normalisation, as the source is (infer/translator.h)
    const size_t bytes = strlen(target), most = sentence_max_bytes(m->config.max_len);
    if (bytes > most) return error_set(err, "--target is too long: %zu bytes, at most %zu", bytes, most);
    Error inner;
    if (tokenizer_encode(&tokenizers->target, target, bytes, tgt, &inner) < 0) {
        return error_set(err, "--target: %s", inner.message);
    }
    const ptrdiff_t tokens = arrlen(*tgt) + 1;
    if (tokens > m->config.max_len) {
        return error_set(err, "--target is too long: %td tokens, the model takes at most %d", tokens,
                         m->config.max_len);
    }
    return 0;
}

static int maps_until(AttentionMaps *maps, const Model *m, TokenizerPair *tokenizers, const char *source,
                      const char *target, double deadline, Error *err);

int attention_maps_compute(AttentionMaps *maps, Translator *t, const char *source,
                           const char *target, Error *err) {
    return maps_until(maps, &t->model, &t->tokenizers, source, target, SEARCH_NO_DEADLINE, err);
}

int attention_maps_compute_until(AttentionMaps *maps, Translator *t, const char *source, const char *target,
                                 double deadline, Error *err) {
    return maps_until(maps, &t->model, &t->tokenizers, source, target, deadline, err);
}

int attention_maps_of(AttentionMaps *maps, const Model *m, TokenizerPair *tokenizers, const char *source,
                      const char *target, Error *err) {
    return maps_until(maps, m, tokenizers, source, target, SEARCH_NO_DEADLINE, err);
}

static int maps_until(AttentionMaps *maps, const Model *m, TokenizerPair *tokenizers, const char *source,
                      const char *target, double deadline, Error *err) {
    memset(maps, 0, sizeof *maps);
    int32_t *src = NULL, *tgt = NULL;
    if (encode_source_sentence(&tokenizers->source, m->config.max_len, source, &src, err) < 0 ||
        target_ids(m, tokenizers, src, target, deadline, &tgt, err) < 0) {
        arrfree(src);
        arrfree(tgt);
        return -1;
    }
    const int S = (int)arrlen(src);
    const int T = (int)arrlen(tgt) + 1;
    int32_t *tgt_in = malloc((size_t)T * sizeof *tgt_in), *tgt_out = malloc((size_t)T * sizeof *tgt_out);
    if (tgt_in && tgt_out) {
        tgt_in[0] = TOKEN_BOS;
        for (int i = 0; i < T - 1; i++) tgt_in[i + 1] = tgt_out[i] = tgt[i];
        tgt_out[T - 1] = TOKEN_EOS;
    }
    Workspace ws;
    workspace_init(&ws, WORKSPACE_INSPECTING);
    int status = tgt_in && tgt_out ? model_forward(m, &ws, src, tgt_in, tgt_out, 1, S, T, false, 0, err)
                                   : error_out_of_memory(err, "the target", (size_t)T * 8);
    if (status == 0) status = keep_maps(maps, m, tokenizers, &ws, src, tgt, tgt_in, tgt_out, err);
    if (status < 0) attention_maps_free(maps);
    workspace_free(&ws);
    free(tgt_in);
    free(tgt_out);
    arrfree(src);
    arrfree(tgt);
    return status;
}

void attention_maps_free(AttentionMaps *maps) {
    for (int i = 0; i < maps->S && maps->source_tokens; i++) free(maps->source_tokens[i]);
    for (int i = 0; i < maps->T && maps->target_inputs; i++) free(maps->target_inputs[i]);
    for (int i = 0; i < maps->T && maps->target_outputs; i++) free(maps->target_outputs[i]);
    free(maps->source_tokens);
    free(maps->target_inputs);
    free(maps->target_outputs);
    free(maps->translation);
    free(maps->source_ids);
    free(maps->target_ids);
    for (int k = 0; k < ATTENTION_KINDS; k++) {
        float **all[] = {maps->weights[k], maps->queries[k], maps->keys[k], maps->values[k], maps->contexts[k]};
        for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) {
            for (int l = 0; l < maps->n_layers[k] && all[a]; l++) free(all[a][l]);
            free(all[a]);
        }
    }
    memset(maps, 0, sizeof *maps);
}

bool attention_visible(const AttentionMaps *maps, AttentionKind kind, int i, int j) {
    return attention_key_visible(&maps->shapes[kind], 0, i, j);
}

int attention_rows(const AttentionMaps *maps, AttentionKind kind) {
    return kind == ATTENTION_ENCODER ? maps->S : maps->T;
}

int attention_cols(const AttentionMaps *maps, AttentionKind kind) {
    return kind == ATTENTION_DECODER ? maps->T : maps->S;
}

// Decoder self-attention is read by input tokens on both axes (position t
// sees positions ≤ t); cross-attention rows are labelled by the token each
// step produced, so that "bola" is the row that looks for "ball".
char **attention_row_labels(const AttentionMaps *maps, AttentionKind kind) {
    return kind == ATTENTION_ENCODER ? maps->source_tokens
           : kind == ATTENTION_DECODER ? maps->target_inputs
                                       : maps->target_outputs;
}

char **attention_col_labels(const AttentionMaps *maps, AttentionKind kind) {
    return kind == ATTENTION_DECODER ? maps->target_inputs : maps->source_tokens;
}

void attention_matrix(const AttentionMaps *maps, AttentionKind kind, int layer, int head,
                      float *out) {
    const size_t n = (size_t)attention_rows(maps, kind) * attention_cols(maps, kind);
    const float *w = maps->weights[kind][layer];
    if (head >= 0) {
        memcpy(out, w + (size_t)head * n, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float sum = 0.0f;
        for (int h = 0; h < maps->H; h++) sum += w[(size_t)h * n + i];
        out[i] = sum / (float)maps->H;
    }
}
