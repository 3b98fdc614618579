// Beam search: keep the K most probable partial translations of each
// sentence, extend each by every possible next token, keep the K best of
// those, and set aside the ones that end with <eos>.  A sentence is done when
// no beam is left, or when n-best translations have ended and the best of
// them scores at least what the best beam still going would score if it
// ended at the next step with the log-probability it has now (settled(),
// below): stopping as soon as K have ended would let a few improbable
// early endings cut off the best beam before it ends.
// With K = 1 this is exactly greedy decoding: done when the most probable
// next token is <eos>.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "infer/search.h"

#include "infer/next_token.h"

typedef struct {
    float score;   // the partial translation's log-probability after this token
    int beam;      // which beam it extends
    int32_t token;
} Candidate;

// Best first; ties by beam, then token, so that K = 1 picks what greedy picks.
static int by_score(const void *x, const void *y) {
    const Candidate *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->beam != b->beam) return a->beam - b->beam;
    return a->token - b->token;
}

// Adds c to best[0..*n), kept sorted best first and at most `keep` long.
static void consider(Candidate *best, int *n, int keep, Candidate c) {
    if (*n == keep && by_score(&c, &best[*n - 1]) >= 0) return;  // not better than the worst kept
    int i = *n < keep ? (*n)++ : keep - 1;
    for (; i > 0 && by_score(&c, &best[i - 1]) < 0; i--) best[i] = best[i - 1];
    best[i] = c;
}

static double normalised(double log_prob, int length, float alpha) {
    return log_prob / pow((double)length + 1.0, alpha);
}

typedef struct {
    int32_t *tokens;    // (rows, limit) the partial translations
    float *attention;   // (rows, limit + 1, S)
    double *log_prob;   // (rows)
} Beams;

struct BeamSearch {
    const Model *m;
    int B, S, K, R, V;     // sentences, source length, beams, rows = B × K, vocabulary
    int n_best, limit, t;  // translations kept, longest translation, the step
    float alpha;
    // Beam k of sentence b is beam b × K + k.  Only the beams being extended
    // have a row in the cache, in no particular order: a sentence that has
    // ended, or has fewer beams, takes no room in the next step.
    DecoderCache cache;
    int *row;              // (R) each beam's cache row, -1 for none
    int *beam_of_row;      // (R) each cache row's beam
    int32_t *next;         // (R) each cache row's last token
    const float *logits;   // (rows, V) the last step's, by cache row
    float *log_normaliser; // (R) log Σ exp(logits) of each cache row
    Beams now, then;       // the beams before and after a step
    int *parent_row;       // (R) the cache row each next beam continues
    int *kept;             // (B) the next beams of each sentence
    int *from, *at;        // (R) rows going on and where they go (decoder_cache_keep)
    Candidate *candidates; // (B, K × 2K) each sentence's best extensions
    Hypothesis **finished; // [B] stb_ds arrays
    unsigned char *done;   // (B)
    int *sentence_limit;   // (B) each sentence's longest translation (limit: the batch's)
};

static bool beams_alloc(Beams *b, int R, int limit, int S) {
    b->tokens = calloc((size_t)R * limit + 1, sizeof(int32_t));
    b->attention = calloc((size_t)R * (limit + 1) * S, sizeof(float));
    b->log_prob = calloc((size_t)R, sizeof(double));
    return b->tokens && b->attention && b->log_prob;
}

static void beams_free(Beams *b) {
    free(b->tokens);
    free(b->attention);
    free(b->log_prob);
}

void beam_search_free(BeamSearch *s) {
    if (!s) return;
    decoder_cache_free(&s->cache);
    free(s->log_normaliser);
    beams_free(&s->now);
    beams_free(&s->then);
    free(s->row);
    free(s->beam_of_row);
    free(s->next);
    free(s->parent_row);
    free(s->kept);
    free(s->from);
    free(s->at);
    free(s->candidates);
    for (int b = 0; s->finished && b < s->B; b++) {
        for (ptrdiff_t i = 0; i < arrlen(s->finished[b]); i++) hypothesis_free(&s->finished[b][i]);
        arrfree(s->finished[b]);
    }
    free(s->finished);
    free(s->done);
    free(s->sentence_limit);
    free(s);
}

