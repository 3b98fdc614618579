// The next token from a row of logits: the log-softmax normaliser and the
// argmax, 16 logits at a time.
#include "infer/next_token.h"

#include "model/fast_exp.h"

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
    // 16 partial sums, one per lane, added up at the end: a fixed order
    float lanes[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        #pragma omp simd
        for (int l = 0; l < LANES; l++) lanes[l] += fast_expf(x[i + l] - max);
    }
    float sum = 0.0f;
    for (int l = 0; l < LANES; l++) sum += lanes[l];
    for (; i < n; i++) sum += fast_expf(x[i] - max);
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

bool next_token_logits_finite(const float *logits, int V) {
    // x - x is 0 for every finite x and NaN for ±inf and NaN, so the sum is 0
    // exactly when the whole row is finite, in whatever order it is added.
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int v = TOKEN_FIRST_ALLOWED; v < V; v++) sum += logits[v] - logits[v];
    return sum == 0.0f;
}

int next_token_not_finite(Error *err, int step) {
    return error_set(err, "the model's scores for target token %d are not finite numbers (NaN or "
                          "infinite logits): its weights are damaged or too large", step + 1);
}
