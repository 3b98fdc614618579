#include "model/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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

GradCheckOptions gradcheck_defaults(void) {
    return (GradCheckOptions){.samples = 16, .step = 1e-2, .relative = 1e-3, .sigmas = 8.0, .seed = 1};
}

// ---------------------------------------------------------------- one coordinate

// Where a stencil moves the weights: one weight (direction NULL), or a whole
// tensor along a unit direction.  saved holds the weights before any move.
typedef struct {
    float *x;
    const double *direction;  // (n) or NULL
    const float *saved;       // (n)
    size_t n;
} Line;

// Moves to offset t along the line as float32 rounds it, and returns the
// offset really taken (for a direction, the displacement's component along it).
static double line_move(const Line *l, double t) {
    if (!l->direction) {
        l->x[0] = (float)(l->saved[0] + t);
        return (double)l->x[0] - l->saved[0];
    }
    double taken = 0;
    for (size_t i = 0; i < l->n; i++) {
        l->x[i] = (float)(l->saved[i] + t * l->direction[i]);
        taken += ((double)l->x[i] - l->saved[i]) * l->direction[i];
    }
    return taken;
}

// The five-point stencil at step h.  With t₀ = 0 and the steps tⱼ really
// taken, D₄ = Σⱼ wⱼ (f(x + tⱼ) − f(x)) where wⱼ = ℓⱼ'(0), the derivative at 0
// of the Lagrange polynomial of node j (w₀ = −Σ 1/tⱼ multiplies f(x) and
// vanishes from the sum because Σ wⱼ = 0).  For steps ±h, ±2h this is
// (8(f₁ − f₋₁) − (f₂ − f₋₂)) / 12h, with error h⁴ f⁽⁵⁾ / 30.
static FiniteDifference stencil(const Objective *f, const Line *l, double f0, double h) {
    static const int multiple[4] = {-2, -1, 1, 2};
    double t[4], df[4];
    FiniteDifference d = {0, 0, 0, h, true};
    for (int j = 0; j < 4; j++) {
        t[j] = line_move(l, multiple[j] * h);
        df[j] = f->value(f->context) - f0;
        if (f->same_piece && !f->same_piece(f->context)) d.smooth = false;
    }
    memcpy(l->x, l->saved, l->n * sizeof *l->x);
    if (t[0] == t[1] || t[1] == 0 || t[2] == 0 || t[2] == t[3]) {
        d.smooth = false;  // a step below float32's spacing at x
        return d;
    }
    double w0 = 0, gain2 = 0;
    for (int j = 0; j < 4; j++) {
        double w = 1.0 / t[j];
        for (int k = 0; k < 4; k++) {
            if (k != j) w *= -t[k] / (t[j] - t[k]);
        }
        d.value += w * df[j];
        gain2 += w * w;
        w0 -= 1.0 / t[j];
    }
    d.noise_gain = sqrt(gain2 + w0 * w0);
    double central = (df[2] - df[1]) / (t[2] - t[1]);
    d.truncation = fabs(d.value - central);
    return d;
}

static FiniteDifference shrinking_stencil(const Objective *f, const Line *l, double f0, double h,
                                          int shrink) {
    FiniteDifference d = stencil(f, l, f0, h);
    for (int i = 0; i < shrink && !d.smooth; i++) {
        h /= 4;
        d = stencil(f, l, f0, h);
    }
    return d;
}

// The stencil at h / 8 has 8 times d's rounding error and 8⁴ times less
// truncation: their difference is almost all rounding.  (Much smaller steps
// see less noise than h does: fewer roundings change.)
static double stencil_noise(const Objective *f, const Line *l, double f0, const FiniteDifference *d) {
    FiniteDifference small = stencil(f, l, f0, d->step / 8);
    if (!small.smooth || small.noise_gain == 0) return -1.0;
    return fabs(small.value - d->value) / small.noise_gain;
}

FiniteDifference finite_difference(const Objective *f, float *x, double f0, double h, int shrink) {
    float saved = *x;
    Line l = {x, NULL, &saved, 1};
    return shrinking_stencil(f, &l, f0, h, shrink);
}

double finite_difference_noise(const Objective *f, float *x, double f0, const FiniteDifference *d) {
    float saved = *x;
    Line l = {x, NULL, &saved, 1};
    return stencil_noise(f, &l, f0, d);
}

// ---------------------------------------------------------------- the model

// What a gradient check works with: the model it perturbs in place, a
// workspace for its forward passes, the loss without perturbation and which
// ReLU units were active then.
typedef struct {
    Model *m;
    const GradCheckBatch *batch;
    Workspace ws;
    double loss;
    uint8_t *active;  // (units) 1 where a feed-forward hidden unit was above 0
    size_t units;
} Check;

