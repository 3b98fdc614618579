// The training state that `azul train --resume` continues from: everything a
// run needs to go on exactly as if it had never stopped — weights, both Adam
// moments, the step, the position in the epoch, the best result so far — in
// DIR/training_state.safetensors, beside the model files.
//
// tensors:      "params", "adam_m", "adam_v" (F32, one flat vector each)
// __metadata__: "format": "azul-training-state", "config", "tokenizers", and
//               "progress": {"step", "epoch", "batch", "best", "best_step",
//               "evaluations_without_improvement", "elapsed", "tokens"},
//               "options": the training options, as JSON
#ifndef AZUL_CHECKPOINT_H
#define AZUL_CHECKPOINT_H

#include <cjson/cJSON.h>

#include "model/optimizer.h"
#include "tokenizer/tokenizer_pair.h"

typedef struct {
    long step;                 // optimizer steps taken
    long epoch;                // the epoch in progress (from 0)
    long batch;                // batches of that epoch already done
    double best;               // best validation score so far (lower is better)
    long best_step;
    int evaluations_without_improvement;
    double elapsed;            // seconds of training so far, over all sessions
    double tokens;             // target tokens trained on so far
} TrainingProgress;

// tokenizers_json: the tokenizers' saved form (tokenizer_pair_to_json, printed).
int checkpoint_save(const char *path, const Model *m, const AdamState *adam,
                    const char *tokenizers_json, const TrainingProgress *progress,
                    const cJSON *options, Error *err);

// Restores the model (built from the stored config), tokenizers, progress,
// and a copy of the stored options (free with cJSON_Delete).
int checkpoint_load(const char *path, Model *m, AdamState *adam, TokenizerPair *tokenizers,
                    TrainingProgress *progress, cJSON **options, Error *err);

#endif
