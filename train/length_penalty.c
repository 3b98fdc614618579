#include "train/length_penalty.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "infer/search.h"
#include "infer/translator.h"
#include "model/model_file.h"
#include "train/batcher.h"

static const float alphas[] = TRANSLATOR_LENGTH_PENALTIES;
enum { N_ALPHAS = sizeof alphas / sizeof alphas[0] };

// The dev pairs searched together: every alpha translates the same ones, so
// that the search can stop after any chunk and still compare the alphas.
enum { ROWS = 64 };

// Padded sources of a chunk of dev pairs.
typedef struct {
    int32_t *src, *tgt_in, *tgt_out;
    uint32_t rows[ROWS];
    int count, S;
} Chunk;

static int chunk_alloc(Chunk *c, const Model *m, Error *err) {
    const size_t ids = (size_t)ROWS * m->config.max_len;
    c->src = malloc(ids * sizeof *c->src);
    c->tgt_in = malloc(ids * sizeof *c->tgt_in);
    c->tgt_out = malloc(ids * sizeof *c->tgt_out);
    return c->src && c->tgt_in && c->tgt_out ? 0 : error_out_of_memory(err, "choosing the length penalty", ids);
}

static void chunk_free(Chunk *c) {
    free(c->src);
    free(c->tgt_in);
    free(c->tgt_out);
}

// The dev pairs rows[0 .. count) into the chunk.
static void chunk_fill(Chunk *c, const Trainer *t, const uint32_t *rows, int count) {
    int T;
    for (int i = 0; i < count; i++) c->rows[i] = rows[i];
    c->count = count;
    batch_fill_pairs(t->valid, c->rows, count, c->src, c->tgt_in, c->tgt_out, &c->S, &T);
}

// Beam-4 translations of the chunk at alpha into out: 0, 1 when stopped by
// an interrupt or the deadline (checked after every step of the search, a
// few milliseconds apart; out is then empty), or -1 with err.
static int search_chunk(const Model *m, const Chunk *c, float alpha, double deadline, Hypothesis *out,
                        Error *err) {
    BeamSearch *s;
    if (beam_search_init(&s, m, c->src, c->count, c->S, LENGTH_PENALTY_BEAM, alpha, 1, err) < 0) return -1;
    int status;
    while ((status = beam_search_step(s, err)) > 0) {
        if (trainer_interrupted() || monotonic_seconds() > deadline) break;
    }
    if (status == 0) beam_search_finish(s, out);
    beam_search_free(s);
    return status < 0 ? -1 : status > 0;
}

int length_penalty_time(const Trainer *t, double *seconds, Error *err) {
    const size_t n = dataset_size(t->valid);
    *seconds = 0;
    if (n == 0 || !t->valid_corpus) return 0;
    // pairs from all over the dev set, not only its first lines
    const int count = n < LENGTH_PENALTY_SAMPLE ? (int)n : LENGTH_PENALTY_SAMPLE;
    uint32_t rows[LENGTH_PENALTY_SAMPLE];
    for (int i = 0; i < count; i++) rows[i] = (uint32_t)((size_t)i * n / (size_t)count);
    Chunk c = {0};
    Hypothesis out[LENGTH_PENALTY_SAMPLE];
    int status = chunk_alloc(&c, t->model, err);
    if (status == 0) {
        chunk_fill(&c, t, rows, count);
        const double start = monotonic_seconds();
        status = search_chunk(t->model, &c, TRANSLATOR_DEFAULT_LENGTH_PENALTY, INFINITY, out, err);
        const double took = monotonic_seconds() - start;
        // A search's steps are about its translations' tokens: an untrained
        // model's run to their length limit, a trained one's about as long
        // as the references.
        double translated = 0, references = 0;
        for (int i = 0; status == 0 && i < count; i++) {
            translated += out[i].length + 1;
            references += t->valid->pairs[rows[i]].tgt_len + 1;
            hypothesis_free(&out[i]);
        }
        if (status == 0) *seconds = took * ((double)n / count) * N_ALPHAS * (references / translated);
    }
    chunk_free(&c);
    return status < 0 ? -1 : 0;
}

// Why the search is not worth its time, into why; false when it is.  A
// model whose greedy translations score (nearly) no BLEU has learnt next to
// nothing: every alpha would score the same nothing, after searching every
// sentence to its length limit.
static bool not_worth_it(const Trainer *t, char *why, size_t size) {
    const Validation *v = &t->best;
    if (v->translated == 0 || v->bleu >= LENGTH_PENALTY_MIN_BLEU) return false;
    snprintf(why, size, "the best model's greedy dev BLEU is %.2f (below %g): it has not learnt enough for the "
                        "length penalty to matter", v->bleu, LENGTH_PENALTY_MIN_BLEU);
    return true;
}

// When the search must end: what the time budget leaves (less the time to
// save the model and end the run), or, without a budget, a quarter of the
// time trained, and at least LENGTH_PENALTY_MIN_SECONDS.  limit says which.
static double search_deadline(const Trainer *t, double now, char *limit, size_t size) {
    const double left = trainer_seconds_left(t);
    if (left < INFINITY) {
        snprintf(limit, size, "the time budget");
        return now + left - LENGTH_PENALTY_END_SECONDS;
    }
    snprintf(limit, size, "its share of the run's time");
    return now + fmax(LENGTH_PENALTY_MIN_SECONDS, t->progress.elapsed / 4);
}

// What the search found: texts and scores per alpha over the chunks done.
typedef struct {
    DevTexts texts[N_ALPHAS];
    BleuScore scores[N_ALPHAS];
    size_t pairs;              // in the chunks every alpha translated
    bool stopped;              // by an interrupt or the deadline
} Search;

