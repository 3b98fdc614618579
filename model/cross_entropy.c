// The training objective: cross-entropy against label-smoothed targets
// (paper §5.4, ε = 0.1), averaged over the target positions that are not
// padding.
//
// No probability buffer: the forward keeps one number per row, log Z, and
// the backward turns the logits into their gradient in place, recomputing
// each exponential (cheaper than writing and reading back B·T·V floats).
#include <math.h>

#include "model/fast_exp.h"
#include "model/isa_clones.h"
#include "model/ops.h"

enum { CHUNKS = 256 };

ISA_CLONES static float row_max(const float *x, int V) {
    float m = x[0];
    #pragma omp simd reduction(max : m)
    for (int j = 0; j < V; j++) m = x[j] > m ? x[j] : m;
    return m;
}

// Σⱼ e^(xⱼ - max) and Σⱼ xⱼ; float lanes in a fixed order (the same sums
// whatever the thread count), ample for V ≤ 10⁵ terms of at most 1.
ISA_CLONES static void row_sums(const float *x, int V, float max, float *sum_exp, float *sum_x) {
    float se = 0.0f, sx = 0.0f;
    #pragma omp simd reduction(+ : se, sx)
    for (int j = 0; j < V; j++) {
        se += fast_expf(x[j] - max);
        sx += x[j];
    }
    *sum_exp = se;
    *sum_x = sx;
}

double cross_entropy_forward(float *log_z, const float *logits, const int32_t *targets, int N,
                             int V, float smoothing, int32_t ignore, int *counted,
                             double *mean_nll) {
    // Rows are summed in fixed chunks, then the chunks in order, so the loss
    // is the same bit for bit whatever the number of threads.
    double partial[CHUNKS] = {0}, partial_nll[CHUNKS] = {0};
    int partial_count[CHUNKS] = {0};
    const int rows_per_chunk = (N + CHUNKS - 1) / CHUNKS;
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= PARALLEL_MIN_FLOATS)
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        int end = (chunk + 1) * rows_per_chunk < N ? (chunk + 1) * rows_per_chunk : N;
        for (int n = chunk * rows_per_chunk; n < end; n++) {
            const float *x = logits + (size_t)n * V;
            float max_logit = row_max(x, V), sum_exp, sum_logits;
            row_sums(x, V, max_logit, &sum_exp, &sum_logits);
            double lz = max_logit + log((double)sum_exp);
            log_z[n] = (float)lz;
            int32_t y = targets[n];
            if (y == ignore) continue;
            // -log p_y = log Z - x_y; the uniform part averages -log p_j over j.
            partial[chunk] += (1.0 - smoothing) * (lz - x[y]) +
                              smoothing * (lz - (double)sum_logits / V);
            partial_nll[chunk] += lz - x[y];
            partial_count[chunk]++;
        }
    }
    double loss = 0.0, nll = 0.0;
    int count = 0;
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        loss += partial[chunk];
        nll += partial_nll[chunk];
        count += partial_count[chunk];
    }
    *counted = count;
    if (mean_nll) *mean_nll = count > 0 ? nll / count : 0.0;
    return count > 0 ? loss / count : 0.0;
}

// One row's p_j · inv − uniform, in place of its logits.
ISA_CLONES static void probabilities_minus_uniform(float *x, int V, float lz, float inv, float uniform) {
    #pragma omp simd
    for (int j = 0; j < V; j++) x[j] = fast_expf(x[j] - lz) * inv - uniform;
}

void cross_entropy_backward(float *logits, const float *log_z, const int32_t *targets, int N,
                            int V, float smoothing, int32_t ignore, int counted) {
    // d loss / d logit_j = (p_j - q_j) / counted, q = (1-ε)·one-hot(y) + ε/V,
    // with p_j = e^(x_j - log Z): one pass, the logit read and its gradient
    // written in its place.
    const float inv = counted > 0 ? 1.0f / (float)counted : 0.0f;
    const float uniform = smoothing / (float)V * inv;
    #pragma omp parallel for schedule(static) if ((size_t)N * V >= PARALLEL_MIN_FLOATS)
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * V;
        const int32_t y = targets[n];
        if (y == ignore) {
            for (int j = 0; j < V; j++) x[j] = 0.0f;
            continue;
        }
        probabilities_minus_uniform(x, V, log_z[n], inv, uniform);
        x[y] -= (1.0f - smoothing) * inv;
    }
}
