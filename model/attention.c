// Scaled dot-product attention over several heads (paper §3.2).
//
// For one query row i of one head: its dot product with every key ("how well
// does this key match what I am looking for"), scaled, masked, turned into
// weights by a softmax, and the weighted sum of the value rows.
#include <math.h>

#include "model/ops.h"

static inline size_t kv_rows(const AttentionShape *s) { return attention_kv_rows(s); }

static inline int is_masked(const AttentionShape *s, int b, int i, int j) {
    return !attention_key_visible(s, b, i, j);
}

void attention_forward(float *out, float *weights, float *dropped, const float *q, const float *k,
                       const float *v, const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    #pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < Tq; i++) {
                size_t row = ((size_t)(b * H + h) * Tq + i) * Tk;
                const float *qi = q + ((size_t)b * Tq + i) * C + h * hs;
                float *w = weights + row, *d = dropped + row;
                float *o = out + ((size_t)b * Tq + i) * C + h * hs;

                // scores: qᵢ · kⱼ · scale, and their maximum for a stable softmax
                float max_score = -INFINITY;
                for (int j = 0; j < Tk; j++) {
                    if (is_masked(s, b, i, j)) continue;
                    const float *kj = k + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float score = 0.0f;
                    #pragma omp simd reduction(+ : score)
                    for (int c = 0; c < hs; c++) score += qi[c] * kj[c];
                    w[j] = score * s->scale;
                    if (w[j] > max_score) max_score = w[j];
                }
                for (int c = 0; c < hs; c++) o[c] = 0.0f;
                if (max_score == -INFINITY) {  // nothing to attend to: zeros, not NaN
                    for (int j = 0; j < Tk; j++) w[j] = d[j] = 0.0f;
                    continue;
                }
                // softmax; masked keys (score -∞) get weight exactly 0
                float sum = 0.0f;
                for (int j = 0; j < Tk; j++) {
                    w[j] = is_masked(s, b, i, j) ? 0.0f : expf(w[j] - max_score);
                    sum += w[j];
                }
                for (int j = 0; j < Tk; j++) {
                    w[j] /= sum;
                    d[j] = s->dropout > 0.0f
                               ? w[j] * dropout_scale(s->dropout, s->seed, s->stream, row + j)
                               : w[j];
                }
                // the weighted sum of value rows
                for (int j = 0; j < Tk; j++) {
                    if (d[j] == 0.0f) continue;
                    const float *vj = v + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    #pragma omp simd
                    for (int c = 0; c < hs; c++) o[c] += d[j] * vj[c];
                }
            }
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *dweights_scratch,
                        const float *dout, const float *q, const float *k, const float *v,
                        const float *weights, const float *dropped, const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    // One thread per (batch, head): the dk and dv slices it adds to are its own.
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < Tq; i++) {
                size_t row = ((size_t)(b * H + h) * Tq + i) * Tk;
                const float *w = weights + row, *d = dropped + row;
                float *dw = dweights_scratch + row;
                const float *qi = q + ((size_t)b * Tq + i) * C + h * hs;
                const float *doi = dout + ((size_t)b * Tq + i) * C + h * hs;
                float *dqi = dq + ((size_t)b * Tq + i) * C + h * hs;

                // forward: oᵢ = Σⱼ dⱼ vⱼ  →  d(dⱼ) = doᵢ · vⱼ,  dvⱼ += dⱼ doᵢ
                // forward: dⱼ = wⱼ · mask / (1 - p)  →  dwⱼ = d(dⱼ) · mask / (1 - p)
                float weighted = 0.0f;  // Σⱼ wⱼ dwⱼ
                for (int j = 0; j < Tk; j++) {
                    if (w[j] == 0.0f) { dw[j] = 0.0f; continue; }  // masked: no gradient
                    const float *vj = v + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float *dvj = dv + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float dd = 0.0f;
                    #pragma omp simd reduction(+ : dd)
                    for (int c = 0; c < hs; c++) {
                        dd += doi[c] * vj[c];
                        dvj[c] += d[j] * doi[c];
                    }
                    dw[j] = s->dropout > 0.0f
                                ? dd * dropout_scale(s->dropout, s->seed, s->stream, row + j)
                                : dd;
                    weighted += w[j] * dw[j];
                }
                // forward: w = softmax(scores)  →  dscoreⱼ = wⱼ (dwⱼ - Σₖ wₖ dwₖ)
                // forward: scoreⱼ = qᵢ · kⱼ · scale  →  dqᵢ += scale Σⱼ dscoreⱼ kⱼ,
                //                                       dkⱼ += scale dscoreⱼ qᵢ
                for (int j = 0; j < Tk; j++) {
                    if (w[j] == 0.0f) continue;
                    float dscore = w[j] * (dw[j] - weighted) * s->scale;
                    const float *kj = k + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float *dkj = dk + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    #pragma omp simd
                    for (int c = 0; c < hs; c++) {
                        dqi[c] += dscore * kj[c];
                        dkj[c] += dscore * qi[c];
                    }
                }
            }
        }
    }
}
