// Dropout (Srivastava et al. 2014), "inverted": survivors are scaled up at
// training time so that nothing changes at inference.
//
// Each loop tests p = 0 outside, not per element: a loop without branches
// computes 8 masks at once.
#include <string.h>

#include "model/ops.h"

void dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                     uint64_t stream, size_t first) {
    if (p == 0.0f) {
        if (out != inp) memcpy(out, inp, n * sizeof *out);
        return;
    }
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * dropout_scale(p, seed, stream, first + i);
}

void dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                      uint64_t stream, size_t first) {
    // forward: out = inp · mask / (1 - p)
    if (p == 0.0f) {
        if (dinp != dout) memcpy(dinp, dout, n * sizeof *dinp);
        return;
    }
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * dropout_scale(p, seed, stream, first + i);
}

void residual_dropout_forward(float *out, const float *residual, const float *branch, size_t n,
                              float p, uint64_t seed, uint64_t stream, size_t first) {
    if (p == 0.0f) {
        #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
        for (size_t i = 0; i < n; i++) out[i] = residual[i] + branch[i];
        return;
    }
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) {
        out[i] = residual[i] + branch[i] * dropout_scale(p, seed, stream, first + i);
    }
}

void residual_dropout_backward(float *dresidual, float *dbranch, const float *dout, size_t n,
                               float p, uint64_t seed, uint64_t stream, size_t first) {
    // forward: out = residual + branch · mask / (1 - p)
    if (p == 0.0f) {
        memcpy(dresidual, dout, n * sizeof *dresidual);
        memcpy(dbranch, dout, n * sizeof *dbranch);
        return;
    }
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) {
        dresidual[i] = dout[i];
        dbranch[i] = dout[i] * dropout_scale(p, seed, stream, first + i);
    }
}
