#include "model/ops.h"

void relu_forward(float *out, const float *inp, size_t n) {
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n) {
    // forward: out = max(0, inp); the slope is 1 where the output is positive.
    // A select, not a branch: the sign of a hidden unit is a coin toss.  The
    // gradient is loaded whatever the sign, or GCC keeps the branch (a load
    // under a condition may not be made unconditional) and no vector.
    #pragma omp parallel for simd schedule(static) if (parallel : n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) {
        const float gradient = dout[i];
        dinp[i] = out[i] > 0.0f ? gradient : 0.0f;
    }
}
