// Dropout (Srivastava et al. 2014), "inverted": survivors are scaled up at
// training time so that nothing changes at inference.
#include "model/ops.h"

void dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                     uint64_t stream) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        out[i] = p > 0.0f ? inp[i] * dropout_scale(p, seed, stream, i) : inp[i];
    }
}

void dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                      uint64_t stream) {
    // forward: out = inp · mask / (1 - p)
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        dinp[i] += p > 0.0f ? dout[i] * dropout_scale(p, seed, stream, i) : dout[i];
    }
}

void residual_dropout_forward(float *out, const float *residual, const float *branch, size_t n,
                              float p, uint64_t seed, uint64_t stream) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float kept = p > 0.0f ? branch[i] * dropout_scale(p, seed, stream, i) : branch[i];
        out[i] = residual[i] + kept;
    }
}

void residual_dropout_backward(float *dresidual, float *dbranch, const float *dout, size_t n,
                               float p, uint64_t seed, uint64_t stream) {
    // forward: out = residual + branch · mask / (1 - p)
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        dresidual[i] += dout[i];
        dbranch[i] += p > 0.0f ? dout[i] * dropout_scale(p, seed, stream, i) : dout[i];
    }
}
