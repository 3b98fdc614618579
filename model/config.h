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

// Checks every field for sense (positive sizes, heads dividing d_model, ...).
int model_config_check(const ModelConfig *config, Error *err);

int model_config_head_size(const ModelConfig *config);

cJSON *model_config_to_json(const ModelConfig *config);
int model_config_from_json(ModelConfig *config, const cJSON *json, Error *err);

#endif
