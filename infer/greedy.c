// Greedy decoding with the key/value cache, and what every search shares.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/search.h"

#include "core/clock.h"
#include "infer/next_token.h"

bool search_past_deadline(double deadline) {
    return deadline != SEARCH_NO_DEADLINE && monotonic_seconds() >= deadline;
}

int translation_length_limit(const Model *m, int S) {
    int limit = 2 * S + 10;
    return limit < m->config.max_len - 1 ? limit : m->config.max_len - 1;
}

int sentence_length_limit(const Model *m, const int32_t *row, int S) {
    int length = S;
    while (length > 1 && row[length - 1] == TOKEN_PAD) length--;
    return translation_length_limit(m, length);
}

void hypothesis_free(Hypothesis *h) {
    free(h->tokens);
    free(h->attention);
    memset(h, 0, sizeof *h);
}

void cross_attention_of_row(const DecoderCache *cache, const Model *m, int r, float *out) {
    AttentionView view = decoder_cache_cross_attention(cache, m);
    const int H = view.shape.H, S = view.shape.Tk;  // one query per row
    for (int j = 0; j < S; j++) out[j] = 0.0f;
    for (int h = 0; h < H; h++) {
        const float *w = view.weights + ((size_t)r * H + h) * S;
        for (int j = 0; j < S; j++) out[j] += w[j] / (float)H;
    }
}

// The working memory of a greedy search of B sentences.  A sentence that has
// ended leaves the cache, so that each step runs on the sentences still going.
typedef struct {
    DecoderCache cache;
    int32_t *next;      // (B) each cache row's last token
    int *sentence;      // (B) the sentence each cache row translates
    int *from, *at;     // (B) the rows going on, and where they go (decoder_cache_keep)
    int *limit;         // (B) each sentence's longest translation
    unsigned char *done;
} Greedy;

static void greedy_free(Greedy *g, Hypothesis *out, int B, bool failed) {
    decoder_cache_free(&g->cache);
    free(g->next);
    free(g->sentence);
    free(g->from);
    free(g->at);
    free(g->limit);
    free(g->done);
    for (int b = 0; b < B && failed; b++) hypothesis_free(&out[b]);
}

static int greedy_start(Greedy *g, const Model *m, const int32_t *src, int B, int S, int limit,
                        Hypothesis *out, Error *err) {
    memset(g, 0, sizeof *g);
    memset(out, 0, (size_t)B * sizeof *out);
    if (decoder_cache_start(&g->cache, m, src, B, S, 1, limit + 1, err) < 0) return -1;
    g->next = malloc((size_t)B * sizeof *g->next);
    g->sentence = malloc((size_t)B * sizeof *g->sentence);
    g->from = malloc((size_t)B * sizeof *g->from);
    g->at = malloc((size_t)B * sizeof *g->at);
    g->done = calloc((size_t)B, 1);
    g->limit = malloc((size_t)B * sizeof *g->limit);
    bool ok = g->next && g->sentence && g->from && g->at && g->done && g->limit;
    for (int b = 0; b < B && ok; b++) {
        out[b].tokens = malloc(((size_t)limit + 1) * sizeof(int32_t));
        out[b].attention = malloc(((size_t)limit + 1) * S * sizeof(float));
        out[b].S = S;
        g->next[b] = TOKEN_BOS;
        g->sentence[b] = b;
        g->limit[b] = sentence_length_limit(m, src + (size_t)b * S, S);
        ok = out[b].tokens && out[b].attention;
    }
    if (!ok) return error_out_of_memory(err, "greedy decoding", ((size_t)limit + 1) * S * sizeof(float));
    return 0;
}

// The next token of the sentence in cache row r, from the row's logits: the
// most probable one, or <eos> at its length limit; adds its log-probability.
// Returns whether the sentence has ended.
static bool greedy_choose(Greedy *g, const Model *m, int r, const float *logits, Hypothesis *h) {
    const int V = m->config.tgt_vocab;
    const int32_t best = h->length < g->limit[g->sentence[r]] ? next_token_argmax(logits, V) : TOKEN_EOS;
    cross_attention_of_row(&g->cache, m, r, h->attention + (size_t)h->length * h->S);
    h->log_prob += logits[best] - next_token_log_normaliser(logits, V);
    if (best == TOKEN_EOS) return true;
    h->tokens[h->length++] = best;
    return false;
}

// The sentences that have not ended go on, in fewer rows; returns how many.
static int greedy_keep_going(Greedy *g, const Model *m, const Hypothesis *out) {
    int n = 0;
    for (int r = 0; r < g->cache.rows; r++) {
        if (g->done[g->sentence[r]]) continue;
        g->from[n] = r;
        g->sentence[n++] = g->sentence[r];  // n ≤ r: what is read next is not yet overwritten
    }
    decoder_cache_keep(&g->cache, m, g->from, n, g->at);
    // at[i] is a row below n, but not necessarily i: place through a copy
    for (int i = 0; i < n; i++) g->from[i] = g->sentence[i];
    for (int i = 0; i < n; i++) {
        const Hypothesis *h = &out[g->from[i]];
        g->sentence[g->at[i]] = g->from[i];
        g->next[g->at[i]] = h->tokens[h->length - 1];
    }
    return n;
}

int greedy_translate(const Model *m, const int32_t *src, int B, int S, Hypothesis *out,
                     Error *err) {
    return greedy_translate_until(m, src, B, S, SEARCH_NO_DEADLINE, out, err);
}

int greedy_translate_until(const Model *m, const int32_t *src, int B, int S, double deadline,
                           Hypothesis *out, Error *err) {
    const int limit = translation_length_limit(m, S), V = m->config.tgt_vocab;
    Greedy g;
    if (greedy_start(&g, m, src, B, S, limit, out, err) < 0) {
        greedy_free(&g, out, B, true);
        return -1;
    }
    for (int t = 0, going = B; t <= limit && going > 0; t++) {
        if (search_past_deadline(deadline)) {
            error_set(err, "the translation was given up at step %d: past its time limit", t);
            greedy_free(&g, out, B, true);
            return -1;
        }
        const float *logits = decoder_cache_step(&g.cache, m, g.next, err);
        bool finite = true;
        for (int r = 0; logits && r < g.cache.rows; r++) finite &= next_token_logits_finite(logits + (size_t)r * V, V);
        if (!logits || !finite) {
            if (logits) next_token_not_finite(err, t);
            greedy_free(&g, out, B, true);
            return -1;
        }
        // (a few rows are not worth a parallel region: see PARALLEL_MIN_FLOATS)
        #pragma omp parallel for schedule(static) if ((size_t)g.cache.rows * V >= PARALLEL_MIN_FLOATS)
        for (int r = 0; r < g.cache.rows; r++) {
            const int b = g.sentence[r];
            g.done[b] = greedy_choose(&g, m, r, logits + (size_t)r * V, &out[b]);
        }
        going = greedy_keep_going(&g, m, out);
    }
    for (int b = 0; b < B; b++) out[b].score = out[b].log_prob / (out[b].length + 1);
    greedy_free(&g, out, B, false);
    return 0;
}
