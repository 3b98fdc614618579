// Layer normalisation (Ba, Kiros, Hinton 2016), as torch.nn.LayerNorm.
//
// Sums over a row's C channels are float vector lanes added in a fixed order:
// the same results whatever the number of threads, and close enough to
// PyTorch's (the parity tests check it).
#include <math.h>

#include "model/ops.h"

// y (C) = (x - m) · s · weight + bias: one function for the forward and for
// layernorm_apply, so that both round alike.
static inline void normalise_row(float *y, const float *x, float m, float s, const float *weight,
                                 const float *bias, int C) {
    #pragma omp simd
    for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * weight[c] + bias[c];
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C, float eps) {
    #pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN_FLOATS)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int c = 0; c < C; c++) sum += x[c];
        const float m = sum / (float)C;
        float var = 0.0f;  // about the mean, a second pass: no cancellation
        #pragma omp simd reduction(+ : var)
        for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
        const float s = 1.0f / sqrtf(var / (float)C + eps);  // biased variance, eps inside
        normalise_row(y, x, m, s, weight, bias, C);
        mean[n] = m;
        rstd[n] = s;
    }
}

void layernorm_apply(float *out, const float *inp, const float *weight, const float *bias,
                     const float *mean, const float *rstd, int N, int C) {
    #pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN_FLOATS)
    for (int n = 0; n < N; n++) {
        normalise_row(out + (size_t)n * C, inp + (size_t)n * C, mean[n], rstd[n], weight, bias, C);
    }
}

// Channels a thread sums dweight and dbias over at once, in vector lanes.
enum { CHANNEL_BLOCK = 64 };

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C) {
    // One parallel region for both parts: the sums over rows do not wait for dinp.
    #pragma omp parallel if ((size_t)N * C >= PARALLEL_MIN_FLOATS)
    {
        // forward: y = x̂ · w + b with x̂ = (x - mean) · rstd.  Through mean and rstd,
        // dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂)) with dx̂ = dy · w.
        #pragma omp for schedule(static) nowait
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            const float m = mean[n], s = rstd[n];
            float sum_dxhat = 0.0f, sum_dxhat_xhat = 0.0f;
            #pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
            for (int c = 0; c < C; c++) {
                float dxhat = dy[c] * weight[c];
                sum_dxhat += dxhat;
                sum_dxhat_xhat += dxhat * (x[c] - m) * s;
            }
            const float a = sum_dxhat / (float)C, b = sum_dxhat_xhat / (float)C;
            #pragma omp simd
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * s;
                dx[c] += s * (dy[c] * weight[c] - a - xhat * b);
            }
        }
        // dw = Σₙ dy · x̂, db = Σₙ dy: each thread owns blocks of channels and
        // walks the rows in order, so no two threads share a sum.
        #pragma omp for schedule(static)
        for (int c0 = 0; c0 < C; c0 += CHANNEL_BLOCK) {
            const int width = C - c0 < CHANNEL_BLOCK ? C - c0 : CHANNEL_BLOCK;
            float dw[CHANNEL_BLOCK] = {0}, db[CHANNEL_BLOCK] = {0};
            for (int n = 0; n < N; n++) {
                const float *dy = dout + (size_t)n * C + c0, *x = inp + (size_t)n * C + c0;
                const float m = mean[n], s = rstd[n];
                #pragma omp simd
                for (int k = 0; k < width; k++) {
                    dw[k] += dy[k] * (x[k] - m) * s;
                    db[k] += dy[k];
                }
            }
            for (int k = 0; k < width; k++) {
                dweight[c0 + k] += dw[k];
                dbias[c0 + k] += db[k];
            }
        }
    }
}
