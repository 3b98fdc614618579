// A float exponential that vectorises: libm's expf is a call, so a loop that
// uses it runs one element at a time, while this inline version, written with
// arithmetic alone, lets `omp simd` loops compute 16 exponentials at once.
// Used by model/ and by the search's normaliser in infer/next_token.c.
#ifndef AZUL_FAST_EXP_H
#define AZUL_FAST_EXP_H

#include <stdint.h>
#include <string.h>

// e^x for x ≤ 88 (the callers pass x ≤ 0: a value minus its row's maximum).
// x = n·ln 2 + r with n an integer and |r| ≤ ln(2)/2, so e^x = 2ⁿ · e^r.
// e^r is its Taylor series to degree 7: the first term left out,
// |r|⁸/8! ≤ 0.347⁸/40320 < 6e-9, is below float's relative rounding step
// (6e-8), so the result is within a few units in the last place of expf's.
// ln 2 is split into 2839/4096 (12 bits: its product with n is exact) and
// the rest, so that r keeps its precision.  e^0 is exactly 1; below -87.3
// (where 2ⁿ is no longer a normal float) the result is 0.
static inline float fast_expf(float x) {
    const float log2e = 1.44269504f, ln2_hi = 0.693115234f, ln2_lo = 3.19461833e-5f;
    // Clamped into [-87.3, 88] so that n below always converts to an integer:
    // NaN and ±∞ do reach here when a damaged model's activations overflow.
    float clamped = x >= -87.3f ? (x <= 88.0f ? x : 88.0f) : -87.3f;
    // round to nearest: adding 1.5·2²³ pushes the fraction bits out of the float
    float n = (clamped * log2e + 12582912.0f) - 12582912.0f;
    float r = clamped - n * ln2_hi - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2ⁿ built from its exponent bits
    int32_t bits = ((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return x < -87.3f ? 0.0f : x != x ? x : p * two_n;  // NaN stays NaN
}

#endif
