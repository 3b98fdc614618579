// The shape of a model: sizes, options, presets.
#ifndef AZUL_CONFIG_H
#define AZUL_CONFIG_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/error.h"

typedef struct {
    int src_vocab;          // source token ids
    int tgt_vocab;          // target token ids
    int d_model;            // width of every token vector
    int n_heads;            // attention heads; d_model % n_heads == 0
    int n_encoder_layers;
    int n_decoder_layers;
    int d_ff;               // hidden width of the feed-forward blocks
    int max_len;            // longest source or target sequence, in tokens, <bos>/<eos> included
    float dropout;          // on embeddings, residual branches and attention weights
    float label_smoothing;  // ε: the target distribution is (1-ε)·one-hot + ε/V
    bool pre_ln;            // LayerNorm before each sublayer (false: after, as in the paper)
    bool tie_output;        // the output projection reuses the target embedding matrix
} ModelConfig;

// Fills config with a named preset (toy, small, base); vocabulary sizes stay
// as they were.  Fails for an unknown name.
int model_config_preset(ModelConfig *config, const char *name, Error *err);

// Checks every field for sense (positive sizes, heads dividing d_model, ...),
// and refuses a config whose one sentence of max_len tokens would need more
// activation memory than MODEL_MAX_SENTENCE_GIB.
int model_config_check(const ModelConfig *config, Error *err);

// The activations that translating one sentence of max_len tokens holds at
// its peak, in bytes: the attention weights (H × max_len² floats) of the two
// layers a decoding pass keeps at once, and per token a few d_model-wide
// vectors, the feed-forward's hidden layer and the logits.  The base preset at
// train's longest max_len (4096) with 32,000 target tokens needs 1.6 GiB; a
// hostile config, terabytes.
double model_config_sentence_bytes(const ModelConfig *config);
enum { MODEL_MAX_SENTENCE_GIB = 4 };

int model_config_head_size(const ModelConfig *config);

// The config as JSON, or NULL when memory runs out (never one missing a field).
cJSON *model_config_to_json(const ModelConfig *config);
int model_config_from_json(ModelConfig *config, const cJSON *json, Error *err);

#endif
