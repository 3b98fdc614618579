// The next token from a row of logits: the log-softmax normaliser and the
// argmax, 16 logits at a time.
#include "infer/next_token.h"

#include <math.h>
#include <string.h>

typedef float vec16 __attribute__((vector_size(64)));
typedef int32_t ivec16 __attribute__((vector_size(64)));
enum { LANES = 16 };

static inline vec16 load(const float *p) {
    vec16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

// Lane by lane: where `mask` is set, a; elsewhere b.
static inline vec16 select(ivec16 mask, vec16 a, vec16 b) {
    return (vec16)((mask & (ivec16)a) | (~mask & (ivec16)b));
}

// exp(x) for x ≤ 0, 16 at a time, to about one unit in the last place:
// exp(x) = 2ⁿ · exp(r) with n = round(x / ln 2) and |r| ≤ ln 2 / 2, where
// exp(r) is its Taylor series to r⁷ (the next term is below 2⁻²⁷).  Below −87
// the result would leave the normal floats: there it is exp(−87) ≈ 1.6e-38,
// nothing beside the sum's largest term, exp(0) = 1.
static inline vec16 exp_of_nonpositive(vec16 x) {
    const float lowest = -87.0f, rounder = 12582912.0f;  // 1.5 · 2²³: adding it rounds to an integer
    const float ln2_high = 0.693359375f, ln2_low = -2.12194440e-4f;  // ln 2 in two parts
    x = select(x < lowest, (vec16){0} + lowest, x);
    vec16 n = (x * 1.44269504f + rounder) - rounder;
    vec16 r = x - n * ln2_high;
    r = r - n * ln2_low;
    vec16 p = (vec16){0} + 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    ivec16 two_to_n = (__builtin_convertvector(n, ivec16) + 127) << 23;
    return p * (vec16)two_to_n;
}

static float largest(const float *x, int n) {
    float max = x[0];
    int i = 0;
    if (n >= LANES) {
        vec16 lanes = load(x);
        for (i = LANES; i + LANES <= n; i += LANES) {
            vec16 v = load(x + i);
            lanes = select(v > lanes, v, lanes);
        }
        for (int l = 0; l < LANES; l++) max = lanes[l] > max ? lanes[l] : max;
    }
    for (; i < n; i++) max = x[i] > max ? x[i] : max;
    return max;
}

float next_token_log_normaliser(const float *logits, int V) {
    const float *x = logits + TOKEN_FIRST_ALLOWED;
    const int n = V - TOKEN_FIRST_ALLOWED;
    const float max = largest(x, n);
    vec16 lanes = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) lanes += exp_of_nonpositive(load(x + i) - max);
    float sum = 0.0f;
    for (int l = 0; l < LANES; l++) sum += lanes[l];
    for (; i < n; i++) sum += expf(x[i] - max);
    return max + logf(sum);
}

int32_t next_token_argmax(const float *logits, int V) {
    const float *x = logits + TOKEN_FIRST_ALLOWED;
    const int n = V - TOKEN_FIRST_ALLOWED;
    int best = 0, i = 0;
    if (n >= LANES) {
        // Each lane keeps its first maximum (a strict >); of the lanes that
        // hold the overall maximum, the lowest id wins.
        vec16 value = load(x);
        ivec16 id = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, at = id;
        for (i = LANES; i + LANES <= n; i += LANES) {
            at += LANES;
            vec16 v = load(x + i);
            ivec16 better = v > value;
            value = select(better, v, value);
            id = (better & at) | (~better & id);
        }
        best = id[0];
        for (int l = 1; l < LANES; l++) {
            if (value[l] > x[best] || (value[l] == x[best] && id[l] < best)) best = id[l];
        }
    }
    for (; i < n; i++) if (x[i] > x[best]) best = i;
    return TOKEN_FIRST_ALLOWED + best;
}
