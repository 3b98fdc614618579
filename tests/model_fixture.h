// The model configuration shared by the model tests: the toy preset's shape
// with vocabularies of 29 and 31 ids (batches come from example_batch).
#ifndef AZUL_MODEL_FIXTURE_H
#define AZUL_MODEL_FIXTURE_H

#include "model/gradcheck.h"

ModelConfig fixture_config(bool pre_ln, bool tie_output, float dropout);

// What a test needs to run a model forward and backward: a training
// workspace and gradients, made for m.
typedef struct {
    Workspace ws;
    Gradients g;
} ModelRun;

void model_run_start(ModelRun *r, const Model *m);
void model_run_free(ModelRun *r);

// Fails unless the two models have the same tensors with the same values.
void assert_same_weights(const Model *a, const Model *b);

// Greedy decoding the slow way, independent of infer/: the whole decoder is
// rerun for every new token.  Appends the tokens (no <eos>) to the stb_ds
// array *tokens and returns their log-probability, <eos> included.
double reference_greedy(const Model *m, const int32_t *src, int S, int32_t **tokens);

#endif