int beam_search_init(BeamSearch **out, const Model *m, const int32_t *src, int B, int S, int K,
                     float alpha, int n_best, Error *err) {
    *out = NULL;
    BeamSearch *s = calloc(1, sizeof *s);
    if (!s) return error_out_of_memory(err, "beam search", sizeof *s);
    *s = (BeamSearch){.m = m, .B = B, .S = S, .K = K, .R = B * K, .V = m->config.tgt_vocab,
                      .n_best = n_best > K ? K : n_best, .limit = translation_length_limit(m, S),
                      .alpha = alpha};
    if (decoder_cache_start(&s->cache, m, src, B, S, K, s->limit + 1, err) < 0) {
        beam_search_free(s);
        return -1;
    }
    const int R = s->R;
    s->log_normaliser = malloc((size_t)R * sizeof *s->log_normaliser);
    s->row = malloc((size_t)R * sizeof *s->row);
    s->beam_of_row = malloc((size_t)R * sizeof *s->beam_of_row);
    s->next = malloc((size_t)R * sizeof *s->next);
    s->parent_row = malloc((size_t)R * sizeof *s->parent_row);
    s->kept = calloc((size_t)B, sizeof *s->kept);
    s->from = malloc((size_t)R * sizeof *s->from);
    s->at = malloc((size_t)R * sizeof *s->at);
    s->candidates = malloc((size_t)B * K * 2 * K * sizeof *s->candidates);
    s->finished = calloc((size_t)B, sizeof *s->finished);
    s->done = calloc((size_t)B, 1);
    s->sentence_limit = malloc((size_t)B * sizeof *s->sentence_limit);
    if (!beams_alloc(&s->now, R, s->limit, S) || !beams_alloc(&s->then, R, s->limit, S) ||
        !s->log_normaliser || !s->row || !s->beam_of_row || !s->next || !s->parent_row ||
        !s->kept || !s->from || !s->at || !s->candidates || !s->finished || !s->done ||
        !s->sentence_limit) {
        const size_t bytes = (size_t)R * s->V * sizeof(float);  // read before s goes
        beam_search_free(s);
        return error_out_of_memory(err, "beam search", bytes);
    }
    // At the start every beam of a sentence is the same empty translation:
    // only the first is extended (the cache's row b), or the beams would be
    // K copies.
    for (int r = 0; r < R; r++) s->row[r] = r % K == 0 ? r / K : -1;
    for (int b = 0; b < B; b++) {
        s->beam_of_row[b] = b * K;
        s->next[b] = TOKEN_BOS;
    }
    for (int b = 0; b < B; b++) s->sentence_limit[b] = sentence_length_limit(m, src + (size_t)b * S, S);
    *out = s;
    return 0;
}

// Each live beam of sentence b offers its 2K best extensions: enough, since
// at most K of all of them are kept and at most K more can end with <eos>.
// Returns how many candidates, sorted best first.
static Candidate *candidates_of(BeamSearch *s, int b) {
    return s->candidates + (size_t)b * s->K * 2 * s->K;
}

static int gather_candidates(BeamSearch *s, int b) {
    Candidate *all = candidates_of(s, b);
    const int K = s->K, t = s->t;
    int n = 0;
    for (int k = 0; k < K; k++) {
        const int r = s->row[b * K + k];
        if (r < 0) continue;
        const float *logits = s->logits + (size_t)r * s->V, log_z = s->log_normaliser[r];
        Candidate *mine = all + n;
        int count = 0;
        double base = s->now.log_prob[b * K + k];
        // at the length limit only <eos> may follow
        const int32_t end = t < s->sentence_limit[b] ? s->V : TOKEN_EOS + 1;
        // Once 2K are kept, a token whose logit is not above the worst kept
        // one's cannot score better (the score grows with the logit), nor win
        // a tie (its id is higher): most tokens are passed over on one compare.
        float worst = 0.0f;
        for (int32_t v = TOKEN_FIRST_ALLOWED; v < end; v++) {
            if (count == 2 * K && logits[v] <= worst) continue;
            consider(mine, &count, 2 * K, (Candidate){(float)(base + (logits[v] - log_z)), k, v});
            if (count == 2 * K) worst = logits[mine[count - 1].token];
        }
        n += count;
    }
    qsort(all, (size_t)n, sizeof *all, by_score);
    return n;
}

