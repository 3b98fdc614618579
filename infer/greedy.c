// Greedy decoding with the key/value cache, and what every search shares.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/search.h"

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

void next_token_log_probs(const float *logits, int rows, int V, float *log_probs) {
    // Rows are independent: one thread each, and within a row a fixed order,
    // so the result does not depend on the number of threads.
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = logits + (size_t)r * V;
        float *out = log_probs + (size_t)r * V;
        float max = x[TOKEN_EOS];
        for (int v = TOKEN_SPECIAL_COUNT; v < V; v++) if (x[v] > max) max = x[v];
        // exp in float (each term is in (0, 1]), the sum of thousands in double
        double sum = expf(x[TOKEN_EOS] - max);
        for (int v = TOKEN_SPECIAL_COUNT; v < V; v++) sum += expf(x[v] - max);
        float log_z = max + (float)log(sum);
        for (int v = 0; v < V; v++) {
            bool allowed = v == TOKEN_EOS || v >= TOKEN_SPECIAL_COUNT;
            out[v] = allowed ? x[v] - log_z : -INFINITY;
        }
    }
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

// The working memory of a greedy search of B sentences.
typedef struct {
    DecoderCache cache;
    float *log_probs;   // (B, V)
    int32_t *next;      // (B)
    int *limit;         // (B) each sentence's longest translation
    unsigned char *done;
} Greedy;

static void greedy_free(Greedy *g, Hypothesis *out, int B, bool failed) {
    decoder_cache_free(&g->cache);
    free(g->log_probs);
    free(g->next);
    free(g->limit);
    free(g->done);
    for (int b = 0; b < B && failed; b++) hypothesis_free(&out[b]);
}

static int greedy_start(Greedy *g, const Model *m, const int32_t *src, int B, int S, int limit,
                        Hypothesis *out, Error *err) {
    memset(g, 0, sizeof *g);
    memset(out, 0, (size_t)B * sizeof *out);
    if (decoder_cache_start(&g->cache, m, src, B, S, 1, limit + 1, err) < 0) return -1;
    const int V = m->config.tgt_vocab;
    g->log_probs = malloc((size_t)B * V * sizeof *g->log_probs);
    g->next = malloc((size_t)B * sizeof *g->next);
    g->done = calloc((size_t)B, 1);
    g->limit = malloc((size_t)B * sizeof *g->limit);
    bool ok = g->log_probs && g->next && g->done && g->limit;
    for (int b = 0; b < B && ok; b++) {
        out[b].tokens = malloc(((size_t)limit + 1) * sizeof(int32_t));
        out[b].attention = malloc(((size_t)limit + 1) * S * sizeof(float));
        out[b].S = S;
        g->next[b] = TOKEN_BOS;
        g->limit[b] = sentence_length_limit(m, src + (size_t)b * S, S);
        ok = out[b].tokens && out[b].attention;
    }
    if (!ok) return error_out_of_memory(err, "greedy decoding", (size_t)B * V * sizeof(float));
    return 0;
}

int greedy_translate(const Model *m, const int32_t *src, int B, int S, Hypothesis *out,
                     Error *err) {
    const int limit = translation_length_limit(m, S), V = m->config.tgt_vocab;
    Greedy g;
    if (greedy_start(&g, m, src, B, S, limit, out, err) < 0) {
        greedy_free(&g, out, B, true);
        return -1;
    }
    int remaining = B;
    for (int t = 0; t <= limit && remaining > 0; t++) {
        const float *logits = decoder_cache_step(&g.cache, m, g.next, err);
        if (!logits) {
            greedy_free(&g, out, B, true);
            return -1;
        }
        next_token_log_probs(logits, B, V, g.log_probs);
        for (int b = 0; b < B; b++) {
            if (g.done[b]) continue;
            const float *lp = g.log_probs + (size_t)b * V;
            Hypothesis *h = &out[b];
            int32_t best = TOKEN_EOS;  // at the length limit, the translation must end
            for (int32_t v = TOKEN_SPECIAL_COUNT; v < V && h->length < g.limit[b]; v++) {
                if (lp[v] > lp[best]) best = v;
            }
            cross_attention_of_row(&g.cache, m, b, h->attention + (size_t)h->length * S);
            h->log_prob += lp[best];
            if (best == TOKEN_EOS) {
                g.done[b] = 1;
                remaining--;
                continue;
            }
            h->tokens[h->length++] = best;
            g.next[b] = best;
        }
    }
    for (int b = 0; b < B; b++) out[b].score = out[b].log_prob / (out[b].length + 1);
    greedy_free(&g, out, B, false);
    return 0;
}
