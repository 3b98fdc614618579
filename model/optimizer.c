#include "model/optimizer.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/isa_clones.h"
#include "model/threads.h"

AdamWConfig adamw_defaults(void) {
    AdamWConfig c = {0.9f, 0.98f, 1e-9f, 0.01f};
    return c;
}

int adam_state_build(AdamState *s, const Model *m, Error *err) {
    s->n = m->n_params;
    s->m = calloc(s->n ? s->n : 1, sizeof(float));
    s->v = calloc(s->n ? s->n : 1, sizeof(float));
    if (!s->m || !s->v) {
        adam_state_free(s);
        return error_out_of_memory(err, "the optimiser's moments", 2 * m->n_params * sizeof(float));
    }
    return 0;
}

void adam_state_free(AdamState *s) {
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------- one pass over the parameters

// Every element of the optimiser's work is independent, so each thread takes
// one contiguous share of the n parameters and walks the tensors it meets:
// one parallel region for the whole model instead of one per tensor.
typedef struct {
    Model *m;
    float *grads;
    AdamState *s;
    const AdamWConfig *c;
    float lr, correction1, correction2;  // the corrections as reciprocals: no division by them
} AdamWPass;

static AdamWPass adamw_pass(Model *m, float *grads, AdamState *s, const AdamWConfig *c, float lr,
                            long step) {
    AdamWPass a = {m, grads, s, c, lr, (float)(1.0 / (1.0 - pow(c->beta1, (double)step))),
                   (float)(1.0 / (1.0 - pow(c->beta2, (double)step)))};
    return a;
}

// AdamW on parameters [begin, end) of the model's layout, with every gradient
// first multiplied by grad_scale (clipping); the gradients are then zeroed if
// asked (ready for the next step's +=).  Returns whether every updated weight
// is finite: checked while each is in a register, not in a pass of its own.
ISA_CLONES static bool adamw_range(const AdamWPass *a, size_t begin, size_t end, float grad_scale,
                        bool zero_grads) {
    const AdamWConfig *c = a->c;
    int bad = 0;
    for (ptrdiff_t t = 0; t < arrlen(a->m->tensors); t++) {
        const TensorInfo *info = &a->m->tensors[t];
        size_t lo = info->offset > begin ? info->offset : begin;
        size_t hi = info->offset + info->size < end ? info->offset + info->size : end;
        if (lo >= hi) continue;
        // Decay pulls weights towards zero; biases and LayerNorm gains are
        // left alone, as is usual.
        const float decay = info->ndim == 2 ? a->lr * c->weight_decay : 0.0f;
        float *restrict p = info->data + (lo - info->offset), *restrict g = a->grads + lo,
                        *restrict mom = a->s->m + lo, *restrict vel = a->s->v + lo;
        // The settings in locals and the pointers restrict: otherwise every
        // store could change them, and the loop stays scalar.
        const float beta1 = c->beta1, beta2 = c->beta2, eps = c->eps, lr = a->lr,
                    correction1 = a->correction1, correction2 = a->correction2;
        const size_t n = hi - lo;
        #pragma omp simd reduction(| : bad)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * grad_scale;
            mom[i] = beta1 * mom[i] + (1.0f - beta1) * gi;
            vel[i] = beta2 * vel[i] + (1.0f - beta2) * gi * gi;
            float m_hat = mom[i] * correction1, v_hat = vel[i] * correction2;
            p[i] -= decay * p[i];
            p[i] -= lr * m_hat / (sqrtf(v_hat) + eps);
            bad |= !isfinite(p[i]);
        }
        if (zero_grads) memset(g, 0, n * sizeof *g);
    }
    return !bad;
}

// This thread's share [*begin, *end) of n items.
static void thread_share(size_t n, size_t *begin, size_t *end) {
    size_t threads = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
    *begin = n * id / threads;
    *end = n * (id + 1) / threads;
}

void adamw_update(Model *m, const Gradients *grads, AdamState *s, const AdamWConfig *c, float lr,
                  long step) {
    const AdamWPass a = adamw_pass(m, grads->grads, s, c, lr, step);
    #pragma omp parallel
    {
        size_t begin, end;
        thread_share(m->n_params, &begin, &end);
        adamw_range(&a, begin, end, 1.0f, false);
    }
}

