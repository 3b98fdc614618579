#include "model/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

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

void adamw_update(Model *m, const Gradients *grads, AdamState *s, const AdamWConfig *c, float lr,
                  long step) {
    const double correction1 = 1.0 - pow(c->beta1, (double)step);
    const double correction2 = 1.0 - pow(c->beta2, (double)step);
    for (ptrdiff_t t = 0; t < arrlen(m->tensors); t++) {
        const TensorInfo *info = &m->tensors[t];
        // Decay pulls weights towards zero; biases and LayerNorm gains are
        // left alone, as is usual.
        const float decay = info->ndim == 2 ? c->weight_decay : 0.0f;
        float *p = info->data;
        const float *g = grads->grads + info->offset;
        float *mom = s->m + info->offset, *vel = s->v + info->offset;
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < info->size; i++) {
            mom[i] = c->beta1 * mom[i] + (1.0f - c->beta1) * g[i];
            vel[i] = c->beta2 * vel[i] + (1.0f - c->beta2) * g[i] * g[i];
            float m_hat = (float)(mom[i] / correction1);
            float v_hat = (float)(vel[i] / correction2);
            p[i] -= lr * decay * p[i];
            p[i] -= lr * m_hat / (sqrtf(v_hat) + c->eps);
        }
    }
}

enum { NORM_CHUNKS = 1024 };

double clip_gradient_norm(float *grads, size_t n, double max_norm) {
    double partial[NORM_CHUNKS] = {0};
    size_t chunk = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
    #pragma omp parallel for schedule(static)
    for (size_t k = 0; k < NORM_CHUNKS; k++) {
        size_t begin = k * chunk, end = begin + chunk < n ? begin + chunk : n;
        double sum = 0.0;
        for (size_t i = begin; i < end; i++) sum += (double)grads[i] * grads[i];
        partial[k] = sum;
    }
    double total = 0.0;
    for (size_t k = 0; k < NORM_CHUNKS; k++) total += partial[k];
    double norm = sqrt(total);
    if (max_norm > 0 && norm > max_norm) {
        float scale = (float)(max_norm / (norm + 1e-6));
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) grads[i] *= scale;
    }
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
