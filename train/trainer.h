// The training loop: batches, steps, validation, checkpoints, stopping.
#ifndef AZUL_TRAINER_H
#define AZUL_TRAINER_H

#include <cjson/cJSON.h>

#include "eval/bleu.h"
#include "infer/search.h"
#include "model/optimizer.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/dataset.h"

typedef struct Validation {
    double loss;               // mean per-token negative log-likelihood (no smoothing)
    double exact_match;        // fraction of translated dev pairs that match exactly
    double bleu, chrf;         // of the greedy translations, against the dev targets
    int translated;
} Validation;

// Called after each validation with the model as it is: what azul train
// --watch records attention with (the train layer knows nothing of
// inspecting).  A failure stops training as a log that cannot be written does.
typedef struct {
    int (*run)(void *context, const Model *m, TokenizerPair *tokenizers, long step,
               const Validation *v, Error *err);
    void *context;
} ValidationHook;

typedef struct {
    // what to train on and where to write
    const char *out_dir;
    // when to stop (0: no limit from this one)
    long max_steps, max_epochs;
    double time_budget;        // seconds for the whole run, its end included
    double budget_spent;       // seconds of it gone before trainer_run (reading the corpus,
                               // learning the tokenizers, timing the plan)
    double end_reserve;        // seconds of it kept for the end of the run (the last
                               // validation, averaging, the length penalty): training
                               // stops when no more than these are left
    int patience;              // validations without improvement before stopping; 0: never
    int average;               // checkpoints averaged at the end (train/averaging.h); 0 or 1: none
    // how
    int batch_tokens;
    Schedule schedule;
    AdamWConfig adam;
    float clip_norm;
    uint64_t seed;
    // reporting
    long log_every, valid_every;
    int valid_sentences;       // how many dev pairs to translate for exact match
    bool progress_bar;         // a live line on a terminal instead of log lines
    ValidationHook after_validation;  // none when .run is NULL
} TrainerOptions;

typedef struct {
    Model *model;
    AdamState adam;            // the optimiser's moments: loaded on --resume, else made by trainer_run
    TokenizerPair *tokenizers;
    const Dataset *train, *valid;
    const Corpus *valid_corpus;  // the dev pairs' text, the references for BLEU
    TrainerOptions options;
    cJSON *options_json;       // stored in checkpoints, for --resume
    TrainingProgress progress;
    // what training needs beside the model, allocated by trainer_run
    DataParallel shards;       // the batch's shards, each with its activations and room
                               // for the backward pass (one shard for all but small models)
    Gradients gradients;
    char *tokenizers_json;     // the tokenizers' saved form, printed once for every save
    char *options_text;        // options_json printed, saved in every model file as "training"
    // what the end of the run goes by, set by trainer_run
    double budget_end;         // monotonic_seconds() when the time budget runs out; INFINITY: none
    double validation_seconds; // how long the last validation took
    Validation best;           // of model.safetensors when it was saved in this session;
                               // .translated 0: not known
} Trainer;

// Runs until a stopping rule fires.  Returns 0 when training ended normally,
// 130 when interrupted (a checkpoint was saved), -1 with err on failure
// (a loss or weights become NaN or infinite, an unwritable directory);
// nothing is saved after a failure, so the files on disk are the last good ones.
int trainer_run(Trainer *t, Error *err);

// Whether SIGINT or SIGTERM arrived during trainer_run.  What takes long
// (a validation, averaging, the length penalty) checks it between batches
// of sentences or search steps and stops, leaving the files as they were.
bool trainer_interrupted(void);

// Seconds left of the time budget (INFINITY without one): what the end of
// a run fits its work into.
double trainer_seconds_left(const Trainer *t);

// DIR/name (DIR: options.out_dir) into out, of TRAINER_PATH_BYTES; -1 with
// err when it does not fit.
enum { TRAINER_PATH_BYTES = 4096 };
int trainer_path(const Trainer *t, const char *name, char *out, Error *err);

// Saves m (the trainer's model, or another: an average, the best reloaded)
// as DIR/name, with the run's tokenizers and options and, unless NULL, how
// to decode with it (model_file.h).
int trainer_save_model(const Trainer *t, const Model *m, const char *name, const char *decoding,
                       Error *err);

// What a time budget is planned from, timed on the model before training.
typedef struct {
    double step_seconds;        // a step's forward and backward passes
    double validation_seconds;  // a validation: dev loss, and translations for BLEU
    double search_seconds;      // the length penalty's whole search, estimated from a sample
                                // (length_penalty_time in train/length_penalty.h)
} TrainerTiming;

// Times `steps` forward and backward passes on the first batches of the
// first epoch, one validation and a sample of the length penalty's search.
// An untrained model's translations run to their length limit, so its
// validation takes as long as any will.  The weights and the run's
// randomness are left as they were.  0, or -1 with err.
int trainer_time_steps(Trainer *t, int steps, TrainerTiming *timing, Error *err);

// Frees what training allocated (the workspace, gradients, moments, the
// tokenizers' saved form).
void trainer_free(Trainer *t);

// Validates the trainer's model: 0, 1 when interrupted (v is then
// incomplete), or -1 with err.
int trainer_validate(Trainer *t, Validation *v, Error *err);

// Translations of dev pairs as text, beside their references, for BLEU and
// chrF: what validation and the choice of a length penalty score.
typedef struct {
    char **hyps;               // stb_ds array of malloc'd translations
    const char **refs;         // stb_ds array, into the dev corpus (valid_corpus)
} DevTexts;

// Adds out[0 .. n), the translations of the dev pairs rows[0 .. n).
int dev_texts_add(DevTexts *texts, const Trainer *t, const Hypothesis *out, const uint32_t *rows, int n,
                  Error *err);
// Corpus BLEU, and chrF unless chrf is NULL; -1 with err when memory runs out.
int dev_texts_score(const DevTexts *texts, BleuScore *bleu, ChrfScore *chrf, Error *err);
void dev_texts_free(DevTexts *texts);

#endif
