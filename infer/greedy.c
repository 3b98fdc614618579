// Greedy decoding with the key/value cache.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/decoder_state.h"
#include "infer/search.h"
#include "core/special_tokens.h"

int translation_length_limit(const Model *m, int S) {
    int limit = 2 * S + 10;
    return limit < m->config.max_len - 1 ? limit : m->config.max_len - 1;
}

void hypothesis_free(Hypothesis *h) {
    free(h->tokens);
    free(h->attention);
    memset(h, 0, sizeof *h);
}

int greedy_translate(Model *m, const int32_t *src, int B, int S, Hypothesis *out, Error *err) {
    if (model_encode(m, src, B, S, err) < 0) return -1;
    const int limit = translation_length_limit(m, S), V = m->config.tgt_vocab;
    DecoderState d;
    decoder_state_init(&d, m, 1, limit + 1);
    float *log_probs = malloc((size_t)B * V * sizeof *log_probs);
    int32_t *next = malloc((size_t)B * sizeof *next);
    unsigned char *done = calloc((size_t)B, 1);
    for (int b = 0; b < B; b++) {
        memset(&out[b], 0, sizeof out[b]);
        out[b].tokens = malloc((size_t)limit * sizeof(int32_t));
        out[b].attention = malloc((size_t)(limit + 1) * S * sizeof(float));
        out[b].S = S;
        next[b] = TOKEN_BOS;
    }
    int remaining = B;
    for (int t = 0; t <= limit && remaining > 0; t++) {
        decoder_state_step(&d, next);
        decoder_state_log_probs(&d, log_probs);
        for (int b = 0; b < B; b++) {
            if (done[b]) continue;
            const float *lp = log_probs + (size_t)b * V;
            Hypothesis *h = &out[b];
            int32_t best = TOKEN_EOS;  // at the length limit, the translation must end
            for (int32_t v = TOKEN_SPECIAL_COUNT; v < V && h->length < limit; v++) {
                if (lp[v] > lp[best]) best = v;
            }
            decoder_state_alignment(&d, b, h->attention + (size_t)h->length * S);
            h->log_prob += lp[best];
            if (best == TOKEN_EOS) {
                done[b] = 1;
                remaining--;
                continue;
            }
            h->tokens[h->length++] = best;
            next[b] = best;
        }
    }
    for (int b = 0; b < B; b++) out[b].score = out[b].log_prob / (out[b].length + 1);
    free(log_probs);
    free(next);
    free(done);
    decoder_state_free(&d);
    return 0;
}
