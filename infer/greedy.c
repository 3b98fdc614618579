#include "infer/greedy.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

int translation_length_limit(const Model *m, int S) {
    int limit = 2 * S + 10;
    return limit < m->config.max_len - 1 ? limit : m->config.max_len - 1;
}

int greedy_translate(Model *m, const int32_t *src, int B, int S, int max_out, int32_t *out,
                     int *lengths, Error *err) {
    const int T = max_out + 1, V = m->config.tgt_vocab;  // <bos> + up to max_out tokens
    int32_t *tgt_in = calloc((size_t)B * T, sizeof *tgt_in);
    unsigned char *done = calloc((size_t)B, 1);
    if (!tgt_in || !done) die("out of memory");
    for (int b = 0; b < B; b++) {
        tgt_in[(size_t)b * T] = TOKEN_BOS;
        lengths[b] = 0;
    }
    // Later positions are padding, which the causal mask hides: the logits at
    // position t depend only on tokens 0..t, so one decoder of length T serves
    // every step.
    if (model_forward(m, src, tgt_in, NULL, B, S, T, false, 0, err) < 0) {
        free(tgt_in);
        free(done);
        return -1;
    }
    int remaining = B;
    for (int t = 0; t < max_out && remaining > 0; t++) {
        for (int b = 0; b < B; b++) {
            if (done[b]) continue;
            const float *logits = m->acts.logits + ((size_t)b * T + t) * V;
            int32_t best = TOKEN_EOS;  // specials other than <eos> are never chosen
            for (int32_t v = TOKEN_SPECIAL_COUNT; v < V; v++) {
                if (logits[v] > logits[best]) best = v;
            }
            if (best == TOKEN_EOS || t == max_out - 1) {
                if (best != TOKEN_EOS) out[(size_t)b * max_out + lengths[b]++] = best;
                done[b] = 1;
                remaining--;
                continue;
            }
            out[(size_t)b * max_out + lengths[b]++] = best;
            tgt_in[(size_t)b * T + t + 1] = best;
        }
        if (remaining > 0) model_redecode(m, tgt_in);
    }
    free(tgt_in);
    free(done);
    return 0;
}
