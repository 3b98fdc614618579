#include "train/trainer.h"

#include "core/atomic_file.h"
#include "core/clock.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "eval/bleu.h"
#include "model/rng.h"
#include "model/threads.h"
#include "infer/search.h"
#include "model/model_file.h"
#include "train/averaging.h"
#include "train/batcher.h"
#include "train/length_penalty.h"
#include "train/training_log.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

int trainer_path(const Trainer *t, const char *name, char *out, Error *err) {
    const char *dir = t->options.out_dir;
    if ((size_t)snprintf(out, TRAINER_PATH_BYTES, "%s/%s", dir, name) >= TRAINER_PATH_BYTES) {
        return error_set(err, "the path %s/%s is too long", dir, name);
    }
    return 0;
}

// ---------------------------------------------------------------- validation

enum { VALID_ROWS = 64 };  // dev pairs per forward pass

int dev_texts_add(DevTexts *texts, const Trainer *t, const Hypothesis *out, const uint32_t *rows, int n,
                  Error *err) {
    for (int i = 0; i < n; i++) {
        char *text = tokenizer_decode(&t->tokenizers->target, out[i].tokens, (size_t)out[i].length);
        if (!text) return error_out_of_memory(err, "a dev translation", (size_t)out[i].length);
        arrput(texts->hyps, text);
        arrput(texts->refs, t->valid_corpus->pairs[t->valid->pairs[rows[i]].corpus_index].target);
    }
    return 0;
}

int dev_texts_score(const DevTexts *texts, BleuScore *bleu, ChrfScore *chrf, Error *err) {
    const char *const *ref_sets[1] = {texts->refs};
    const char *const *hyps = (const char *const *)texts->hyps;
    const size_t n = (size_t)arrlen(texts->hyps);
    if (bleu_corpus_score(hyps, n, ref_sets, 1, bleu) < 0 ||
        (chrf && chrf_corpus_score(hyps, n, ref_sets, 1, chrf) < 0)) {
        return error_out_of_memory(err, "scoring the dev translations", 0);
    }
    return 0;
}

void dev_texts_free(DevTexts *texts) {
    for (ptrdiff_t i = 0; i < arrlen(texts->hyps); i++) free(texts->hyps[i]);
    arrfree(texts->hyps);
    arrfree(texts->refs);
}

// Greedy translations of the pairs in rows[0 .. count) whose index is below
// valid_sentences: counts exact matches and keeps the decoded text for BLEU.
static int translate_for_validation(Trainer *t, const int32_t *src, const uint32_t *rows,
                                    int count, int S, size_t first, Validation *v, long *exact,
                                    DevTexts *texts, Error *err) {
    const Dataset *d = t->valid;
    size_t wanted = (size_t)t->options.valid_sentences;
    int n = (int)(wanted > first ? wanted - first : 0);
    if (n > count) n = count;
    if (n <= 0) return 0;
    Hypothesis out[VALID_ROWS];
    if (greedy_translate(t->model, src, n, S, out, err) < 0) return -1;
    for (int i = 0; i < n; i++) {
        const EncodedPair *p = &d->pairs[rows[i]];
        *exact += out[i].length == p->tgt_len &&
                  memcmp(out[i].tokens, d->ids + p->tgt_offset,
                         (size_t)p->tgt_len * sizeof(int32_t)) == 0;
        v->translated++;
    }
    int status = t->valid_corpus ? dev_texts_add(texts, t, out, rows, n, err) : 0;
    for (int i = 0; i < n; i++) hypothesis_free(&out[i]);
    return status;
}

