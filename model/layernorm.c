// Layer normalisation (Ba, Kiros, Hinton 2016), as torch.nn.LayerNorm.
#include <math.h>

#include "model/ops.h"

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C, float eps) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += x[c];
        float m = (float)(sum / C);
        double var = 0.0;
        for (int c = 0; c < C; c++) var += (double)(x[c] - m) * (x[c] - m);
        float s = 1.0f / sqrtf((float)(var / C) + eps);  // biased variance, eps inside
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C) {
    // forward: y = x̂ · w + b with x̂ = (x - mean) · rstd.  Through mean and rstd,
    // dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂)) with dx̂ = dy · w.
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        double mean_dxhat = 0.0, mean_dxhat_xhat = 0.0;
        for (int c = 0; c < C; c++) {
            float dxhat = dy[c] * weight[c];
            mean_dxhat += dxhat;
            mean_dxhat_xhat += dxhat * (x[c] - m) * s;
        }
        float a = (float)(mean_dxhat / C), b = (float)(mean_dxhat_xhat / C);
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * s;
            dx[c] += s * (dy[c] * weight[c] - a - xhat * b);
        }
    }
    // dw = Σₙ dy · x̂, db = Σₙ dy; by channel, so no two threads share a sum.
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float dw = 0.0f, db = 0.0f;
        for (int n = 0; n < N; n++) {
            float dy = dout[(size_t)n * C + c];
            dw += dy * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
            db += dy;
        }
        dweight[c] += dw;
        dbias[c] += db;
    }
}
