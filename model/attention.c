// Scaled dot-product attention over several heads (paper §3.2).
//
// For one query row i of one head: its dot product with every key ("how well
// does this key match what I am looking for"), scaled, masked, turned into
// weights by a softmax, and the weighted sum of the value rows.
#include <math.h>

#include "model/fast_exp.h"
#include "model/ops.h"

static inline size_t kv_rows(const AttentionShape *s) { return attention_kv_rows(s); }

// Keys a query may see lie before this one (causal) or all Tk of them; the
// padding among them is masked by attention_key_visible's other rule.
static inline int keys_before(const AttentionShape *s, int i) {
    int end = s->causal ? i + s->Tk - s->Tq + 1 : s->Tk;
    return end < s->Tk ? end : s->Tk;
}

// w (Tk) = softmax of the scores in w[0, end) (masked ones -∞), 0 from end on;
// d (Tk) = w after dropout.  A row with nothing to attend to is all 0, not NaN.
static void softmax_row(float *w, float *d, int end, const AttentionShape *s, size_t row) {
    const int Tk = s->Tk;
    float max_score = -INFINITY;
    #pragma omp simd reduction(max : max_score)
    for (int j = 0; j < end; j++) max_score = w[j] > max_score ? w[j] : max_score;
    if (max_score == -INFINITY) end = 0;
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int j = 0; j < end; j++) {
        w[j] = fast_expf(w[j] - max_score);  // e^-∞ = 0: masked keys weigh nothing
        sum += w[j];
    }
    #pragma omp simd
    for (int j = 0; j < end; j++) w[j] /= sum;
    for (int j = end; j < Tk; j++) w[j] = 0.0f;
    if (s->dropout > 0.0f) {
        #pragma omp simd
        for (int j = 0; j < Tk; j++) d[j] = w[j] * dropout_scale(s->dropout, s->seed, s->stream, row + j);
    } else if (d != w) {
        for (int j = 0; j < Tk; j++) d[j] = w[j];
    }
}

void attention_forward(float *out, float *weights, float *dropped, const float *q, const float *k,
                       const float *v, const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    const size_t work = (size_t)B * H * Tq * Tk * hs;
    #pragma omp parallel for collapse(3) schedule(static) if (work >= PARALLEL_MIN_FLOATS)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < Tq; i++) {
                size_t row = ((size_t)(b * H + h) * Tq + i) * Tk;
                const float *qi = q + ((size_t)b * Tq + i) * C + h * hs;
                float *w = weights + row, *d = dropped + row;
                float *o = out + ((size_t)b * Tq + i) * C + h * hs;
                const uint8_t *padding = s->key_masked ? s->key_masked + (size_t)b * kv_rows(s) : NULL;
                const int end = keys_before(s, i);

                // scores: qᵢ · kⱼ · scale, -∞ for padding
                for (int j = 0; j < end; j++) {
                    const float *kj = k + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float score = 0.0f;
                    #pragma omp simd reduction(+ : score)
                    for (int c = 0; c < hs; c++) score += qi[c] * kj[c];
                    w[j] = padding && padding[j] ? -INFINITY : score * s->scale;
                }
                softmax_row(w, d, end, s, row);
                // the weighted sum of value rows
                for (int c = 0; c < hs; c++) o[c] = 0.0f;
                for (int j = 0; j < end; j++) {
                    if (d[j] == 0.0f) continue;
                    const float *vj = v + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    #pragma omp simd
                    for (int c = 0; c < hs; c++) o[c] += d[j] * vj[c];
                }
            }
        }
    }
}

// Rows [0, n) of batch entry b in x (B, rows, C), head h's channels: zeroed.
static void zero_head(float *x, int b, size_t rows, int n, int C, int h, int hs) {
    for (int r = 0; r < n; r++) {
        float *row = x + ((size_t)b * rows + r) * C + h * hs;
        for (int c = 0; c < hs; c++) row[c] = 0.0f;
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *dweights_scratch,
                        const float *dout, const float *q, const float *k, const float *v,
                        const float *weights, const float *dropped, const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    const size_t work = (size_t)B * H * Tq * Tk * hs;
    // One thread per (batch, head): the dk and dv slices it adds to are its own.
    #pragma omp parallel for collapse(2) schedule(static) if (work >= PARALLEL_MIN_FLOATS)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            zero_head(dq, b, Tq, Tq, C, h, hs);  // written here: nobody need zero them
            zero_head(dk, b, kv_rows(s), Tk, C, h, hs);
            zero_head(dv, b, kv_rows(s), Tk, C, h, hs);
            for (int i = 0; i < Tq; i++) {
                size_t row = ((size_t)(b * H + h) * Tq + i) * Tk;
                const float *w = weights + row, *d = dropped + row;
                float *dw = dweights_scratch + row;
                const float *qi = q + ((size_t)b * Tq + i) * C + h * hs;
                const float *doi = dout + ((size_t)b * Tq + i) * C + h * hs;
                float *dqi = dq + ((size_t)b * Tq + i) * C + h * hs;
                const int end = keys_before(s, i);

                // forward: oᵢ = Σⱼ dⱼ vⱼ  →  d(dⱼ) = doᵢ · vⱼ,  dvⱼ += dⱼ doᵢ
                for (int j = 0; j < end; j++) {
                    dw[j] = 0.0f;
                    if (w[j] == 0.0f) continue;  // masked: no gradient
                    const float *vj = v + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float *dvj = dv + ((size_t)b * kv_rows(s) + j) * C + h * hs;
                    float dd = 0.0f;
                    #pragma omp simd reduction(+ : dd)
                    for (int c = 0; c < hs; c++) {
                        dd += doi[c] * vj[c];
                        dvj[c] += d[j] * doi[c];
                    }
                    dw[j] = dd;
                }
                // forward: dⱼ = wⱼ · mask / (1 - p)  →  dwⱼ = d(dⱼ) · mask / (1 - p)
                if (s->dropout > 0.0f) {
                    #pragma omp simd
                    for (int j = 0; j < end; j++) {
                        dw[j] *= dropout_scale(s->dropout, s->seed, s->stream, row + j);
                    }
                }
                float weighted = 0.0f;  // Σⱼ wⱼ dwⱼ
                #pragma omp simd reduction(+ : weighted)
                for (int j = 0; j < end; j++) weighted += w[j] * dw[j];
                // forward: w = softmax(scores)  →  dscoreⱼ = wⱼ (dwⱼ - Σₖ wₖ dwₖ)
                // forward: scoreⱼ = qᵢ · kⱼ · scale  →  dqᵢ += scale Σⱼ dscoreⱼ kⱼ,
                //                                       dkⱼ += scale dscoreⱼ qᵢ
                for (int j = 0; j < end; j++) {
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