// Dev loss (the plain negative log-likelihood, without label smoothing, so
// that exp(loss) is the perplexity), exact matches, BLEU and chrF.
int trainer_validate(Trainer *t, Validation *v, Error *err) {
    const Model *m = t->model;
    const Dataset *d = t->valid;
    const size_t n = dataset_size(d);
    memset(v, 0, sizeof *v);
    if (n == 0) return 0;
    const size_t ids = (size_t)VALID_ROWS * m->config.max_len;
    int32_t *src = malloc(ids * sizeof *src), *tgt_in = malloc(ids * sizeof *tgt_in);
    int32_t *tgt_out = malloc(ids * sizeof *tgt_out);
    uint32_t rows[VALID_ROWS];
    double loss_sum = 0;
    long tokens = 0, exact = 0;
    DevTexts texts = {0};
    int status = src && tgt_in && tgt_out ? 0 : error_out_of_memory(err, "validation", 3 * ids * sizeof *src);
    for (size_t first = 0; first < n && status == 0; first += VALID_ROWS) {
        int count = n - first < VALID_ROWS ? (int)(n - first) : VALID_ROWS;
        for (int i = 0; i < count; i++) rows[i] = (uint32_t)(first + (size_t)i);
        int S, T;
        batch_fill_pairs(d, rows, count, src, tgt_in, tgt_out, &S, &T);
        status = data_parallel_forward(&t->shards, m, src, tgt_in, tgt_out, count, S, T, false, 0,
                                       err);
        if (status < 0) break;
        loss_sum += t->shards.nll * t->shards.loss_tokens;
        tokens += t->shards.loss_tokens;
        status = translate_for_validation(t, src, rows, count, S, first, v, &exact, &texts, err);
    }
    free(src);
    free(tgt_in);
    free(tgt_out);
    v->loss = tokens ? loss_sum / (double)tokens : 0.0;
    v->exact_match = v->translated ? (double)exact / v->translated : 0.0;
    if (status == 0 && arrlen(texts.hyps) > 0) {
        BleuScore bleu;
        ChrfScore chrf;
        status = dev_texts_score(&texts, &bleu, &chrf, err);
        v->bleu = bleu.score;
        v->chrf = chrf.score;
    }
    dev_texts_free(&texts);
    return status;
}

// ---------------------------------------------------------------- saving

int trainer_save_model(const Trainer *t, const Model *m, const char *name, const char *decoding,
                       Error *err) {
    char path[TRAINER_PATH_BYTES];
    if (trainer_path(t, name, path, err) < 0) return -1;
    return model_save(m, &(ModelMetadata){t->tokenizers_json, t->options_text, decoding}, path, err);
}

static int save_model(Trainer *t, const char *name, Error *err) {
    return trainer_save_model(t, t->model, name, NULL, err);
}

static int save_training_state(Trainer *t, Error *err) {
    char state[TRAINER_PATH_BYTES];
    if (trainer_path(t, "training_state.safetensors", state, err) < 0) return -1;
    return checkpoint_save(state, t->model, &t->adam, t->tokenizers_json, &t->progress,
                           t->options_json, err);
}

static int save_checkpoint(Trainer *t, Error *err) {
    if (save_model(t, "last.safetensors", err) < 0) return -1;
    return save_training_state(t, err);
}

// A run killed while saving leaves a temporary beside the file it was
// writing.  The next write of that file removes it, but a run may end
// without writing it again (model.safetensors, when the best is not beaten),
// so every run starts by removing those of all the files it writes.
static int remove_temporaries_of_killed_runs(const Trainer *t, Error *err) {
    static const char *const files[] = {"model.safetensors", "last.safetensors",
                                        "training_state.safetensors", "train.log", "curves.svg",
                                        "averaged.safetensors"};
    char path[TRAINER_PATH_BYTES];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (trainer_path(t, files[i], path, err) < 0) return -1;
        remove_stale_temporaries(path);
    }
    return 0;
}

// A log line that could not be written stops the run rather than leave a
// history that silently ends; what is on disk stays as the last checkpoint
// left it, to be resumed once the log can be written again.
static int log_failed(const Error *log_error, long step, Error *err) {
    return error_set(err, "%s; training stopped at step %ld, and --resume goes on from the last "
                          "checkpoint", log_error->message, step);
}

