// The model configuration shared by the model tests: the toy preset's shape
// with vocabularies of 29 and 31 ids (batches come from example_batch).
#ifndef AZUL_MODEL_FIXTURE_H
#define AZUL_MODEL_FIXTURE_H

#include "model/gradcheck.h"

ModelConfig fixture_config(bool pre_ln, bool tie_output, float dropout);

#endif
