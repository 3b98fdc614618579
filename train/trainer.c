#include "train/trainer.h"
#include "cli/report.h"  // TODO(layers): die() goes

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
#include "infer/search.h"
#include "model/model_file.h"
#include "train/batcher.h"
#include "train/training_log.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) die("out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

// ---------------------------------------------------------------- validation

int trainer_validate(Trainer *t, Validation *v, Error *err) {
    Model *m = t->model;
    const Dataset *d = t->valid;
    const size_t n = dataset_size(d);
    memset(v, 0, sizeof *v);
    if (n == 0) return 0;
    // Dev loss: the plain negative log-likelihood, without label smoothing, so
    // that exp(loss) is the perplexity.
    const float smoothing = m->config.label_smoothing;
    m->config.label_smoothing = 0.0f;
    enum { VALID_ROWS = 64 };
    int32_t *src = malloc((size_t)VALID_ROWS * m->config.max_len * sizeof *src);
    int32_t *tgt_in = malloc((size_t)VALID_ROWS * m->config.max_len * sizeof *tgt_in);
    int32_t *tgt_out = malloc((size_t)VALID_ROWS * m->config.max_len * sizeof *tgt_out);
    uint32_t rows[VALID_ROWS];
    double loss_sum = 0;
    long tokens = 0, exact = 0;
    char **hyps = NULL;           // stb_ds arrays: decoded translations and their references
    const char **refs = NULL;
    int status = 0;
    for (size_t first = 0; first < n && status == 0; first += VALID_ROWS) {
        int count = n - first < VALID_ROWS ? (int)(n - first) : VALID_ROWS;
        for (int i = 0; i < count; i++) rows[i] = (uint32_t)(first + (size_t)i);
        int S, T;
        batch_fill_pairs(d, rows, count, src, tgt_in, tgt_out, &S, &T);
        status = model_forward(m, src, tgt_in, tgt_out, count, S, T, false, 0, err);
        if (status < 0) break;
        loss_sum += m->loss * m->loss_tokens;
        tokens += m->loss_tokens;
        // exact match on the first valid_sentences pairs, by greedy decoding
        int to_translate = (int)((size_t)t->options.valid_sentences > first
                                     ? (size_t)t->options.valid_sentences - first : 0);
        if (to_translate > count) to_translate = count;
        if (to_translate <= 0) continue;
        Hypothesis out[VALID_ROWS];
        status = greedy_translate(m, src, to_translate, S, out, err);
        for (int i = 0; i < to_translate && status == 0; i++) {
            const EncodedPair *p = &d->pairs[rows[i]];
            exact += out[i].length == p->tgt_len &&
                     memcmp(out[i].tokens, d->ids + p->tgt_offset,
                            (size_t)p->tgt_len * sizeof(int32_t)) == 0;
            v->translated++;
            if (t->valid_corpus) {
                arrput(hyps, tokenizer_decode(&t->tokenizers->target, out[i].tokens,
                                              (size_t)out[i].length));
                arrput(refs, t->valid_corpus->pairs[p->corpus_index].target);
            }
        }
        for (int i = 0; i < to_translate && status == 0; i++) hypothesis_free(&out[i]);
    }
    m->config.label_smoothing = smoothing;
    free(src);
    free(tgt_in);
    free(tgt_out);
    v->loss = tokens ? loss_sum / (double)tokens : 0.0;
    v->exact_match = v->translated ? (double)exact / v->translated : 0.0;
    if (arrlen(hyps) > 0) {
        const char *const *ref_sets[1] = {refs};
        BleuScore bleu;
        ChrfScore chrf;
        bleu_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), ref_sets, 1, &bleu);
        chrf_corpus_score((const char *const *)hyps, (size_t)arrlen(hyps), ref_sets, 1, &chrf);
        v->bleu = bleu.score;
        v->chrf = chrf.score;
    }
    for (ptrdiff_t i = 0; i < arrlen(hyps); i++) free(hyps[i]);
    arrfree(hyps);
    arrfree(refs);
    return status;
}

// ---------------------------------------------------------------- saving

static int save_checkpoint(Trainer *t, Error *err) {
    char *last = path_in(t->options.out_dir, "last.safetensors");
    char *state = path_in(t->options.out_dir, "training_state.safetensors");
    int status = model_save(t->model, t->tokenizers, last, err);
    if (status == 0) {
        status = checkpoint_save(state, t->model, t->tokenizers, &t->progress, t->options_json, err);
    }
    free(last);
    free(state);
    return status;
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
        char *best = path_in(t->options.out_dir, "model.safetensors");
        int status = model_save(t->model, t->tokenizers, best, err);
        free(best);
        if (status < 0) return -1;
    } else {
        p->evaluations_without_improvement++;
    }
    training_log_validation(log, p, &v, improved);
    if (save_checkpoint(t, err) < 0) return -1;
    return t->options.patience > 0 && p->evaluations_without_improvement >= t->options.patience;
}

