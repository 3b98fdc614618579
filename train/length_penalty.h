// Choosing the length penalty on dev.  Beam search ranks translations by
// log p / (length + 1)^alpha: with alpha too small its translations come out
// short (log p only falls as a translation grows), with alpha too large,
// long.  Which alpha fits depends on the model and the language pair, so
// when a run ends, the best model translates the dev pairs with beam 4 at
// each alpha of TRANSLATOR_LENGTH_PENALTIES, and the one with the best BLEU
// is saved in model.safetensors ("decoding"), where azul translate finds it.
#ifndef AZUL_LENGTH_PENALTY_H
#define AZUL_LENGTH_PENALTY_H

#include "train/trainer.h"
#include "train/training_log.h"

enum { LENGTH_PENALTY_BEAM = 4 };

// Does the above for DIR/model.safetensors, on all the dev pairs; nothing
// without dev pairs.  0, or -1 with err.
int length_penalty_choose(Trainer *t, TrainingLog *log, Error *err);

#endif