static int run_forward(Check *c, Error *err) {
    const GradCheckBatch *b = c->batch;
    return model_forward(c->m, &c->ws, b->src, b->tgt_in, b->tgt_out, b->B, b->S, b->T, true,
                         b->dropout_seed, err);
}

// The feed-forward hidden units of layer l (encoder layers first), after ReLU.
static const float *relu_layer(const Check *c, int l, size_t *count) {
    const Workspace *ws = &c->ws;
    const int E = c->m->config.n_encoder_layers, F = c->m->config.d_ff;
    *count = (size_t)ws->B * (l < E ? ws->S : ws->T) * F;
    return l < E ? ws->acts.encoder[l].ffn.hidden : ws->acts.decoder[l - E].ffn.hidden;
}

static double model_loss(void *context) {
    Check *c = context;
    run_forward(c, NULL);  // the unperturbed forward succeeded, so this cannot fail
    return c->ws.loss;
}

// ReLU is where the loss is not smooth: the same units active, the same piece.
static bool same_relu_units(void *context) {
    const Check *c = context;
    const int layers = c->m->config.n_encoder_layers + c->m->config.n_decoder_layers;
    size_t at = 0;
    for (int l = 0; l < layers; l++) {
        size_t n;
        const float *h = relu_layer(c, l, &n);
        for (size_t i = 0; i < n; i++, at++) {
            if ((h[i] > 0.0f) != c->active[at]) return false;
        }
    }
    return true;
}

static int record_relu_units(Check *c, Error *err) {
    const int layers = c->m->config.n_encoder_layers + c->m->config.n_decoder_layers;
    c->units = 0;
    for (int l = 0; l < layers; l++) {
        size_t n;
        relu_layer(c, l, &n);
        c->units += n;
    }
    c->active = malloc(c->units ? c->units : 1);
    if (!c->active) return error_out_of_memory(err, "a gradient check", c->units);
    size_t at = 0;
    for (int l = 0; l < layers; l++) {
        size_t n;
        const float *h = relu_layer(c, l, &n);
        for (size_t i = 0; i < n; i++) c->active[at++] = h[i] > 0.0f;
    }
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

// How many times a step may be divided by 4 to keep every ReLU unit on its side.
enum { STEP_SHRINKS = 4 };

// Judges the checked coordinates once the tensor's noise is known.
static void judge(TensorGradCheck *r, const size_t *chosen, const double *analytic,
                  const FiniteDifference *d, size_t want, const GradCheckOptions *o) {
    double diff2 = 0, analytic2 = 0, numeric2 = 0;
    for (size_t k = 0; k < want; k++) {
        if (!d[k].smooth) continue;
        double a = analytic[k], n = d[k].value, miss = fabs(a - n);
        double allowance = o->relative * fabs(a) + o->sigmas * d[k].noise_gain * r->noise +
                           d[k].truncation;
        double ratio = miss == 0 ? 0 : allowance > 0 ? miss / allowance : INFINITY;
        r->sampled++;
        r->failed += ratio > 1;
        if (r->sampled == 1 || ratio > r->worst) {
            r->worst = ratio;
            r->worst_index = chosen[k];
            r->worst_analytic = a;
            r->worst_numerical = n;
            r->worst_allowance = allowance;
        }
        diff2 += miss * miss;
        analytic2 += a * a;
        numeric2 += n * n;
    }
    r->norm = sqrt(analytic2);
    r->numerical_norm = sqrt(numeric2);
    double scale = fmax(r->norm, r->numerical_norm);
    r->error = scale > 0 ? sqrt(diff2) / scale : 0.0;
}

// Along the analytic gradient itself, v = a / ‖a‖, the derivative must be
// a·v = ‖a‖: the tensor's whole gradient in one number, tens of times larger
// than its coordinates, so that a small error of the whole tensor (a scale, a
// missing term, a block of coordinates) stands far above the noise.
static int check_along_gradient(Check *c, const TensorInfo *info, const float *grad,
                                const GradCheckOptions *o, TensorGradCheck *r, double *noise2,
                                int *noise_samples, FiniteDifference *d, Error *err) {
    size_t n = info->size;
    double *direction = malloc(n * sizeof *direction);
    float *saved = malloc(n * sizeof *saved);
    if (!direction || !saved) {
        free(direction);
        free(saved);
        return error_out_of_memory(err, "a gradient check", n * sizeof *direction);
    }
    double norm2 = 0;
    for (size_t i = 0; i < n; i++) norm2 += (double)grad[i] * grad[i];
    for (size_t i = 0; i < n; i++) direction[i] = norm2 > 0 ? grad[i] / sqrt(norm2) : 0.0;
    memcpy(saved, info->data, n * sizeof *saved);
    r->along_analytic = sqrt(norm2);
    d->smooth = false;
    if (norm2 > 0) {
        Objective f = {model_loss, same_relu_units, c};
        Line l = {info->data, direction, saved, n};
        *d = shrinking_stencil(&f, &l, c->loss, o->step, STEP_SHRINKS);
        double s = d->smooth ? stencil_noise(&f, &l, c->loss, d) : -1.0;
        if (s >= 0) {
            *noise2 += s * s;
            (*noise_samples)++;
        }
    }
    free(direction);
    free(saved);
    return 0;
}

// Judges the direction once the tensor's noise is known.
static void judge_along_gradient(TensorGradCheck *r, const FiniteDifference *d,
                                 const GradCheckOptions *o) {
    if (!d->smooth) return;
    r->along_numerical = d->value;
    r->along_allowance = o->relative * r->along_analytic +
                         o->sigmas * d->noise_gain * r->noise + d->truncation;
    double miss = fabs(r->along_analytic - d->value);
    r->along_ratio = miss == 0 ? 0 : r->along_allowance > 0 ? miss / r->along_allowance : INFINITY;
    r->along_checked = true;
    r->failed += r->along_ratio > 1;
}

static int check_tensor(Check *c, const TensorInfo *info, const float *grads,
                        const GradCheckOptions *o, Rng *rng, TensorGradCheck *r, Error *err) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", info->name);
    const float *grad = grads + info->offset;
    size_t n = info->size, want = (size_t)o->samples < n ? (size_t)o->samples : n;
    size_t *chosen = choose_coordinates(grad, n, want, rng, err);
    double *analytic = malloc((want ? want : 1) * sizeof *analytic);
    FiniteDifference *d = malloc((want ? want : 1) * sizeof *d);
    if (!chosen || !analytic || !d) {
        free(chosen);
        free(analytic);
        free(d);
        return chosen ? error_out_of_memory(err, "a gradient check", want * sizeof *d) : -1;
    }
    Objective f = {model_loss, same_relu_units, c};
    double noise2 = 0;
    int noise_samples = 0;
    for (size_t k = 0; k < want; k++) {
        float *x = info->data + chosen[k];
        analytic[k] = grad[chosen[k]];
        d[k] = finite_difference(&f, x, c->loss, o->step, STEP_SHRINKS);
        if (!d[k].smooth) {
            r->kinked++;
            continue;
        }
        double s = finite_difference_noise(&f, x, c->loss, &d[k]);
        if (s >= 0) {
            noise2 += s * s;
            noise_samples++;
        }
    }
    FiniteDifference along = {0, 0, 0, 0, false};
    int status = check_along_gradient(c, info, grad, o, r, &noise2, &noise_samples, &along, err);
    if (status == 0) {
        r->noise = noise_samples ? sqrt(noise2 / noise_samples) : 0.0;
        judge(r, chosen, analytic, d, want, o);
        judge_along_gradient(r, &along, o);
    }
    free(analytic);
    free(d);
    free(chosen);
    return status;
}

