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

void model_run_start(ModelRun *r, const Model *m) {
    Error err;
    workspace_init(&r->ws, WORKSPACE_TRAINING);
    if (gradients_build(&r->g, m, &err) < 0) fail_msg("%s", err.message);
}

void model_run_free(ModelRun *r) {
    workspace_free(&r->ws);
    gradients_free(&r->g);
}

void assert_same_weights(const Model *a, const Model *b) {
    assert_int_equal(a->n_params, b->n_params);
    assert_int_equal(arrlen(a->tensors), arrlen(b->tensors));
    for (ptrdiff_t t = 0; t < arrlen(a->tensors); t++) {
        assert_string_equal(a->tensors[t].name, b->tensors[t].name);
        assert_memory_equal(a->tensors[t].data, b->tensors[t].data, a->tensors[t].size * sizeof(float));
    }
}

double reference_greedy(const Model *m, const int32_t *src, int S, int32_t **tokens) {
    const int limit = sentence_length_limit(m, src, S), V = m->config.tgt_vocab;
    int32_t *tgt_in = calloc((size_t)limit + 1, sizeof *tgt_in);
    tgt_in[0] = TOKEN_BOS;
    double log_prob = 0;
    Error err;
    Workspace ws;
    workspace_init(&ws, WORKSPACE_INSPECTING);
    for (int t = 0; t <= limit; t++) {
        assert_int_equal(model_forward(m, &ws, src, tgt_in, NULL, 1, S, t + 1, false, 0, &err), 0);
        const float *x = ws.acts.logits + (size_t)t * V;
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
    workspace_free(&ws);
    return log_prob;
}
