// Beam search: keep the K most probable partial translations of each
// sentence, extend each by every possible next token, keep the K best of
// those, and set aside the ones that end with <eos>.  A sentence is done when
// the most probable extension of all is <eos> (and n-best translations have
// ended): stopping as soon as K have ended would let a few improbable early
// endings cut off the best beam before it ends.  With K = 1 this is exactly
// greedy decoding.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "infer/decoder_state.h"
#include "infer/search.h"
#include "core/special_tokens.h"

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

int beam_translate(Model *m, const int32_t *src, int B, int S, int K, float alpha, int n_best,
                   Hypothesis *out, Error *err) {
    if (n_best > K) n_best = K;
    if (model_encode(m, src, B, S, err) < 0) return -1;
    const int limit = translation_length_limit(m, S), V = m->config.tgt_vocab, R = B * K;
    DecoderState d;
    decoder_state_init(&d, m, K, limit + 1);
    float *log_probs = malloc((size_t)R * V * sizeof *log_probs);
    Beams now = {calloc((size_t)R * limit + 1, sizeof(int32_t)),
                 calloc((size_t)R * (limit + 1) * S, sizeof(float)), calloc((size_t)R, sizeof(double))};
    Beams then = {calloc((size_t)R * limit + 1, sizeof(int32_t)),
                  calloc((size_t)R * (limit + 1) * S, sizeof(float)), calloc((size_t)R, sizeof(double))};
    int32_t *next = malloc((size_t)R * sizeof *next);
    int *parents = malloc((size_t)R * sizeof *parents);
    Candidate *candidates = malloc((size_t)K * 2 * K * sizeof *candidates);
    Hypothesis **finished = calloc((size_t)B, sizeof *finished);  // stb_ds arrays
    unsigned char *done = calloc((size_t)B, 1);
    unsigned char *alive_beam = calloc((size_t)R, 1);
    float *alignment = malloc((size_t)S * sizeof *alignment);

    // At the start every beam of a sentence is the same empty translation:
    // only the first may be extended, or the beams would be K copies.
    for (int r = 0; r < R; r++) {
        next[r] = TOKEN_BOS;
        alive_beam[r] = r % K == 0;
    }
    for (int t = 0; t <= limit; t++) {
        bool any_alive = false;
        for (int b = 0; b < B; b++) any_alive |= !done[b];
        if (!any_alive) break;
        decoder_state_step(&d, next);
        decoder_state_log_probs(&d, log_probs);
        for (int r = 0; r < R; r++) {
            if (!alive_beam[r]) continue;
            decoder_state_alignment(&d, r, alignment);
            memcpy(now.attention + ((size_t)r * (limit + 1) + t) * S, alignment, (size_t)S * sizeof(float));
        }
        for (int b = 0; b < B; b++) {
            int *parent = parents + (size_t)b * K;
            for (int k = 0; k < K; k++) parent[k] = b * K + k;  // unchanged unless extended
            if (done[b]) continue;
            // Each beam's 2K best extensions are enough: at most K of all of
            // them are kept, and at most K more can end with <eos>.
            int n = 0;
            for (int k = 0; k < K; k++) {
                int r = b * K + k;
                if (!alive_beam[r]) continue;
                const float *lp = log_probs + (size_t)r * V;
                Candidate *mine = candidates + n;
                int count = 0;
                // at the length limit only <eos> may follow
                consider(mine, &count, 2 * K, (Candidate){(float)(now.log_prob[r] + lp[TOKEN_EOS]), k, TOKEN_EOS});
                for (int32_t v = TOKEN_SPECIAL_COUNT; v < V && t < limit; v++) {
                    consider(mine, &count, 2 * K, (Candidate){(float)(now.log_prob[r] + lp[v]), k, v});
                }
                n += count;
            }
            qsort(candidates, (size_t)n, sizeof *candidates, by_score);
            // The K best extensions: those ending in <eos> are finished; the
            // others become the next beams.
            int kept = 0;
            for (int i = 0; i < n && kept < K; i++) {
                const Candidate *c = &candidates[i];
                int from = b * K + c->beam;
                int length = t;  // tokens so far on this beam
                if (c->token == TOKEN_EOS) {
                    Hypothesis *h = arraddnptr(finished[b], 1);
                    memset(h, 0, sizeof *h);
                    h->length = length;
                    h->tokens = malloc(((size_t)length + 1) * sizeof(int32_t));
                    memcpy(h->tokens, now.tokens + (size_t)from * limit, (size_t)length * sizeof(int32_t));
                    h->attention = malloc(((size_t)length + 1) * S * sizeof(float));
                    memcpy(h->attention, now.attention + (size_t)from * (limit + 1) * S,
                           ((size_t)length + 1) * S * sizeof(float));
                    h->S = S;
                    h->log_prob = c->score;
                    h->score = normalised(c->score, length, alpha);
                    continue;
                }
                int to = b * K + kept++;
                parent[to - b * K] = from;
                memcpy(then.tokens + (size_t)to * limit, now.tokens + (size_t)from * limit, (size_t)t * sizeof(int32_t));
                then.tokens[(size_t)to * limit + t] = c->token;
                memcpy(then.attention + (size_t)to * (limit + 1) * S, now.attention + (size_t)from * (limit + 1) * S,
                       ((size_t)t + 1) * S * sizeof(float));
                then.log_prob[to] = c->score;
                next[to] = c->token;
            }
            done[b] = kept == 0 || (n > 0 && candidates[0].token == TOKEN_EOS &&
                                    arrlen(finished[b]) >= n_best);
            for (int k = 0; k < K; k++) alive_beam[b * K + k] = k < kept && !done[b];
        }
        decoder_state_reorder(&d, parents);
        Beams swap = now;
        now = then;
        then = swap;
    }
    // Rank each sentence's finished translations by normalised score.
    for (int b = 0; b < B; b++) {
        Hypothesis *f = finished[b];
        int n_finished = (int)arrlen(f);
        for (int i = 1; i < n_finished; i++) {  // insertion sort: the lists are short
            Hypothesis h = f[i];
            int j = i - 1;
            for (; j >= 0 && f[j].score < h.score; j--) f[j + 1] = f[j];
            f[j + 1] = h;
        }
        for (int i = 0; i < n_best; i++) {
            if (i < n_finished) {
                out[(size_t)b * n_best + i] = f[i];
                f[i].tokens = NULL;
                f[i].attention = NULL;
            } else {
                memset(&out[(size_t)b * n_best + i], 0, sizeof(Hypothesis));
                out[(size_t)b * n_best + i].score = -INFINITY;
                out[(size_t)b * n_best + i].log_prob = -INFINITY;
            }
        }
        for (int i = 0; i < n_finished; i++) hypothesis_free(&f[i]);
        arrfree(finished[b]);
    }
    free(log_probs);
    free(now.tokens); free(now.attention); free(now.log_prob);
    free(then.tokens); free(then.attention); free(then.log_prob);
    free(next); free(parents); free(candidates); free(finished); free(done);
    free(alive_beam); free(alignment);
    decoder_state_free(&d);
    return 0;
}
