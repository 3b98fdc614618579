// The attention of a few watched sentences through training (azul train
// --watch): at every validation, each sentence's translation and every
// attention map of it, so that a slider can show cross-attention going from
// uniform to aligned.  One JSON file in the run directory, rewritten
// atomically at each validation:
//
//   {"format": "azul-attention-history", "format_version": 1,
//    "sentences": ["The ball is blue", ...],
//    "steps": [{"step": 161, "dev_loss": 0.91, "bleu": 12.3,
//               "maps": [<the JSON of azul attention --format json, every
//                         kind, layer and head, for each sentence>]}, ...]}
#ifndef AZUL_ATTENTION_HISTORY_H
#define AZUL_ATTENTION_HISTORY_H

#include <cjson/cJSON.h>

#include "model/transformer.h"
#include "tokenizer/tokenizer_pair.h"

#define ATTENTION_HISTORY_FILE "attention_history.json"
// Sentences one run may watch.  A history file is read only up to
// MAX_BYTES (and 4 million values: what reading one can cost); a history
// that grows past half of it keeps every second step from then on, so that
// the slider still spans the whole run (a toy-preset step of one sentence
// is some 12 KB, a small-preset one some 120 KB).
enum {
    ATTENTION_HISTORY_MAX_SENTENCES = 8,
    ATTENTION_HISTORY_MAX_BYTES = 16 << 20,
    ATTENTION_HISTORY_MAX_VALUES = 4 * 1000 * 1000,
};

// Reads a history file; NULL with err (naming the file) when it is missing,
// too large, not JSON or not a history.
cJSON *attention_history_load(const char *path, Error *err);
// The same for a history's text (path names it in errors).
cJSON *attention_history_parse(const char *text, size_t length, const char *path, Error *err);

// Appends step's maps of the sentences to the history at path (started
// afresh when there is none; any steps from step on, left by a run that was
// resumed from an earlier checkpoint, are dropped first) and rewrites it
// atomically.  The sentences are the file's own when it has them: a
// resumed run watches what it watched.  0; 1 when the steps to keep would
// pass ATTENTION_HISTORY_MAX_BYTES even with the first and the latest alone
// (sentences too long for this model's maps: nothing is written); -1 with err.
int attention_history_record(const char *path, const Model *m, TokenizerPair *tokenizers,
                             const char *const *sentences, int n_sentences, long step, double dev_loss,
                             double bleu, Error *err);

#endif