// A candidate ending in <eos>: a finished translation of `length` tokens.
static int keep_finished(BeamSearch *s, int b, int from, const Candidate *c, Error *err) {
    const int length = s->t, S = s->S;
    Hypothesis h = {0};
    h.length = length;
    h.S = S;
    h.tokens = malloc(((size_t)length + 1) * sizeof(int32_t));
    h.attention = malloc(((size_t)length + 1) * S * sizeof(float));
    if (!h.tokens || !h.attention) {
        hypothesis_free(&h);
        return error_out_of_memory(err, "a finished translation", ((size_t)length + 1) * S * sizeof(float));
    }
    memcpy(h.tokens, s->now.tokens + (size_t)from * s->limit, (size_t)length * sizeof(int32_t));
    memcpy(h.attention, s->now.attention + (size_t)from * (s->limit + 1) * S,
           ((size_t)length + 1) * S * sizeof(float));
    h.log_prob = c->score;
    h.score = normalised(c->score, length, s->alpha);
    arrput(s->finished[b], h);
    return 0;
}

// Row `to` of the next beams continues row `from` with the candidate's token.
static void extend(BeamSearch *s, int to, int from, const Candidate *c) {
    const int t = s->t, S = s->S, limit = s->limit;
    memcpy(s->then.tokens + (size_t)to * limit, s->now.tokens + (size_t)from * limit,
           (size_t)t * sizeof(int32_t));
    s->then.tokens[(size_t)to * limit + t] = c->token;
    memcpy(s->then.attention + (size_t)to * (limit + 1) * S,
           s->now.attention + (size_t)from * (limit + 1) * S, ((size_t)t + 1) * S * sizeof(float));
    s->then.log_prob[to] = c->score;
    s->parent_row[to] = s->row[from];
}

// Whether sentence b's search is over once it has its n-best finished: no
// beam still alive can overtake the best finished translation.  A beam's
// log-probability only falls as it grows, but its length normalisation
// rises, so the test is the usual estimate (as in fairseq and Hugging Face's
// search): the beam ending at the next step, with the score it has now.
// Stopping instead when the best candidate is <eos> would ignore the
// normalisation, which then decides nothing: the longer translations it
// should let win are never reached.  A beam of one stays greedy decoding.
static bool settled(const BeamSearch *s, int b, int kept, const Candidate *all, int n) {
    if (s->K == 1) return n > 0 && all[0].token == TOKEN_EOS;
    if (kept == 0) return true;
    const Hypothesis *f = s->finished[b];
    double best_finished = -INFINITY;
    for (ptrdiff_t i = 0; i < arrlen(f); i++) best_finished = fmax(best_finished, f[i].score);
    // the best beam kept is the first: candidates come best first
    return best_finished >= normalised(s->then.log_prob[b * s->K], s->t + 1, s->alpha);
}

// The K best extensions of sentence b: those ending in <eos> are finished;
// the others become its next beams.
static int advance_sentence(BeamSearch *s, int b, Error *err) {
    const int K = s->K;
    s->kept[b] = 0;
    if (s->done[b]) return 0;
    int n = gather_candidates(s, b), kept = 0;
    const Candidate *all = candidates_of(s, b);
    for (int i = 0; i < n && kept < K; i++) {
        const Candidate *c = &all[i];
        int from = b * K + c->beam;
        if (c->token == TOKEN_EOS) {
            if (keep_finished(s, b, from, c, err) < 0) return -1;
            continue;
        }
        extend(s, b * K + kept++, from, c);
    }
    s->done[b] = kept == 0 || (arrlen(s->finished[b]) >= s->n_best && settled(s, b, kept, all, n));
    s->kept[b] = s->done[b] ? 0 : kept;
    return 0;
}

