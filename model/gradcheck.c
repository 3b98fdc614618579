#include "model/gradcheck.h"
#include "cli/report.h"  // TODO(layers): die() goes

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

static int loss_at(Model *m, const GradCheckBatch *b, double *loss, Error *err) {
    if (model_forward(m, b->src, b->tgt_in, b->tgt_out, b->B, b->S, b->T, true, b->dropout_seed,
                      err) < 0) {
        return -1;
    }
    *loss = m->loss;
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

int gradcheck_model(Model *m, const GradCheckBatch *b, int samples, double h, uint64_t seed,
                    TensorGradCheck *results, Error *err) {
    double loss;
    if (loss_at(m, b, &loss, err) < 0) return -1;
    model_zero_grad(m);
    model_backward(m);
    Rng rng;
    rng_seed(&rng, seed);

    for (ptrdiff_t t = 0; t < arrlen(m->tensors); t++) {
        const TensorInfo *info = &m->tensors[t];
        TensorGradCheck *r = &results[t];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", info->name);

        // Choose coordinates: the largest analytic gradients, then random ones.
        size_t n = info->size, want = (size_t)samples < n ? (size_t)samples : n;
        Candidate *all = malloc(n * sizeof *all);
        if (!all) die("out of memory");
        for (size_t i = 0; i < n; i++) {
            all[i].index = i;
            all[i].magnitude = fabsf(m->grads[info->offset + i]);
        }
        qsort(all, n, sizeof *all, by_magnitude_descending);
        size_t *chosen = malloc(want * sizeof *chosen);
        size_t k = 0;
        for (; k < want / 2; k++) chosen[k] = all[k].index;
        for (; k < want; k++) {  // random picks from the rest (repeats are harmless)
            size_t rest = n - want / 2;
            chosen[k] = all[want / 2 + (size_t)(rng_uniform(&rng) * (float)rest) % rest].index;
        }
        free(all);

        double diff2 = 0, analytic2 = 0, numeric2 = 0, largest = 0;
        double *analytic = malloc(want * sizeof *analytic), *numeric = malloc(want * sizeof *numeric);
        for (k = 0; k < want; k++) {
            float *p = m->params + info->offset + chosen[k];
            float saved = *p;
            double plus = 0, minus = 0;
            *p = saved + (float)h;
            double h_plus = (double)*p - saved;  // the step float32 really took
            // The unperturbed forward succeeded, so these cannot fail.
            loss_at(m, b, &plus, err);
            *p = saved - (float)h;
            double h_minus = saved - (double)*p;
            loss_at(m, b, &minus, err);
            *p = saved;
            numeric[k] = (plus - minus) / (h_plus + h_minus);
            analytic[k] = m->grads[info->offset + chosen[k]];
            diff2 += (analytic[k] - numeric[k]) * (analytic[k] - numeric[k]);
            analytic2 += analytic[k] * analytic[k];
            numeric2 += numeric[k] * numeric[k];
            if (fabs(analytic[k]) > largest) largest = fabs(analytic[k]);
        }
        // Single coordinates are judged only where the gradient is at least
        // 1% of the tensor's largest: below that the difference is mostly noise.
        for (k = 0; k < want; k++) {
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
    }
    // Leave the model as it was: the gradients of the unperturbed loss.
    if (loss_at(m, b, &loss, err) < 0) return -1;
    model_zero_grad(m);
    model_backward(m);
    return 0;
}