// Validates, keeps the best model, checkpoints; returns 1 when patience has
// run out.
static int validate_and_save(Trainer *t, TrainingLog *log, Error *err) {
    Validation v;
    if (trainer_validate(t, &v, err) < 0) return -1;
    TrainingProgress *p = &t->progress;
    bool improved = dataset_size(t->valid) > 0 && v.loss < p->best;
    if (improved) {
        p->best = v.loss;
        p->best_step = p->step;
        p->evaluations_without_improvement = 0;
        if (save_model(t, "model.safetensors", err) < 0) return -1;
    } else {
        p->evaluations_without_improvement++;
    }
    Error log_error;
    if (training_log_validation(log, p, &v, improved, &log_error) < 0) {
        return log_failed(&log_error, p->step, err);
    }
    const ValidationHook *hook = &t->options.after_validation;
    if (hook->run && hook->run(hook->context, t->model, t->tokenizers, p->step, &v, &log_error) < 0) {
        return log_failed(&log_error, p->step, err);
    }
    if (save_checkpoint(t, err) < 0) return -1;
    if (t->options.average >= 2 && averaging_keep(t, err) < 0) return -1;
    return t->options.patience > 0 && p->evaluations_without_improvement >= t->options.patience;
}

// ---------------------------------------------------------------- the loop

// What one call of trainer_run works with beside the trainer.
typedef struct {
    Batcher batcher;
    int32_t *src, *tgt_in, *tgt_out;   // the batch being trained on
    TrainingLog log;
    double session_start, elapsed_before;
    const char *stop_reason;
} Run;

static void run_free(Run *r) {
    batcher_free(&r->batcher);
    free(r->src);
    free(r->tgt_in);
    free(r->tgt_out);
}

// Plans the epoch's batches and makes room for the largest of them now, not
// inside a step.
static int plan_epoch(Trainer *t, Run *r, Error *err) {
    const TrainerOptions *o = &t->options;
    if (batcher_plan_epoch(&r->batcher, t->train, o->seed, t->progress.epoch, o->batch_tokens, err) < 0) {
        return -1;
    }
    const size_t rows = (size_t)r->batcher.max_rows;
    int32_t *src = realloc(r->src, rows * (size_t)r->batcher.max_src * sizeof *src);
    if (src) r->src = src;
    int32_t *tgt_in = realloc(r->tgt_in, rows * (size_t)r->batcher.max_tgt * sizeof *tgt_in);
    if (tgt_in) r->tgt_in = tgt_in;
    int32_t *tgt_out = realloc(r->tgt_out, rows * (size_t)r->batcher.max_tgt * sizeof *tgt_out);
    if (tgt_out) r->tgt_out = tgt_out;
    if (!src || !tgt_in || !tgt_out) return error_out_of_memory(err, "the epoch's batches", rows);
    return data_parallel_reserve(&t->shards, t->model, r->batcher.max_rows, r->batcher.max_src,
                                 r->batcher.max_tgt, err);
}

