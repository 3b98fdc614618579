// The training objective: cross-entropy against label-smoothed targets
// (paper §5.4, ε = 0.1), averaged over the target positions that are not
// padding.
#include <math.h>

#include "model/ops.h"

enum { CHUNKS = 256 };

double cross_entropy_forward(float *probs, const float *logits, const int32_t *targets, int N,
                             int V, float smoothing, int32_t ignore, int *counted,
                             double *mean_nll) {
    // Rows are summed in fixed chunks, then the chunks in order, so the loss
    // is the same bit for bit whatever the number of threads.
    double partial[CHUNKS] = {0}, partial_nll[CHUNKS] = {0};
    int partial_count[CHUNKS] = {0};
    const int rows_per_chunk = (N + CHUNKS - 1) / CHUNKS;
    #pragma omp parallel for schedule(static)
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        int end = (chunk + 1) * rows_per_chunk < N ? (chunk + 1) * rows_per_chunk : N;
        for (int n = chunk * rows_per_chunk; n < end; n++) {
            const float *x = logits + (size_t)n * V;
            float *p = probs + (size_t)n * V;
            float max_logit = x[0];
            for (int j = 1; j < V; j++) if (x[j] > max_logit) max_logit = x[j];
            // exp in float (fast), sums in double (accurate over thousands of terms)
            double sum_exp = 0.0, sum_logits = 0.0;
            for (int j = 0; j < V; j++) {
                sum_exp += expf(x[j] - max_logit);
                sum_logits += x[j];
            }
            double log_z = max_logit + log(sum_exp);
            int32_t y = targets[n];
            if (y != ignore) {
                // -log p_y = log Z - x_y; the uniform part averages -log p_j over j.
                partial[chunk] += (1.0 - smoothing) * (log_z - x[y]) +
                                  smoothing * (log_z - sum_logits / V);
                partial_nll[chunk] += log_z - x[y];
                partial_count[chunk]++;
            }
            const float shift = (float)(log_z - max_logit);
            for (int j = 0; j < V; j++) p[j] = expf(x[j] - max_logit - shift);
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

void cross_entropy_backward(float *dlogits, const float *probs, const int32_t *targets, int N,
                            int V, float smoothing, int32_t ignore, int counted) {
    // d loss / d logit_j = (p_j - q_j) / counted, q = (1-ε)·one-hot(y) + ε/V
    float inv = counted > 0 ? 1.0f / (float)counted : 0.0f;
    float uniform = smoothing / (float)V;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *d = dlogits + (size_t)n * V;
        const float *p = probs + (size_t)n * V;
        int32_t y = targets[n];
        if (y == ignore) {
            for (int j = 0; j < V; j++) d[j] = 0.0f;
            continue;
        }
        for (int j = 0; j < V; j++) d[j] = (p[j] - uniform) * inv;
        d[y] -= (1.0f - smoothing) * inv;
    }
}
