#include "model/average.h"

#include <string.h>

#include <stb/stb_ds.h>

// Whether b has a's shape: the same layers, widths, vocabularies and
// normalisation, so that every weight means the same thing in both.
static int check_same_shape(const Model *a, const Model *b, int index, Error *err) {
    const ModelConfig *x = &a->config, *y = &b->config;
    if (x->d_model != y->d_model || x->n_heads != y->n_heads || x->d_ff != y->d_ff ||
        x->n_encoder_layers != y->n_encoder_layers || x->n_decoder_layers != y->n_decoder_layers ||
        x->src_vocab != y->src_vocab || x->tgt_vocab != y->tgt_vocab || x->max_len != y->max_len ||
        x->pre_ln != y->pre_ln || x->tie_output != y->tie_output || a->n_params != b->n_params ||
        arrlen(a->tensors) != arrlen(b->tensors)) {
        return error_set(err, "model %d has another shape than model 1 (layers, widths, vocabularies "
                              "or normalisation): only checkpoints of one run can be averaged", index + 1);
    }
    for (ptrdiff_t i = 0; i < arrlen(a->tensors); i++) {
        if (strcmp(a->tensors[i].name, b->tensors[i].name) != 0 || a->tensors[i].size != b->tensors[i].size) {
            return error_set(err, "model %d's tensor %s does not match model 1's", index + 1,
                             b->tensors[i].name);
        }
    }
    return 0;
}

int model_average(Model *out, const Model *const *models, int n, Error *err) {
    memset(out, 0, sizeof *out);
    if (n < 1) return error_set(err, "no model to average");
    for (int k = 1; k < n; k++) {
        if (check_same_shape(models[0], models[k], k, err) < 0) return -1;
    }
    if (model_build(out, &models[0]->config, 0, err) < 0) return -1;
    for (ptrdiff_t i = 0; i < arrlen(out->tensors); i++) {
        float *mean = out->tensors[i].data;
        for (size_t j = 0; j < out->tensors[i].size; j++) {
            double sum = 0;  // in double: the mean of n floats, rounded once
            for (int k = 0; k < n; k++) sum += models[k]->tensors[i].data[j];
            mean[j] = (float)(sum / n);
        }
    }
    return 0;
}