// One optimiser step on the epoch's next batch.
static int train_step(Trainer *t, Run *r, Error *err) {
    const TrainerOptions *o = &t->options;
    TrainingProgress *p = &t->progress;
    DataParallel *dp = &t->shards;
    int S, T;
    int B = batcher_fill(&r->batcher, t->train, (size_t)p->batch, r->src, r->tgt_in, r->tgt_out, &S, &T);
    long step = p->step + 1;
    uint64_t dropout_seed = rng_mix(o->seed ^ (uint64_t)step * 0x9E3779B97F4A7C15ull);
    if (data_parallel_forward(dp, t->model, r->src, r->tgt_in, r->tgt_out, B, S, T, true,
                              dropout_seed, err) < 0) {
        return -1;
    }
    if (!isfinite(dp->loss)) {
        return error_set(err, "the loss became %s at step %ld (try a lower --lr or more --warmup); "
                              "the best model so far was left as it was",
                         isnan(dp->loss) ? "NaN" : "infinite", step);
    }
    // The gradients are zero here: built so, and cleared by every adamw_step.
    data_parallel_backward(dp, t->model, &t->gradients);
    float lr = schedule_lr(&o->schedule, step);
    // The loss above is finite, but it sees only the weights this batch uses.
    // A NaN or an infinity that reached any weight (a gradient that
    // overflowed, an update too large for a float) would spread through every
    // later step and into the next checkpoint, which the loaders then refuse:
    // it stops the run here, before anything is saved.
    bool weights_finite;
    double norm = adamw_step(t->model, &t->gradients, &t->adam, &o->adam, lr, step, o->clip_norm,
                             &weights_finite);
    if (!weights_finite) {
        return error_set(err, "the weights became NaN or infinite at step %ld (gradient norm %g; try a "
                              "lower --lr or more --warmup); the best model and the last checkpoint "
                              "were left as they were", step, norm);
    }
    p->step = step;
    p->batch++;  // this batch is done: a resume starts after it
    p->tokens += dp->loss_tokens;
    p->elapsed = r->elapsed_before + (monotonic_seconds() - r->session_start);
    Error log_error;
    if (training_log_step(&r->log, p, dp->loss, dp->loss_tokens, lr, (long)batcher_count(&r->batcher),
                          &log_error) < 0) {
        return log_failed(&log_error, step, err);
    }
    return 0;
}

// The stopping rule that holds before the next step, or NULL.
static const char *limit_reached(const Trainer *t) {
    const TrainerOptions *o = &t->options;
    const TrainingProgress *p = &t->progress;
    if (o->max_steps > 0 && p->step >= o->max_steps) return "the step limit";
    if (o->time_budget > 0 && p->elapsed >= o->time_budget) return "the time budget";
    if (interrupted) return "an interrupt";
    return NULL;
}

// Trains epoch after epoch until a stopping rule fires; 0, or -1 with err.
static int train_epochs(Trainer *t, Run *r, Error *err) {
    const TrainerOptions *o = &t->options;
    TrainingProgress *p = &t->progress;
    for (;;) {
        if (o->max_epochs > 0 && p->epoch >= o->max_epochs) {
            r->stop_reason = "the epoch limit";
            return 0;
        }
        if (plan_epoch(t, r, err) < 0) return -1;
        while (p->batch < (long)batcher_count(&r->batcher)) {
            if ((r->stop_reason = limit_reached(t))) return 0;
            if (train_step(t, r, err) < 0) return -1;
            if (o->valid_every > 0 && p->step % o->valid_every == 0) {
                int v = validate_and_save(t, &r->log, err);
                if (v < 0) return -1;
                if (v == 1) {
                    r->stop_reason = "early stopping (no improvement)";
                    return 0;
                }
            }
        }
        p->epoch++;
        p->batch = 0;
    }
}

// Allocates what training needs beside the model, once.
static int prepare(Trainer *t, Error *err) {
    if (t->gradients.grads) return 0;
    const int shards = data_parallel_shards_for(&t->model->config, omp_get_max_threads());
    if (data_parallel_init(&t->shards, t->model, shards, err) < 0) return -1;
    if (gradients_build(&t->gradients, t->model, err) < 0) return -1;
    // The tokenizers do not change while training: their saved form is made once.
    cJSON *json = tokenizer_pair_to_json(t->tokenizers);
    t->tokenizers_json = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!t->tokenizers_json) return error_out_of_memory(err, "the tokenizers' saved form", 0);
    if (!t->adam.m && adam_state_build(&t->adam, t->model, err) < 0) return -1;
    return 0;
}