// The next beams take their rows in the cache; the others leave it.
static void keep_next_beams(BeamSearch *s) {
    const int K = s->K;
    int n = 0;
    for (int b = 0; b < s->B; b++) {
        for (int k = 0; k < s->kept[b]; k++) {
            s->beam_of_row[n] = b * K + k;  // for now: the i-th next beam
            s->from[n++] = s->parent_row[b * K + k];
        }
    }
    decoder_cache_keep(&s->cache, s->m, s->from, n, s->at);
    for (int j = 0; j < s->R; j++) s->row[j] = -1;
    for (int i = 0; i < n; i++) s->row[s->beam_of_row[i]] = s->at[i];
    for (int j = 0; j < s->R; j++) {
        if (s->row[j] < 0) continue;
        s->beam_of_row[s->row[j]] = j;
        s->next[s->row[j]] = s->then.tokens[(size_t)j * s->limit + s->t];
    }
}

int beam_search_step(BeamSearch *s, Error *err) {
    bool any_alive = false;
    for (int b = 0; b < s->B; b++) any_alive |= !s->done[b];
    if (!any_alive || s->t > s->limit) return 0;
    s->logits = decoder_cache_step(&s->cache, s->m, s->next, err);
    if (!s->logits) return -1;
    for (int r = 0; r < s->cache.rows; r++) {
        if (!next_token_logits_finite(s->logits + (size_t)r * s->V, s->V)) return next_token_not_finite(err, s->t);
    }
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < s->cache.rows; r++) {
        s->log_normaliser[r] = next_token_log_normaliser(s->logits + (size_t)r * s->V, s->V);
        const int j = s->beam_of_row[r];
        cross_attention_of_row(&s->cache, s->m, r,
                               s->now.attention + ((size_t)j * (s->limit + 1) + s->t) * s->S);
    }
    // The sentences are independent: one thread each.
    int failed = 0;
    #pragma omp parallel for schedule(dynamic)
    for (int b = 0; b < s->B; b++) {
        Error why;
        if (advance_sentence(s, b, &why) < 0) {
            #pragma omp critical
            if (!failed++ && err) *err = why;
        }
    }
    if (failed) return -1;
    keep_next_beams(s);
    Beams swap = s->now;
    s->now = s->then;
    s->then = swap;
    s->t++;
    return 1;
}

void beam_search_finish(BeamSearch *s, Hypothesis *out) {
    for (int b = 0; b < s->B; b++) {
        Hypothesis *f = s->finished[b];
        int n_finished = (int)arrlen(f);
        for (int i = 1; i < n_finished; i++) {  // insertion sort by score: the lists are short
            Hypothesis h = f[i];
            int j = i - 1;
            for (; j >= 0 && f[j].score < h.score; j--) f[j + 1] = f[j];
            f[j + 1] = h;
        }
        for (int i = 0; i < s->n_best; i++) {
            Hypothesis *o = &out[(size_t)b * s->n_best + i];
            memset(o, 0, sizeof *o);
            if (i < n_finished) {
                *o = f[i];
                f[i].tokens = NULL;
                f[i].attention = NULL;
            } else {
                o->score = o->log_prob = -INFINITY;
            }
        }
    }
}

int beam_translate(const Model *m, const int32_t *src, int B, int S, int K, float alpha,
                   int n_best, Hypothesis *out, Error *err) {
    return beam_translate_until(m, src, B, S, K, alpha, n_best, SEARCH_NO_DEADLINE, out, err);
}

int beam_translate_until(const Model *m, const int32_t *src, int B, int S, int K, float alpha,
                         int n_best, double deadline, Hypothesis *out, Error *err) {
    BeamSearch *s;
    if (beam_search_init(&s, m, src, B, S, K, alpha, n_best, err) < 0) return -1;
    int status;
    while ((status = beam_search_step(s, err)) > 0) {
        if (search_past_deadline(deadline)) {
            status = error_set(err, "the translation was given up at step %d: past its time limit", s->t);
            break;
        }
    }
    if (status == 0) beam_search_finish(s, out);
    beam_search_free(s);
    return status;
}
