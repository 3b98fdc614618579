// Token embeddings and sinusoidal positional encodings (paper §3.4, §3.5).
#include <math.h>

#include "model/ops.h"

void positional_encoding(float *row, int position, int C) {
    for (int i = 0; i < C; i += 2) {
        // 10000^(-i/C) for the pair of channels (i, i+1)
        double angle = position * exp(-log(10000.0) * i / C);
        row[i] = (float)sin(angle);
        if (i + 1 < C) row[i + 1] = (float)cos(angle);
    }
}

void embedding_forward(float *out, const int32_t *tokens, const float *table,
                       const float *positions, int B, int T, int C, int first_position) {
    // The embeddings are multiplied by sqrt(d_model) so that they are not
    // drowned by the positional encodings, whose entries are of size 1.
    const float scale = sqrtf((float)C);
    #pragma omp parallel for schedule(static) if ((size_t)B * T * C >= PARALLEL_MIN_FLOATS)
    for (int bt = 0; bt < B * T; bt++) {
        float *y = out + (size_t)bt * C;
        const float *e = table + (size_t)tokens[bt] * C;
        const float *pe = positions + (size_t)(first_position + bt % T) * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) y[c] = e[c] * scale + pe[c];
    }
}

void embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int B, int T,
                        int C) {
    // forward: out[b, t] = table[tokens[b, t]] · sqrt(C) + PE(t).  A token may
    // occur many times, so this runs in order: no two threads add to one row.
    float scale = sqrtf((float)C);
    for (int bt = 0; bt < B * T; bt++) {
        float *de = dtable + (size_t)tokens[bt] * C;
        const float *dy = dout + (size_t)bt * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) de[c] += dy[c] * scale;
    }
}
