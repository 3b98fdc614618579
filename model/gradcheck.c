#include "model/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/rng.h"
#include "core/special_tokens.h"

static int32_t random_id(Rng *rng, int vocab) {
    return TOKEN_SPECIAL_COUNT + (int32_t)(rng_next(rng) % (uint64_t)(vocab - TOKEN_SPECIAL_COUNT));
}

ExampleBatch example_batch(uint64_t seed, int src_vocab, int tgt_vocab) {
    const int src_len[EXAMPLE_B] = {7, 5, 3}, tgt_len[EXAMPLE_B] = {6, 4, 2};
    ExampleBatch b;
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < EXAMPLE_B; i++) {
        for (int s = 0; s < EXAMPLE_S; s++) {
            b.src[i * EXAMPLE_S + s] = s < src_len[i] ? random_id(&rng, src_vocab) : TOKEN_PAD;
        }
        // tgt_out = y₁ … yₙ <eos> <pad>…, tgt_in = <bos> y₁ … yₙ <pad>…
        for (int t = 0; t < EXAMPLE_T; t++) {
            b.tgt_out[i * EXAMPLE_T + t] = t < tgt_len[i] - 1    ? random_id(&rng, tgt_vocab)
                                           : t == tgt_len[i] - 1 ? TOKEN_EOS
                                                                 : TOKEN_PAD;
        }
        for (int t = 0; t < EXAMPLE_T; t++) {
            b.tgt_in[i * EXAMPLE_T + t] = t == 0             ? TOKEN_BOS
                                          : t < tgt_len[i] ? b.tgt_out[i * EXAMPLE_T + t - 1]
                                                           : TOKEN_PAD;
        }
    }
    return b;
}

// Some gradients are truly zero: adding the same bias to every key shifts all
// scores of a row equally, and softmax ignores that, so ∂L/∂b_K = 0.  Their
// finite differences are pure rounding noise; below this norm the difference
// is judged in absolute terms instead.
static const double GRADIENT_NORM_FLOOR = 2e-2;

// What a gradient check works with: the model it perturbs in place, a
// workspace for its forward passes and the gradients of the unperturbed loss.
typedef struct {
    Model *m;
    const GradCheckBatch *batch;
    Workspace ws;
    Gradients g;
} Check;

static int loss_at(Check *c, double *loss, Error *err) {
    const GradCheckBatch *b = c->batch;
    if (model_forward(c->m, &c->ws, b->src, b->tgt_in, b->tgt_out, b->B, b->S, b->T, true,
                      b->dropout_seed, err) < 0) {
        return -1;
    }
    *loss = c->ws.loss;
    return 0;
}

typedef struct {
    size_t index;
    float magnitude;
} Candidate;

static int by_magnitude_descending(const void *x, const void *y) {
    const Candidate *a = x, *b = y;
    if (a->magnitude != b->magnitude) return a->magnitude < b->magnitude ? 1 : -1;
    return (a->index > b->index) - (a->index < b->index);
}

// Chooses `want` coordinates of a tensor: the largest analytic gradients, then random ones.
static size_t *choose_coordinates(const float *grad, size_t n, size_t want, Rng *rng,
                                  Error *err) {
    Candidate *all = malloc((n ? n : 1) * sizeof *all);
    size_t *chosen = malloc((want ? want : 1) * sizeof *chosen);
    if (!all || !chosen) {
        free(all);
        free(chosen);
        error_out_of_memory(err, "choosing coordinates to check", n * sizeof *all);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        all[i].index = i;
        all[i].magnitude = fabsf(grad[i]);
    }
    qsort(all, n, sizeof *all, by_magnitude_descending);
    size_t k = 0;
    for (; k < want / 2; k++) chosen[k] = all[k].index;
    for (; k < want; k++) {  // random picks from the rest (repeats are harmless)
        size_t rest = n - want / 2;
        chosen[k] = all[want / 2 + (size_t)(rng_uniform(rng) * (float)rest) % rest].index;
    }
    free(all);
    return chosen;
}

// The central difference of the loss in one weight: (L(θ+h) - L(θ-h)) / 2h,
// with the steps float32 really took.
static double numerical_gradient(Check *c, float *p, double h) {
    float saved = *p;
    double plus = 0, minus = 0;
    *p = saved + (float)h;
    double h_plus = (double)*p - saved;
    // The unperturbed forward succeeded, so these cannot fail.
    loss_at(c, &plus, NULL);
    *p = saved - (float)h;
    double h_minus = saved - (double)*p;
    loss_at(c, &minus, NULL);
    *p = saved;
    return (plus - minus) / (h_plus + h_minus);
}

static int check_tensor(Check *c, const TensorInfo *info, int samples, double h, Rng *rng,
                        TensorGradCheck *r, Error *err) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", info->name);
    const float *grad = c->g.grads + info->offset;
    size_t n = info->size, want = (size_t)samples < n ? (size_t)samples : n;
    size_t *chosen = choose_coordinates(grad, n, want, rng, err);
    double *analytic = malloc((want ? want : 1) * sizeof *analytic);
    double *numeric = malloc((want ? want : 1) * sizeof *numeric);
    if (!chosen || !analytic || !numeric) {
        free(chosen);
        free(analytic);
        free(numeric);
        return chosen ? error_out_of_memory(err, "a gradient check", want * sizeof *analytic) : -1;
    }
    double diff2 = 0, analytic2 = 0, numeric2 = 0, largest = 0;
    for (size_t k = 0; k < want; k++) {
        numeric[k] = numerical_gradient(c, info->data + chosen[k], h);
        analytic[k] = grad[chosen[k]];
        diff2 += (analytic[k] - numeric[k]) * (analytic[k] - numeric[k]);
        analytic2 += analytic[k] * analytic[k];
        numeric2 += numeric[k] * numeric[k];
        if (fabs(analytic[k]) > largest) largest = fabs(analytic[k]);
    }
    // Single coordinates are judged only where the gradient is at least
    // 1% of the tensor's largest: below that the difference is mostly noise.
    for (size_t k = 0; k < want; k++) {
        double scale = fmax(fabs(analytic[k]), fabs(numeric[k]));
        if (scale < 0.01 * largest || scale == 0) continue;
        double e = fabs(analytic[k] - numeric[k]) / scale;
        if (e > r->worst) r->worst = e;
    }
    double denominator = fmax(fmax(sqrt(analytic2), sqrt(numeric2)), GRADIENT_NORM_FLOOR);
    r->sampled = (int)want;
    r->norm = sqrt(analytic2);
    r->numerical_norm = sqrt(numeric2);
    r->error = denominator > 0 ? sqrt(diff2) / denominator : 0.0;
    free(analytic);
    free(numeric);
    free(chosen);
    return 0;
}

int gradcheck_model(Model *m, const GradCheckBatch *b, int samples, double h, uint64_t seed,
                    TensorGradCheck *results, Error *err) {
    if (!m->params) return error_set(err, "a gradient check needs the model's own weights, not a mapped file");
    Check c = {m, b, {0}, {0}};
    workspace_init(&c.ws, WORKSPACE_TRAINING);
    double loss;
    int status = gradients_build(&c.g, m, err);
    if (status == 0) status = loss_at(&c, &loss, err);
    if (status == 0) {
        model_backward(m, &c.ws, &c.g);
        Rng rng;
        rng_seed(&rng, seed);
        for (ptrdiff_t t = 0; t < arrlen(m->tensors) && status == 0; t++) {
            status = check_tensor(&c, &m->tensors[t], samples, h, &rng, &results[t], err);
        }
    }
    gradients_free(&c.g);
    workspace_free(&c.ws);
    return status;
}
