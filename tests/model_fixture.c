#include "tests/model_fixture.h"

#include <math.h>
#include <stdlib.h>

#include <stb/stb_ds.h>

#include "infer/search.h"
#include "tests/test.h"
#include "tokenizer/tokenizer.h"


ModelConfig fixture_config(bool pre_ln, bool tie_output, float dropout) {
    ModelConfig c = {0};
    Error err;
    model_config_preset(&c, "toy", &err);
    c.src_vocab = 29;
    c.tgt_vocab = 31;
    c.max_len = 16;
    c.dropout = dropout;
    c.label_smoothing = 0.1f;
    c.pre_ln = pre_ln;
    c.tie_output = tie_output;
    return c;
}

double reference_greedy(Model *m, const int32_t *src, int S, int32_t **tokens) {
    const int limit = translation_length_limit(m, S), V = m->config.tgt_vocab;
    int32_t *tgt_in = calloc((size_t)limit + 1, sizeof *tgt_in);
    tgt_in[0] = TOKEN_BOS;
    double log_prob = 0;
    Error err;
    for (int t = 0; t <= limit; t++) {
        assert_int_equal(model_forward(m, src, tgt_in, NULL, 1, S, t + 1, false, 0, &err), 0);
        const float *x = m->acts.logits + (size_t)t * V;
        int32_t best = TOKEN_EOS;
        for (int32_t v = TOKEN_SPECIAL_COUNT; v < V && t < limit; v++) if (x[v] > x[best]) best = v;
        double max = x[TOKEN_EOS], sum = 0;
        for (int32_t v = TOKEN_SPECIAL_COUNT; v < V; v++) if (x[v] > max) max = x[v];
        sum = exp(x[TOKEN_EOS] - max);
        for (int32_t v = TOKEN_SPECIAL_COUNT; v < V; v++) sum += exp(x[v] - max);
        log_prob += x[best] - max - log(sum);
        if (best == TOKEN_EOS) break;
        arrput(*tokens, best);
        tgt_in[t + 1] = best;
    }
    free(tgt_in);
    return log_prob;
}
