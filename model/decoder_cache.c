// The key/value cache of incremental decoding: starting it from the encoder's
// output, rearranging it for beam search, freeing it.  The step itself is
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
    c->src = malloc((size_t)c->rows * c->S * sizeof *c->src);
    if (!c->self_k || !c->self_v || !c->cross_k || !c->cross_v || !c->src) {
        return false;
    }
    const size_t self = (size_t)c->rows * c->capacity * C, cross = (size_t)c->rows * c->S * C;
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
// cross-attention keys and values, for every layer and copy.
static int encode_into(DecoderCache *c, const Model *m, Workspace *ws, const int32_t *src,
                       int first, int n, int copies, Error *err) {
    const int S = c->S, C = m->config.d_model;
    if (model_encode(m, ws, src + (size_t)first * S, n, S, err) < 0) return -1;
    const size_t sentence = (size_t)S * C;
    for (int l = 0; l < c->n_layers; l++) {
        const AttentionWeights *w = &m->w.decoder[l].cross_attn;
        for (int b = 0; b < n; b++) {
            float *k = c->cross_k[l] + (size_t)(first + b) * copies * sentence;
            float *v = c->cross_v[l] + (size_t)(first + b) * copies * sentence;
            project_keys_values(k, v, w, ws->acts.memory + (size_t)b * sentence, S, C);
            for (int copy = 1; copy < copies; copy++) {  // the sentence's other beams
                memcpy(k + copy * sentence, k, sentence * sizeof(float));
                memcpy(v + copy * sentence, v, sentence * sizeof(float));
            }
        }
    }
    return 0;
}

int decoder_cache_start(DecoderCache *c, const Model *m, const int32_t *src, int B, int S,
                        int copies, int capacity, Error *err) {
    memset(c, 0, sizeof *c);
    const int C = m->config.d_model;
    c->rows = B * copies;
    c->S = S;
    c->capacity = capacity;
    c->n_layers = m->config.n_decoder_layers;
    workspace_init(&c->step, WORKSPACE_DECODING);
    size_t bytes = 0;
    if (!allocate(c, C, &bytes)) {
        decoder_cache_free(c);
        return error_out_of_memory(err, "the decoder's key/value cache", bytes);
    }
    for (int r = 0; r < c->rows; r++) {
        memcpy(c->src + (size_t)r * S, src + (size_t)(r / copies) * S, (size_t)S * sizeof *c->src);
    }
    // The cross-attention's keys and values depend only on the source:
    // computed once here, for each sentence's first copy, then copied.
    Workspace encoder;
    workspace_init(&encoder, WORKSPACE_DECODING);
    int status = 0;
    for (int first = 0; first < B && status == 0; first += ENCODE_ROWS) {
        int n = B - first < ENCODE_ROWS ? B - first : ENCODE_ROWS;
        status = encode_into(c, m, &encoder, src, first, n, copies, err);
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
    free(c->reorder_buffer);
    workspace_free(&c->step);
    memset(c, 0, sizeof *c);
}

int decoder_cache_reorder(DecoderCache *c, const Model *m, const int *parents, Error *err) {
    const int R = c->rows, C = m->config.d_model;
    const size_t row = (size_t)c->capacity * C, filled = (size_t)c->t * C;
    if (!c->reorder_buffer && !(c->reorder_buffer = malloc((size_t)R * row * sizeof(float) + 1))) {
        return error_out_of_memory(err, "reordering the beams", (size_t)R * row * sizeof(float));
    }
    float *copy = c->reorder_buffer;
    for (int l = 0; l < c->n_layers; l++) {
        float *caches[2] = {c->self_k[l], c->self_v[l]};
        for (int k = 0; k < 2; k++) {
            for (int r = 0; r < R; r++) {
                memcpy(copy + (size_t)r * row, caches[k] + (size_t)r * row, filled * sizeof(float));
            }
            for (int r = 0; r < R; r++) {
                memcpy(caches[k] + (size_t)r * row, copy + (size_t)parents[r] * row,
                       filled * sizeof(float));
            }
        }
    }
    return 0;
}
