// The key/value cache of incremental decoding: starting it from the encoder's
// output, rearranging its rows as sentences end and beams branch, freeing it.  The step itself is
// the decoder's forward pass (transformer.c).
#include "model/decoder_cache.h"

#include <stdlib.h>
#include <string.h>

#include "model/sublayers.h"

static float *floats(size_t n, size_t *total) {
    *total += n * sizeof(float);
    return malloc((n ? n : 1) * sizeof(float));
}

// Allocates the per-layer caches; false when memory runs out.
static bool allocate(DecoderCache *c, int C, size_t *bytes) {
    const int L = c->n_layers;
    c->self_k = calloc((size_t)L, sizeof *c->self_k);
    c->self_v = calloc((size_t)L, sizeof *c->self_v);
    c->cross_k = calloc((size_t)L, sizeof *c->cross_k);
    c->cross_v = calloc((size_t)L, sizeof *c->cross_v);
    c->src = malloc((size_t)c->room * c->S * sizeof *c->src);
    c->sentence = malloc((size_t)c->room * sizeof *c->sentence);
    c->moves = malloc((size_t)c->room * sizeof *c->moves);
    c->stays = malloc((size_t)c->room);
    if (!c->self_k || !c->self_v || !c->cross_k || !c->cross_v || !c->src || !c->sentence ||
        !c->moves || !c->stays) {
        return false;
    }
    const size_t self = (size_t)c->room * c->capacity * C, cross = (size_t)c->room * c->S * C;
    for (int l = 0; l < L; l++) {
        c->self_k[l] = floats(self, bytes);
        c->self_v[l] = floats(self, bytes);
        c->cross_k[l] = floats(cross, bytes);
        c->cross_v[l] = floats(cross, bytes);
        if (!c->self_k[l] || !c->self_v[l] || !c->cross_k[l] || !c->cross_v[l]) return false;
    }
    return true;
}

// Sentences encoded at once: the encoder's activations then stay small
// whatever the batch, and only its output's projections are kept.
enum { ENCODE_ROWS = 8 };

// Runs the encoder on sentences [first, first + n) and fills their rows'
// cross-attention keys and values, for every layer.
static int encode_into(DecoderCache *c, const Model *m, Workspace *ws, const int32_t *src,
                       int first, int n, Error *err) {
    const int S = c->S, C = m->config.d_model;
    if (model_encode(m, ws, src + (size_t)first * S, n, S, err) < 0) return -1;
    const size_t sentence = (size_t)S * C;
    for (int l = 0; l < c->n_layers; l++) {
        const AttentionWeights *w = &m->w.decoder[l].cross_attn;
        for (int b = 0; b < n; b++) {
            float *k = c->cross_k[l] + (size_t)(first + b) * sentence;
            float *v = c->cross_v[l] + (size_t)(first + b) * sentence;
            project_keys_values(k, v, w, ws->acts.memory + (size_t)b * sentence, S, C);
        }
    }
    return 0;
}

int decoder_cache_start(DecoderCache *c, const Model *m, const int32_t *src, int B, int S,
                        int beams, int capacity, Error *err) {
    memset(c, 0, sizeof *c);
    const int C = m->config.d_model;
    c->rows = B;
    c->room = B * beams;
    c->S = S;
    c->capacity = capacity;
    c->n_layers = m->config.n_decoder_layers;
    workspace_init(&c->step, WORKSPACE_DECODING);
    size_t bytes = 0;
    if (!allocate(c, C, &bytes)) {
        decoder_cache_free(c);
        return error_out_of_memory(err, "the decoder's key/value cache", bytes);
    }
    memcpy(c->src, src, (size_t)B * S * sizeof *c->src);
    for (int r = 0; r < c->room; r++) c->sentence[r] = r < B ? r : -1;
    // The cross-attention's keys and values depend only on the source:
    // computed once here, and copied when a sentence's beams branch.
    Workspace encoder;
    workspace_init(&encoder, WORKSPACE_DECODING);
    int status = 0;
    for (int first = 0; first < B && status == 0; first += ENCODE_ROWS) {
        int n = B - first < ENCODE_ROWS ? B - first : ENCODE_ROWS;
        status = encode_into(c, m, &encoder, src, first, n, err);
    }
    workspace_free(&encoder);
    if (status < 0) decoder_cache_free(c);
    return status;
}

void decoder_cache_free(DecoderCache *c) {
    for (int l = 0; l < c->n_layers; l++) {
        if (c->self_k) free(c->self_k[l]);
        if (c->self_v) free(c->self_v[l]);
        if (c->cross_k) free(c->cross_k[l]);
        if (c->cross_v) free(c->cross_v[l]);
    }
    free(c->self_k);
    free(c->self_v);
    free(c->cross_k);
    free(c->cross_v);
    free(c->src);
    free(c->sentence);
    free(c->moves);
    free(c->stays);
    workspace_free(&c->step);
    memset(c, 0, sizeof *c);
}

// Row `to` takes what row `from` holds: the positions filled so far, and the
// source when it is another.
static void move_row(DecoderCache *c, const Model *m, int to, int from) {
    const int C = m->config.d_model;
    const size_t self_row = (size_t)c->capacity * C, filled = (size_t)c->t * C;
    const size_t cross_row = (size_t)c->S * C;
    const bool other_source = c->sentence[to] != c->sentence[from];
    for (int l = 0; l < c->n_layers; l++) {
        memcpy(c->self_k[l] + to * self_row, c->self_k[l] + from * self_row, filled * sizeof(float));
        memcpy(c->self_v[l] + to * self_row, c->self_v[l] + from * self_row, filled * sizeof(float));
        if (!other_source) continue;
        memcpy(c->cross_k[l] + to * cross_row, c->cross_k[l] + from * cross_row, cross_row * sizeof(float));
        memcpy(c->cross_v[l] + to * cross_row, c->cross_v[l] + from * cross_row, cross_row * sizeof(float));
    }
    if (other_source) {
        memcpy(c->src + (size_t)to * c->S, c->src + (size_t)from * c->S, (size_t)c->S * sizeof *c->src);
        c->sentence[to] = c->sentence[from];
    }
}

void decoder_cache_keep(DecoderCache *c, const Model *m, const int *from, int n, int *at) {
    // First continuations stay in their rows.
    memset(c->stays, 0, (size_t)c->room);
    for (int i = 0; i < n; i++) {
        at[i] = c->stays[from[i]] ? -1 : from[i];
        c->stays[from[i]] = 1;
    }
    // The others, and those that stay at or beyond row n, move to the rows
    // below n that no continuation stays in: exactly as many.  Such a row is
    // nobody's source, so every source is read intact.
    int moves = 0, free_row = 0;
    for (int i = 0; i < n; i++) {
        if (at[i] >= 0 && at[i] < n) continue;
        while (c->stays[free_row]) free_row++;
        c->stays[free_row] = 1;
        at[i] = free_row;
        c->moves[moves++] = i;
    }
    #pragma omp parallel for schedule(static) if (moves > 1)
    for (int k = 0; k < moves; k++) move_row(c, m, at[c->moves[k]], from[c->moves[k]]);
    c->rows = n;
}