int trainer_time_steps(Trainer *t, int steps, double *step_seconds, double *validation_seconds,
                       Error *err) {
    if (prepare(t, err) < 0) return -1;
    Run r = {0};
    int status = plan_epoch(t, &r, err);
    const int batches = (int)batcher_count(&r.batcher);
    double total = 0;
    int timed = 0;
    // The first pass also faults in the workspace's pages: it is not timed.
    for (int k = 0; k <= steps && status == 0; k++) {
        int S, T;
        int B = batcher_fill(&r.batcher, t->train, (size_t)(k % batches), r.src, r.tgt_in, r.tgt_out, &S, &T);
        double start = monotonic_seconds();
        status = data_parallel_forward(&t->shards, t->model, r.src, r.tgt_in, r.tgt_out, B, S, T, true,
                                       1, err);
        if (status == 0) data_parallel_backward(&t->shards, t->model, &t->gradients);
        if (k > 0) total += monotonic_seconds() - start, timed++;
    }
    gradients_zero(&t->gradients);
    run_free(&r);
    if (status < 0) return -1;
    *step_seconds = timed ? total / timed : 0;
    Validation v;
    double start = monotonic_seconds();
    if (trainer_validate(t, &v, err) < 0) return -1;
    *validation_seconds = monotonic_seconds() - start;
    return 0;
}

int trainer_run(Trainer *t, Error *err) {
    TrainerOptions *o = &t->options;
    TrainingProgress *p = &t->progress;
    Run r = {0};
    r.stop_reason = "the step limit";
    char log_path[TRAINER_PATH_BYTES];
    if (trainer_path(t, "train.log", log_path, err) < 0) return -1;
    if (prepare(t, err) < 0) return -1;
    if (!t->options_text && t->options_json && !(t->options_text = cJSON_PrintUnformatted(t->options_json))) {
        return error_out_of_memory(err, "the options' saved form", 0);
    }
    if (remove_temporaries_of_killed_runs(t, err) < 0) return -1;
    // A fresh run saves its state before the first step, so that the
    // directory holds a state to resume before it can hold a model: killed
    // at its first validation, between model.safetensors and the
    // checkpoint, it would otherwise be refused both by a fresh start (it
    // holds a model) and by --resume (it holds no state).
    if (p->step == 0 && save_training_state(t, err) < 0) return -1;
    if (training_log_open(&r.log, log_path, o, p->step, err) < 0) return -1;

    struct sigaction action = {0}, old_int, old_term;
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);

    r.session_start = monotonic_seconds();
    r.elapsed_before = p->elapsed;
    int status = train_epochs(t, &r, err);
    if (status == 0) {
        bool just_validated = o->valid_every > 0 && p->step % o->valid_every == 0 && p->step > 0 && !interrupted;
        if (!just_validated) {
            int v = interrupted ? save_checkpoint(t, err) : validate_and_save(t, &r.log, err);
            if (v < 0) status = -1;
        }
        if (status == 0 && !interrupted && o->average >= 2 && averaging_finish(t, &r.log, err) < 0) {
            status = -1;
        }
        if (status == 0 && !interrupted && length_penalty_choose(t, &r.log, err) < 0) status = -1;
    }
    training_log_finish(&r.log, p, status < 0 ? NULL : interrupted ? "an interrupt" : r.stop_reason);
    if (status == 0) {
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        training_log_summary(&r.log, p, o->out_dir, (double)usage.ru_maxrss / 1024.0);
    }
    Error log_error;
    if (training_log_close(&r.log, &log_error) < 0 && status == 0) {
        status = log_failed(&log_error, p->step, err);
    }
    run_free(&r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (status < 0) return -1;
    return interrupted ? 130 : 0;
}

void trainer_free(Trainer *t) {
    cJSON_free(t->tokenizers_json);
    t->tokenizers_json = NULL;
    cJSON_free(t->options_text);
    t->options_text = NULL;
    data_parallel_free(&t->shards);
    gradients_free(&t->gradients);
    adam_state_free(&t->adam);
}