// ---------------------------------------------------------------- the loop

int trainer_run(Trainer *t, Error *err) {
    Model *m = t->model;
    TrainerOptions *o = &t->options;
    TrainingProgress *p = &t->progress;
    char *log_path = path_in(o->out_dir, "train.log");
    TrainingLog log;
    if (training_log_open(&log, log_path, o, p->step, err) < 0) {
        free(log_path);
        return -1;
    }
    free(log_path);

    struct sigaction action = {0}, old_int, old_term;
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);

    Batcher batcher = {0};
    int32_t *src = NULL, *tgt_in = NULL, *tgt_out = NULL;
    int status = 0;
    const char *stop_reason = "the step limit";
    double session_start = monotonic_seconds(), elapsed_before = p->elapsed;
    bool stop = false;

    while (!stop) {
        if (o->max_epochs > 0 && p->epoch >= o->max_epochs) { stop_reason = "the epoch limit"; break; }
        batcher_plan_epoch(&batcher, t->train, o->seed, p->epoch, o->batch_tokens);
        // Buffers for the largest batch of the epoch: allocated here, not per step.
        size_t rows = (size_t)batcher.max_rows;
        src = realloc(src, rows * (size_t)batcher.max_src * sizeof *src);
        tgt_in = realloc(tgt_in, rows * (size_t)batcher.max_tgt * sizeof *tgt_in);
        tgt_out = realloc(tgt_out, rows * (size_t)batcher.max_tgt * sizeof *tgt_out);
        if (!src || !tgt_in || !tgt_out) die("out of memory");

        for (; p->batch < (long)batcher_count(&batcher); p->batch++) {
            if (o->max_steps > 0 && p->step >= o->max_steps) { stop = true; stop_reason = "the step limit"; break; }
            if (o->time_budget > 0 && p->elapsed >= o->time_budget) { stop = true; stop_reason = "the time budget"; break; }
            if (interrupted) { stop = true; break; }

            int S, T;
            int B = batcher_fill(&batcher, t->train, (size_t)p->batch, src, tgt_in, tgt_out, &S, &T);
            long step = p->step + 1;
            if (model_forward(m, src, tgt_in, tgt_out, B, S, T, true,
                              rng_mix(o->seed ^ (uint64_t)step * 0x9E3779B97F4A7C15ull), err) < 0) {
                status = -1;
                stop = true;
                break;
            }
            if (!isfinite(m->loss)) {
                error_set(err, "the loss became %s at step %ld (try a lower --lr or more --warmup); "
                               "the best model so far was left as it was", isnan(m->loss) ? "NaN" : "infinite", step);
                status = -1;
                stop = true;
                break;
            }
            model_zero_grad(m);
            model_backward(m);
            clip_gradient_norm(m->grads, m->n_params, o->clip_norm);
            float lr = schedule_lr(&o->schedule, step);
            adamw_update(m, &o->adam, lr, step);

            p->step = step;
            p->tokens += m->loss_tokens;
            p->elapsed = elapsed_before + (monotonic_seconds() - session_start);
            training_log_step(&log, p, m->loss, m->loss_tokens, lr, (long)batcher_count(&batcher));

            if (o->valid_every > 0 && p->step % o->valid_every == 0) {
                p->batch++;  // this batch is done: a resume starts after it
                int r = validate_and_save(t, &log, err);
                p->batch--;
                if (r < 0) { status = -1; stop = true; break; }
                if (r == 1) { stop = true; stop_reason = "early stopping (no improvement)"; p->batch++; break; }
            }
        }
        if (!stop) {
            p->epoch++;
            p->batch = 0;
        }
    }

    if (status == 0) {
        // A last validation and checkpoint, unless one was just made.
        bool just_validated = o->valid_every > 0 && p->step % o->valid_every == 0 && p->step > 0 && !interrupted;
        if (!just_validated) {
            int r = interrupted ? save_checkpoint(t, err) : validate_and_save(t, &log, err);
            if (r < 0) status = -1;
        }
    }
    training_log_finish(&log, p, status < 0 ? NULL : interrupted ? "an interrupt" : stop_reason);
    if (status == 0) {
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        training_log_summary(&log, p, t->options.out_dir, (double)usage.ru_maxrss / 1024.0);
    }
    training_log_close(&log);
    batcher_free(&batcher);
    free(src);
    free(tgt_in);
    free(tgt_out);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (status < 0) return -1;
    return interrupted ? 130 : 0;
}
