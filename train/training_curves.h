// The curves of a training run, read from the lines of its train.log: what
// curves.svg draws (train/training_log.c writes the log and adds each line
// as it goes) and what `azul serve --run` sends to the page.  Apart from the
// log's writing and printing, so that a reader needs neither.
#ifndef AZUL_TRAINING_CURVES_H
#define AZUL_TRAINING_CURVES_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "train/curves.h"

// The points of the curves a log holds (stb_ds arrays): what curves.svg
// draws, and what `azul serve --run` sends to the page.
typedef struct {
    CurvePoint *train_loss;
    CurvePoint *valid_loss;
    CurvePoint *bleu;           // percent
    CurvePoint *exact_match;    // percent
} TrainingCurves;

// Adds the points of one line of train.log: a "train" or "valid" event with
// a step at most max_step; other lines add nothing.
void training_curves_add(TrainingCurves *c, const cJSON *line, double max_step);
// The curves of the log at path (a run still writing it: a line cut short is
// skipped); -1 with err when it cannot be read.
int training_curves_read(TrainingCurves *c, const char *path, Error *err);
void training_curves_free(TrainingCurves *c);

#endif
