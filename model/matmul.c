// The linear layer, where nearly all the time goes.
//
// Every output element is computed by one thread in a fixed order, so the
// results are the same from run to run whatever the thread count.  The
// `omp simd reduction` lets the compiler vectorise dot products without
// -ffast-math.
#include "model/ops.h"

enum { ROWS_PER_TILE = 4 };  // rows of inp that share one pass over a weight row

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC) {
    #pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += ROWS_PER_TILE) {
        int rows = N - n0 < ROWS_PER_TILE ? N - n0 : ROWS_PER_TILE;
        for (int o = 0; o < OC; o++) {
            const float *w = weight + (size_t)o * C;
            for (int r = 0; r < rows; r++) {
                const float *x = inp + (size_t)(n0 + r) * C;
                float sum = 0.0f;
                #pragma omp simd reduction(+ : sum)
                for (int c = 0; c < C; c++) sum += x[c] * w[c];
                out[(size_t)(n0 + r) * OC + o] = sum + (bias ? bias[o] : 0.0f);
            }
        }
    }
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC) {
    // forward: out[n][o] = Σ_c inp[n][c] · weight[o][c] + bias[o]
    if (dinp) {
        #pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            float *dx = dinp + (size_t)n * C;
            for (int o = 0; o < OC; o++) {
                float g = dout[(size_t)n * OC + o];
                const float *w = weight + (size_t)o * C;
                #pragma omp simd
                for (int c = 0; c < C; c++) dx[c] += g * w[c];
            }
        }
    }
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        float *dw = dweight + (size_t)o * C;
        float db = 0.0f;
        for (int n = 0; n < N; n++) {
            float g = dout[(size_t)n * OC + o];
            db += g;
            const float *x = inp + (size_t)n * C;
            #pragma omp simd
            for (int c = 0; c < C; c++) dw[c] += g * x[c];
        }
        if (dbias) dbias[o] += db;
    }
}
