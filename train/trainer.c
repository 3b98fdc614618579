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
#include "train/rank_agreement.h"
#include "train/training_log.h"
#include "train/world.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

bool trainer_interrupted(void) { return interrupted; }

double trainer_seconds_left(const Trainer *t) {
    if (!(t->options.time_budget > 0) || !(t->budget_end < INFINITY)) return INFINITY;
    return t->budget_end - monotonic_seconds();
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

// The padded ids of one batch of dev pairs, (VALID_ROWS, max_len) each.
typedef struct {
    int32_t *src, *tgt_in, *tgt_out;
} ValidBatch;

static int by_key(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

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

// The dev pairs' rows rows[0 .. n) sorted by length, source then target:
// batches of pairs of about one length carry little padding (in file
// order, a batch of 64 is padded to its longest pair, several times the
// mean).  In place.
static void sort_by_length(const Dataset *d, uint32_t *rows, size_t n, uint64_t *keys) {
    for (size_t i = 0; i < n; i++) {
        const EncodedPair *p = &d->pairs[rows[i]];
        keys[i] = (uint64_t)p->src_len << 48 | (uint64_t)p->tgt_len << 32 | rows[i];
    }
    qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 0; i < n; i++) rows[i] = (uint32_t)keys[i];
}

// The dev loss of rows[0 .. n), in batches of VALID_ROWS: the sum of the
// tokens' negative log-likelihoods into *loss_sum, their count into
// *tokens.  Stops early on an interrupt.
static int dev_loss(Trainer *t, const uint32_t *rows, size_t n, ValidBatch *b, double *loss_sum, long *tokens,
                    Error *err) {
    for (size_t first = 0; first < n && !interrupted; first += VALID_ROWS) {
        const int count = n - first < VALID_ROWS ? (int)(n - first) : VALID_ROWS;
        int S, T;
        batch_fill_pairs(t->valid, rows + first, count, b->src, b->tgt_in, b->tgt_out, &S, &T);
        t->shards.row_offset = 0;
        if (data_parallel_forward(&t->shards, t->model, b->src, b->tgt_in, b->tgt_out, count, S, T, false, 0,
                                  err) < 0) {
            return -1;
        }
        *loss_sum += t->shards.nll * t->shards.loss_tokens;
        *tokens += t->shards.loss_tokens;
    }
    return 0;
}

// Greedy translations of rows[0 .. n), in batches of VALID_ROWS: counts
// exact matches and keeps the decoded text for BLEU.  Stops early on an
// interrupt: one batch takes well under a second.
static int translate_for_validation(Trainer *t, const uint32_t *rows, size_t n, ValidBatch *b, Validation *v,
                                    long *exact, DevTexts *texts, Error *err) {
    const Dataset *d = t->valid;
    for (size_t first = 0; first < n && !interrupted; first += VALID_ROWS) {
        const int count = n - first < VALID_ROWS ? (int)(n - first) : VALID_ROWS;
        int S, T;
        batch_fill_pairs(d, rows + first, count, b->src, b->tgt_in, b->tgt_out, &S, &T);
        Hypothesis out[VALID_ROWS];
        if (greedy_translate(t->model, b->src, count, S, out, err) < 0) return -1;
        for (int i = 0; i < count; i++) {
            const EncodedPair *p = &d->pairs[rows[first + (size_t)i]];
            *exact += out[i].length == p->tgt_len &&
                      memcmp(out[i].tokens, d->ids + p->tgt_offset, (size_t)p->tgt_len * sizeof(int32_t)) == 0;
            v->translated++;
        }
        int status = t->valid_corpus ? dev_texts_add(texts, t, out, rows + first, count, err) : 0;
        for (int i = 0; i < count; i++) hypothesis_free(&out[i]);
        if (status < 0) return -1;
    }
    return 0;
}

// Dev loss (the plain negative log-likelihood, without label smoothing, so
// that exp(loss) is the perplexity) over all the dev pairs; exact matches,
// BLEU and chrF of the first valid_sentences.  Both in batches of pairs of
// about one length; the sums do not depend on the order.
int trainer_validate(Trainer *t, Validation *v, Error *err) {
    const Dataset *d = t->valid;
    const size_t n = dataset_size(d);
    const double started = monotonic_seconds();
    memset(v, 0, sizeof *v);
    if (n == 0) return 0;
    const size_t wanted = (size_t)t->options.valid_sentences < n ? (size_t)t->options.valid_sentences : n;
    const size_t ids = (size_t)VALID_ROWS * t->model->config.max_len;
    ValidBatch b = {malloc(ids * sizeof *b.src), malloc(ids * sizeof *b.tgt_in), malloc(ids * sizeof *b.tgt_out)};
    uint32_t *rows = malloc(n * sizeof *rows), *translated = malloc((wanted ? wanted : 1) * sizeof *translated);
    uint64_t *keys = malloc(n * sizeof *keys);
    double loss_sum = 0;
    long tokens = 0, exact = 0;
    DevTexts texts = {0};
    int status = b.src && b.tgt_in && b.tgt_out && rows && translated && keys
                     ? 0 : error_out_of_memory(err, "validation", 3 * ids * sizeof *b.src + n * 12);
    if (status == 0) {
        for (size_t i = 0; i < n; i++) rows[i] = (uint32_t)i;
        for (size_t i = 0; i < wanted; i++) translated[i] = (uint32_t)i;
        sort_by_length(d, rows, n, keys);
        sort_by_length(d, translated, wanted, keys);
        status = dev_loss(t, rows, n, &b, &loss_sum, &tokens, err);
    }
    if (status == 0) status = translate_for_validation(t, translated, wanted, &b, v, &exact, &texts, err);
    free(b.src);
    free(b.tgt_in);
    free(b.tgt_out);
    free(rows);
    free(translated);
    free(keys);
    v->loss = tokens ? loss_sum / (double)tokens : 0.0;
    v->exact_match = v->translated ? (double)exact / v->translated : 0.0;
    if (status == 0 && !interrupted && arrlen(texts.hyps) > 0) {
        BleuScore bleu;
        ChrfScore chrf;
        status = dev_texts_score(&texts, &bleu, &chrf, err);
        v->bleu = bleu.score;
        v->chrf = chrf.score;
    }
    dev_texts_free(&texts);
    if (status < 0) return -1;
    if (interrupted) return 1;
    t->validation_seconds = monotonic_seconds() - started;
    return 0;
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
// run out.  An interrupted validation decides and saves nothing: the run
// then stops and saves its checkpoint.
static int validate_and_save(Trainer *t, TrainingLog *log, Error *err) {
    Validation v;
    int validated = trainer_validate(t, &v, err);
    if (validated != 0) return validated < 0 ? -1 : 0;
    TrainingProgress *p = &t->progress;
    bool improved = dataset_size(t->valid) > 0 && v.loss < p->best;
    if (improved) {
        p->best = v.loss;
        p->best_step = p->step;
        p->evaluations_without_improvement = 0;
        if (save_model(t, "model.safetensors", err) < 0) return -1;
        t->best = v;
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
    double sum_seconds;                // spent summing gradients over the ranks
    long steps;                        // this session's steps
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

// The forward pass of a global batch (B, S)/(B, T): this rank's rows of
// it, then the ranks' losses summed, so that dp->loss, nll and loss_tokens
// are the global batch's on every rank.  0, or -1 with err.
static int batch_forward(Trainer *t, const int32_t *src, const int32_t *tgt_in, const int32_t *tgt_out,
                         int B, int S, int T, uint64_t dropout_seed, Error *err) {
    DataParallel *dp = &t->shards;
    const World *w = world();
    int first = 0, rows = B;
    if (w->size > 1) data_parallel_split_rows(src, tgt_out, B, S, T, w->size, w->rank, &first, &rows);
    dp->row_offset = first;
    if (data_parallel_forward(dp, t->model, src + (size_t)first * S, tgt_in + (size_t)first * T,
                              tgt_out + (size_t)first * T, rows, S, T, true, dropout_seed, err) < 0) {
        return -1;
    }
    if (w->size == 1) return 0;
    double sums[3] = {dp->loss * dp->loss_tokens, dp->nll * dp->loss_tokens, dp->loss_tokens};
    if (world_sum_doubles(sums, 3, err) < 0) return -1;
    dp->loss_tokens = (int)sums[2];
    dp->loss = sums[2] > 0 ? sums[0] / sums[2] : 0.0;
    dp->nll = sums[2] > 0 ? sums[1] / sums[2] : 0.0;
    return 0;
}

// The gradients of the last batch_forward's global mean loss, added to g
// and summed over the ranks (the one all-reduce of a step, on the one
// contiguous array); *sum_seconds grows by the time the sum took.
static int batch_backward(Trainer *t, Gradients *g, double *sum_seconds, Error *err) {
    data_parallel_backward(&t->shards, t->model, g);
    if (world()->size == 1) return 0;
    const double started = monotonic_seconds();
    if (world_sum_floats(g->grads, g->n, err) < 0) return -1;
    *sum_seconds += monotonic_seconds() - started;
    return 0;
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
    if (batch_forward(t, r->src, r->tgt_in, r->tgt_out, B, S, T, dropout_seed, err) < 0) return -1;
    if (!isfinite(dp->loss)) {
        return error_set(err, "the loss became %s at step %ld (try a lower --lr or more --warmup); "
                              "the best model so far was left as it was",
                         isnan(dp->loss) ? "NaN" : "infinite", step);
    }
    // The gradients are zero here: built so, and cleared by every adamw_step.
    if (batch_backward(t, &t->gradients, &r->sum_seconds, err) < 0) return -1;
    float lr = schedule_lr(&o->schedule, step);
    // The loss above is finite, but it sees only the weights this batch uses.
    // A NaN or an infinity that reached any weight (a gradient that
    // overflowed, an update too large for a float) would spread through every
    // later step and into the next checkpoint, which the loaders then refuse:
    // it stops the run here, before anything is saved.  (Every rank holds the
    // same gradients, so every rank stops here alike.)
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
    r->steps++;
    if (!world_is_root()) return 0;  // rank 0 alone reports
    Error log_error;
    if (training_log_step(&r->log, p, dp->loss, dp->loss_tokens, lr, (long)batcher_count(&r->batcher),
                          &log_error) < 0) {
        return log_failed(&log_error, step, err);
    }
    return 0;
}

// What the ranks must agree on before the next step, since each decides
// alone whether to take it: an interrupt that reached any of them stops
// them all, and rank 0's clock is the one the time budget is measured on.
// Nothing to do for one rank.
static int agree_before_a_step(Trainer *t, Error *err) {
    const World *w = world();
    if (w->size == 1) return 0;
    double votes[2] = {interrupted ? 1.0 : 0.0, w->rank == 0 ? t->progress.elapsed : 0.0};
    if (world_sum_doubles(votes, 2, err) < 0) return -1;
    if (votes[0] > 0) interrupted = 1;
    t->progress.elapsed = votes[1];
    return 0;
}

// Rank 0 validates and saves; the others learn its verdict (1: stop early).
// A failure on rank 0 ends the whole job from the command line.
static int validate_on_rank_0(Trainer *t, TrainingLog *log, Error *err) {
    int verdict = world_is_root() ? validate_and_save(t, log, err) : 0;
    if (verdict < 0) return -1;
    if (world_broadcast(&verdict, sizeof verdict, err) < 0) return -1;
    return verdict;
}

// The stopping rule that holds before the next step, or NULL.
static const char *limit_reached(const Trainer *t) {
    const TrainerOptions *o = &t->options;
    const TrainingProgress *p = &t->progress;
    if (o->max_steps > 0 && p->step >= o->max_steps) return "the step limit";
    if (o->time_budget > 0 && o->budget_spent + p->elapsed >= o->time_budget - o->end_reserve) {
        return "the time budget";
    }
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
            if (agree_before_a_step(t, err) < 0) return -1;
            if ((r->stop_reason = limit_reached(t))) return 0;
            if (train_step(t, r, err) < 0) return -1;
            if (o->valid_every > 0 && p->step % o->valid_every == 0) {
                int v = validate_on_rank_0(t, &r->log, err);
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

int trainer_time_steps(Trainer *t, int steps, TrainerTiming *timing, Error *err) {
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
        status = batch_forward(t, r.src, r.tgt_in, r.tgt_out, B, S, T, 1, err);
        if (status == 0) status = batch_backward(t, &t->gradients, &r.sum_seconds, err);
        if (k > 0) total += monotonic_seconds() - start, timed++;
    }
    gradients_zero(&t->gradients);
    run_free(&r);
    if (status < 0) return -1;
    // rank 0 validates and ends the run alone (validate_on_rank_0,
    // finish_the_run), and its timings plan every rank's run
    double timings[3] = {timed ? total / timed : 0, 0, 0};
    if (world_is_root()) {
        Validation v;
        double start = monotonic_seconds();
        if (trainer_validate(t, &v, err) < 0) return -1;
        timings[1] = monotonic_seconds() - start;
        if (length_penalty_time(t, &timings[2], err) < 0) return -1;
    }
    if (world_broadcast(timings, sizeof timings, err) < 0) return -1;
    *timing = (TrainerTiming){timings[0], timings[1], timings[2]};
    return 0;
}

// Every rank starts from rank 0's weights, moments and progress, whatever
// it built or loaded itself: ranks that drew other initial weights (another
// seed) or read another checkpoint would each train a model of their own.
// First the shapes, so that a rank started with another corpus or options
// stops with a clear error instead of receiving bytes of another size (the
// command line compares them before any collective too; this holds for any
// caller, with the recipe's batch size now chosen).
static int start_from_rank_0(Trainer *t, Error *err) {
    if (world()->size == 1) return 0;
    const RankShape mine = {t->model->n_params, dataset_size(t->train), t->options.batch_tokens,
                            t->options.seed, t->options.time_budget};
    if (ranks_agree(&mine, err) != 0) return -1;
    if (world_broadcast(t->model->params, t->model->n_params * sizeof(float), err) < 0 ||
        world_broadcast(t->adam.m, t->adam.n * sizeof(float), err) < 0 ||
        world_broadcast(t->adam.v, t->adam.n * sizeof(float), err) < 0 ||
        world_broadcast(&t->options.budget_spent, sizeof t->options.budget_spent, err) < 0) {
        return -1;
    }
    return world_broadcast(&t->progress, sizeof t->progress, err);
}

// Rank 0's files before the first step: the temporaries of killed runs
// removed, a fresh run's state, the log opened.
static int open_the_run(Trainer *t, Run *r, Error *err) {
    char log_path[TRAINER_PATH_BYTES];
    if (trainer_path(t, "train.log", log_path, err) < 0) return -1;
    if (remove_temporaries_of_killed_runs(t, err) < 0) return -1;
    // A fresh run saves its state before the first step, so that the
    // directory holds a state to resume before it can hold a model: killed
    // at its first validation, between model.safetensors and the
    // checkpoint, it would otherwise be refused both by a fresh start (it
    // holds a model) and by --resume (it holds no state).
    if (t->progress.step == 0 && save_training_state(t, err) < 0) return -1;
    return training_log_open(&r->log, log_path, &t->options, t->progress.step, err);
}

// After the last step, on rank 0: the last validation (or, interrupted, the
// checkpoint), the checkpoints' average and the length penalty, each of
// which stops on an interrupt and fits in what is left of a time budget.
static int finish_the_run(Trainer *t, Run *r, Error *err) {
    const TrainerOptions *o = &t->options;
    const TrainingProgress *p = &t->progress;
    bool just_validated = o->valid_every > 0 && p->step % o->valid_every == 0 && p->step > 0 && !interrupted;
    if (!just_validated && !interrupted && validate_and_save(t, &r->log, err) < 0) return -1;
    // interrupted before or during the last validation
    if (interrupted) return save_checkpoint(t, err);
    if (o->average >= 2 && averaging_finish(t, &r->log, err) < 0) return -1;
    if (interrupted) return 0;
    return length_penalty_choose(t, &r->log, err);
}

// What the run says as it ends, and the log closed.
static int close_the_run(Trainer *t, Run *r, int status, Error *err) {
    const TrainingProgress *p = &t->progress;
    // an interrupt after the last step stopped the end of the run, not training
    const bool end_interrupted = interrupted && strcmp(r->stop_reason, "an interrupt") != 0;
    char reason[128];
    snprintf(reason, sizeof reason, "%s%s", r->stop_reason,
             end_interrupted ? "; an interrupt then stopped the end of the run" : "");
    training_log_finish(&r->log, p, status < 0 ? NULL : reason);
    if (status == 0) {
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        training_log_summary(&r->log, p, t->options.out_dir, (double)usage.ru_maxrss / 1024.0);
        Error world_error;
        if (training_log_world(&r->log, p, p->elapsed - r->elapsed_before, r->steps, world()->size,
                               threads_asked(), r->sum_seconds, &world_error) < 0) {
            status = log_failed(&world_error, p->step, err);
        }
    }
    Error log_error;
    if (training_log_close(&r->log, &log_error) < 0 && status == 0) {
        status = log_failed(&log_error, p->step, err);
    }
    return status;
}

int trainer_run(Trainer *t, Error *err) {
    Run r = {0};
    r.stop_reason = "the step limit";
    // the session's clock starts here: a fresh run's first save counts
    r.session_start = monotonic_seconds();
    if (prepare(t, err) < 0) return -1;
    if (!t->options_text && t->options_json && !(t->options_text = cJSON_PrintUnformatted(t->options_json))) {
        return error_out_of_memory(err, "the options' saved form", 0);
    }
    if (start_from_rank_0(t, err) < 0) return -1;
    r.elapsed_before = t->progress.elapsed;
    const TrainerOptions *o = &t->options;
    t->budget_end = o->time_budget > 0 ? r.session_start + o->time_budget - o->budget_spent - r.elapsed_before
                                       : INFINITY;
    t->best = (Validation){0};
    // Rank 0 alone writes files and reports; the others train beside it.
    const bool root = world_is_root();
    if (root && open_the_run(t, &r, err) < 0) return -1;

    struct sigaction action = {0}, old_int, old_term;
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);

    int status = train_epochs(t, &r, err);
    if (status == 0 && root && finish_the_run(t, &r, err) < 0) status = -1;
    if (root) status = close_the_run(t, &r, status, err);
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
