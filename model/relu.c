#include "model/ops.h"

void relu_forward(float *out, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n) {
    // forward: out = max(0, inp); the slope is 1 where the output is positive.
    // A select, not a branch: the sign of a hidden unit is a coin toss.
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}