// Translates chunk after chunk with every alpha until the dev pairs, the
// deadline or an interrupt end; a chunk cut short is dropped.
static int search_chunks(const Trainer *t, const Model *m, double deadline, Search *s, Error *err) {
    const size_t n = dataset_size(t->valid);
    Chunk c = {0};
    int status = chunk_alloc(&c, m, err);
    for (size_t first = 0; first < n && status == 0; first += ROWS) {
        uint32_t rows[ROWS];
        const int count = n - first < ROWS ? (int)(n - first) : ROWS;
        for (int i = 0; i < count; i++) rows[i] = (uint32_t)(first + (size_t)i);
        chunk_fill(&c, t, rows, count);
        Hypothesis out[N_ALPHAS][ROWS];
        int searched = 0;  // the alphas whose translations are in out
        while (searched < N_ALPHAS && status == 0) {
            status = search_chunk(m, &c, alphas[searched], deadline, out[searched], err);
            if (status == 0) searched++;
        }
        for (int a = 0; a < N_ALPHAS && status == 0; a++) {
            status = dev_texts_add(&s->texts[a], t, out[a], c.rows, count, err);
        }
        if (status == 0) s->pairs += (size_t)count;
        for (int a = 0; a < searched; a++) {
            for (int i = 0; i < count; i++) hypothesis_free(&out[a][i]);
        }
    }
    chunk_free(&c);
    if (status < 0) return -1;
    s->stopped = status == 1;
    return 0;
}

int length_penalty_choose(Trainer *t, TrainingLog *log, Error *err) {
    // All the dev pairs that time allows: on spa-eng's first 500, the
    // differences between alphas were noise (the best there was the worst
    // on all 2,000).
    const size_t n = dataset_size(t->valid);
    if (n == 0 || !t->valid_corpus) return 0;
    char text[512], why[256], limit[64];
    if (not_worth_it(t, why, sizeof why)) {
        snprintf(text, sizeof text, "length penalty not searched: %s; model.safetensors keeps the default %g",
                 why, (double)TRANSLATOR_DEFAULT_LENGTH_PENALTY);
        return training_log_note(log, &t->progress, "length_penalty", text, err);
    }
    char path[TRAINER_PATH_BYTES];
    if (trainer_path(t, "model.safetensors", path, err) < 0) return -1;
    Model best;
    if (model_load(&best, NULL, path, err) < 0) return -1;
    const double start = monotonic_seconds(), deadline = search_deadline(t, start, limit, sizeof limit);
    snprintf(text, sizeof text, "choosing the length penalty: beam %d at %d alphas on %zu dev pairs, for at most "
                                "%.1f s (%s)", LENGTH_PENALTY_BEAM, N_ALPHAS, n, fmax(deadline - start, 0), limit);
    training_log_say(log, text);
    Search s = {0};
    int status = search_chunks(t, &best, deadline, &s, err), chosen = -1;
    for (int a = 0; a < N_ALPHAS && status == 0 && s.pairs > 0; a++) {
        status = dev_texts_score(&s.texts[a], &s.scores[a], NULL, err);
        if (status < 0) break;
        // of equal scores, the alpha nearest the default wins: no reason to move from it
        const float from_default = fabsf(alphas[a] - TRANSLATOR_DEFAULT_LENGTH_PENALTY);
        if (chosen < 0 || s.scores[a].score > s.scores[chosen].score ||
            (s.scores[a].score == s.scores[chosen].score &&
             from_default < fabsf(alphas[chosen] - TRANSLATOR_DEFAULT_LENGTH_PENALTY))) {
            chosen = a;
        }
    }
    for (int a = 0; a < N_ALPHAS; a++) dev_texts_free(&s.texts[a]);
    if (status == 0 && s.stopped) {
        const double took = monotonic_seconds() - start;
        if (trainer_interrupted()) {
            snprintf(text, sizeof text, "length penalty search interrupted after %.1f s: model.safetensors keeps "
                                        "its length penalty", took);
        } else if (s.pairs == 0) {
            snprintf(text, sizeof text, "length penalty not chosen: %s left %.1f s for the search, too little "
                                        "for the first %d dev pairs; model.safetensors keeps the default %g",
                     limit, fmax(deadline - start, 0), n < ROWS ? (int)n : ROWS,
                     (double)TRANSLATOR_DEFAULT_LENGTH_PENALTY);
        } else {
            snprintf(text, sizeof text, "length penalty searched on the first %zu of the %zu dev pairs: %s left "
                                        "%.1f s for the search", s.pairs, n, limit, fmax(deadline - start, 0));
        }
        status = training_log_note(log, &t->progress, "length_penalty", text, err);
        if (trainer_interrupted() || s.pairs == 0) chosen = -1;
    }
    if (status == 0 && chosen >= 0) {
        char decoding[160];
        snprintf(decoding, sizeof decoding,
                 "{\"length_penalty\": %g, \"chosen_by\": \"dev BLEU, beam %d, %zu pairs\"}",
                 (double)alphas[chosen], LENGTH_PENALTY_BEAM, s.pairs);
        status = trainer_save_model(t, &best, "model.safetensors", decoding, err);
    }
    model_free(&best);
    if (status < 0 || chosen < 0) return status < 0 ? -1 : 0;
    return training_log_length_penalty(log, &t->progress, alphas, s.scores, N_ALPHAS, chosen, s.pairs,
                                       LENGTH_PENALTY_BEAM, err);
}