// ---------------------------------------------------------------- clipping

enum { NORM_CHUNKS = 1024 };

// Σ g² over one of NORM_CHUNKS fixed chunks: the chunks, not the threads,
// decide the order of the sum, so the norm does not depend on the number of
// threads.
static double chunk_sum_of_squares(const float *grads, size_t n, size_t k) {
    size_t chunk = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
    size_t begin = k * chunk < n ? k * chunk : n, end = begin + chunk < n ? begin + chunk : n;
    double sum = 0.0;
    #pragma omp simd reduction(+ : sum)
    for (size_t i = begin; i < end; i++) sum += (double)grads[i] * grads[i];
    return sum;
}

static double total(const double *partial) {
    double sum = 0.0;
    for (size_t k = 0; k < NORM_CHUNKS; k++) sum += partial[k];
    return sum;
}

// What clip_grad_norm_ multiplies the gradients by.
static float clip_scale(double norm, double max_norm) {
    return max_norm > 0 && norm > max_norm ? (float)(max_norm / (norm + 1e-6)) : 1.0f;
}

double clip_gradient_norm(float *grads, size_t n, double max_norm) {
    double partial[NORM_CHUNKS];
    #pragma omp parallel for schedule(static)
    for (size_t k = 0; k < NORM_CHUNKS; k++) partial[k] = chunk_sum_of_squares(grads, n, k);
    double norm = sqrt(total(partial));
    float scale = clip_scale(norm, max_norm);
    if (scale != 1.0f) {
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) grads[i] *= scale;
    }
    return norm;
}

// clip_gradient_norm, adamw_update and gradients_zero in two passes over the
// gradients instead of four, in one parallel region: the same arithmetic, so
// the same bits.
double adamw_step(Model *m, Gradients *grads, AdamState *s, const AdamWConfig *c, float lr,
                  long step, double max_norm, bool *weights_finite) {
    const AdamWPass a = adamw_pass(m, grads->grads, s, c, lr, step);
    double partial[NORM_CHUNKS], norm = 0.0;
    bool finite = true;
    #pragma omp parallel reduction(&& : finite)
    {
        #pragma omp for schedule(static)
        for (size_t k = 0; k < NORM_CHUNKS; k++) {
            partial[k] = chunk_sum_of_squares(grads->grads, grads->n, k);
        }
        // (the loop's barrier: every chunk is summed) each thread adds the
        // chunks in the same order, so all agree on the norm without a wait
        double sum = sqrt(total(partial));
        size_t begin, end;
        thread_share(m->n_params, &begin, &end);
        finite = adamw_range(&a, begin, end, clip_scale(sum, max_norm), true);
        if (omp_get_thread_num() == 0) norm = sum;
    }
    if (weights_finite) *weights_finite = finite;
    return norm;
}

float schedule_lr(const Schedule *s, long step) {
    if (step < 1) step = 1;
    double t = (double)step, w = s->warmup > 0 ? (double)s->warmup : 1.0;
    switch (s->kind) {
    case SCHEDULE_NOAM:
        return (float)(s->lr / sqrt((double)s->d_model) * fmin(1.0 / sqrt(t), t * pow(w, -1.5)));
    case SCHEDULE_INVERSE_SQRT:
        return (float)(s->lr * fmin(t / w, sqrt(w / t)));
    case SCHEDULE_COSINE: {
        if (t < w) return (float)(s->lr * t / w);
        double span = s->total_steps > s->warmup ? (double)(s->total_steps - s->warmup) : 1.0;
        double progress = fmin((t - w) / span, 1.0);
        return (float)(s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(acos(-1.0) * progress)));
    }
    case SCHEDULE_CONSTANT:
        break;
    }
    return s->lr;
}

int schedule_parse_kind(const char *name, ScheduleKind *kind) {
    static const struct { const char *name; ScheduleKind kind; } kinds[] = {
        {"noam", SCHEDULE_NOAM}, {"inverse-sqrt", SCHEDULE_INVERSE_SQRT},
        {"cosine", SCHEDULE_COSINE}, {"constant", SCHEDULE_CONSTANT},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            *kind = kinds[i].kind;
            return 0;
        }
    }
    return -1;
}
