// Checkpoint averaging for azul train --average N (model/average.h says why):
// the model at each of the last N validations is kept in DIR/checkpoints/,
// and when the run ends, their mean is validated like any checkpoint and
// becomes model.safetensors if its dev loss is the best.
#ifndef AZUL_AVERAGING_H
#define AZUL_AVERAGING_H

#include "train/trainer.h"
#include "train/training_log.h"

// Saves the model as DIR/checkpoints/step-N.safetensors and removes the
// ones beyond the newest t->options.average (and any from steps after this
// one, left by a run killed before its state was saved).
int averaging_keep(Trainer *t, Error *err);

// Averages the newest kept checkpoints (at most t->options.average, none
// after the current step), validates the mean and saves it as
// DIR/averaged.safetensors, and as DIR/model.safetensors when its dev loss
// beats the best.  Fewer than two checkpoints: nothing to do.  The
// trainer's weights are left as they were.  Skipped, with a note, when
// what is left of the time budget is less than AVERAGING_VALIDATIONS times
// the last validation's time (loading, averaging and saving add a little
// to one validation); an interrupt stops it between checkpoints or batches
// of dev pairs, with a note, saving nothing.  0, or -1 with err.
#define AVERAGING_VALIDATIONS 1.25
int averaging_finish(Trainer *t, TrainingLog *log, Error *err);

#endif