int gradcheck_gradients(Model *m, const GradCheckBatch *b, const float *grads,
                        const GradCheckOptions *o, TensorGradCheck *results, Error *err) {
    if (!m->params) return error_set(err, "a gradient check needs the model's own weights, not a mapped file");
    Check c = {m, b, {0}, 0, NULL, 0};
    workspace_init(&c.ws, WORKSPACE_TRAINING);
#ifdef _OPENMP
    // Thousands of forwards of a few sentences each: on one thread, because
    // fork and join cost more than such a batch's work (the gradient under
    // test was computed with every thread).
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    int status = run_forward(&c, err);
    if (status == 0) {
        c.loss = c.ws.loss;
        status = record_relu_units(&c, err);
    }
    Rng rng;
    rng_seed(&rng, o->seed);
    for (ptrdiff_t t = 0; t < arrlen(m->tensors) && status == 0; t++) {
        status = check_tensor(&c, &m->tensors[t], grads, o, &rng, &results[t], err);
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    free(c.active);
    workspace_free(&c.ws);
    return status;
}

int gradcheck_model(Model *m, const GradCheckBatch *b, const GradCheckOptions *o,
                    TensorGradCheck *results, Error *err) {
    if (!m->params) return error_set(err, "a gradient check needs the model's own weights, not a mapped file");
    Gradients g = {0};
    Workspace ws;
    workspace_init(&ws, WORKSPACE_TRAINING);
    int status = gradients_build(&g, m, err);
    if (status == 0) {
        status = model_forward(m, &ws, b->src, b->tgt_in, b->tgt_out, b->B, b->S, b->T, true,
                               b->dropout_seed, err);
    }
    if (status == 0) {
        model_backward(m, &ws, &g);
        workspace_free(&ws);  // before the check makes its own
        workspace_init(&ws, WORKSPACE_TRAINING);
        status = gradcheck_gradients(m, b, g.grads, o, results, err);
    }
    gradients_free(&g);
    workspace_free(&ws);
    return status;
}
