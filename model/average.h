// Averaging checkpoints: the mean of several models' weights, tensor by
// tensor.
//
// The checkpoints at the last validations of a run lie around one minimum,
// each displaced by the noise of its last batches; their mean usually sits
// nearer its bottom than any of them, for a few tenths of a BLEU point at no
// cost in training (the Transformer paper averages its last 5 or 20
// checkpoints; NMT toolkits offer it as a command).  Only checkpoints of one
// run make sense together: two separately trained models share no
// coordinates, and their mean is noise.
#ifndef AZUL_AVERAGE_H
#define AZUL_AVERAGE_H

#include "model/transformer.h"

// Builds out (a model of its own, to model_free) as the mean of models[0 .. n).
// Fails, naming which model differs, when their configs or tensor tables do not
// match; out is then left empty.
int model_average(Model *out, const Model *const *models, int n, Error *err);

#endif
