// Scaled dot-product attention over several heads (paper §3.2).
//
// For one query row i of one head: its dot product with every key ("how well
// does this key match what I am looking for"), scaled, masked, turned into
// weights by a softmax, and the weighted sum of the value rows.
#include <math.h>

#include "model/fast_exp.h"
#include "model/isa_clones.h"
#include "model/ops.h"

static inline size_t kv_rows(const AttentionShape *s) { return attention_kv_rows(s); }

// Keys a query may see lie before this one (causal) or all Tk of them; the
// padding among them is masked by attention_key_visible's other rule.
static inline int keys_before(const AttentionShape *s, int i) {
    int end = s->causal ? i + s->Tk - s->Tq + 1 : s->Tk;
    return end < s->Tk ? end : s->Tk;
}

// w (Tk) = softmax of the scores in w[0, end) (masked ones -∞), 0 from end on.
// A row with nothing to attend to is all 0, not NaN.
ISA_CLONES static void softmax_row(float *w, int end, int Tk) {
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
}

// Dropout on the weights is not stored: its mask is drawn again from the
// seed wherever it is needed, ROW_CHUNK keys at a time.
enum { ROW_CHUNK = 256 };

// scale (n) = dropout's factor (0 or 1/(1-p)) for the n weights starting at
// index `at` of the (B, H, Tq, Tk) weights; all 1 without dropout.
ISA_CLONES static void dropout_factors(float *restrict scale, int n, const AttentionShape *s, size_t at) {
    // in locals: a store to scale could otherwise be taken to change *s,
    // which keeps the loop from being vectorised
    const float p = s->dropout;
    const uint64_t seed = s->seed, stream = s->stream;
    const size_t first = s->dropout_first + at;
    if (p > 0.0f) {
        #pragma omp simd
        for (int j = 0; j < n; j++) scale[j] = dropout_scale(p, seed, stream, first + (size_t)j);
    } else {
        for (int j = 0; j < n; j++) scale[j] = 1.0f;
    }
}

// Floats one accumulator of head_products or combine_rows holds: a 16-float
// vector, kept in a register.
enum { LANES = 16 };

// Keys (and channels) one head_products block handles: a 16 KB tile that
// stays in L1.
enum { BLOCK_KEYS = 64, BLOCK_CHANNELS = 64 };

// Rows head_products grows at once: one chain of dependent additions per row
// would leave the multiply-add unit waiting on its own latency.
enum { ROWS_AT_ONCE = 4 };

// LANES floats, as one vector register (GCC's and clang's vector extension;
// the compiler splits it where the machine's vectors are narrower).
typedef float lanes_vector __attribute__((vector_size(LANES * sizeof(float))));
typedef float lanes_vector_unaligned __attribute__((vector_size(LANES * sizeof(float)), aligned(4)));

static inline lanes_vector load_lanes(const float *x, int width) {
    if (width == LANES) return *(const lanes_vector_unaligned *)x;
    lanes_vector v = {0};
    for (int l = 0; l < width; l++) v[l] = x[l];
    return v;
}

static inline void store_lanes(float *x, lanes_vector v, int width) {
    if (width == LANES) {
        *(lanes_vector_unaligned *)x = v;
        return;
    }
    for (int l = 0; l < width; l++) x[l] = v[l];
}

// o's `rows` rows (at stride ldo, 1 or ROWS_AT_ONCE of them) gain
// Σ_c a[r, c] · bt[c, 0…width) over the channels, each row's LANES floats in
// a register (bt is padded with zeros up to LANES); every row's terms are
// added in channel order.
static inline void grow_rows(float *o, size_t ldo, const float *a, size_t lda, const float *bt,
                             int channels, int width, int rows) {
    if (rows == 1) {
        lanes_vector acc = load_lanes(o, width);
        for (int c = 0; c < channels; c++) {
            acc += a[c] * *(const lanes_vector *)(bt + c * BLOCK_KEYS);
        }
        store_lanes(o, acc, width);
        return;
    }
    lanes_vector acc0 = load_lanes(o, width), acc1 = load_lanes(o + ldo, width),
                 acc2 = load_lanes(o + 2 * ldo, width), acc3 = load_lanes(o + 3 * ldo, width);
    for (int c = 0; c < channels; c++) {
        const lanes_vector col = *(const lanes_vector *)(bt + c * BLOCK_KEYS);
        acc0 += a[c] * col;
        acc1 += a[lda + c] * col;
        acc2 += a[2 * lda + c] * col;
        acc3 += a[3 * lda + c] * col;
    }
    store_lanes(o, acc0, width);
    store_lanes(o + ldo, acc1, width);
    store_lanes(o + 2 * ldo, acc2, width);
    store_lanes(o + 3 * ldo, acc3, width);
}

// out (Tq, Tk) = a · bᵀ for one head: a's row i at a + i·C, b's row j at
// b + j·ldb, hs channels each.  A dot product per (i, j) would end in a sum
// across vector lanes every few multiplications; instead a tile of b is
// transposed once and each row of out grows by whole vectors of keys.
static void head_products(float *out, const float *a, const float *b, int Tq, int Tk, int C,
                          size_t ldb, int hs) {
    _Alignas(64) float bt[BLOCK_CHANNELS * BLOCK_KEYS];
    for (size_t x = 0; x < (size_t)Tq * Tk; x++) out[x] = 0.0f;
    for (int j0 = 0; j0 < Tk; j0 += BLOCK_KEYS) {
        const int keys = Tk - j0 < BLOCK_KEYS ? Tk - j0 : BLOCK_KEYS;
        for (int c0 = 0; c0 < hs; c0 += BLOCK_CHANNELS) {
            const int channels = hs - c0 < BLOCK_CHANNELS ? hs - c0 : BLOCK_CHANNELS;
            for (int j = 0; j < keys; j++) {
                const float *bj = b + (size_t)(j0 + j) * ldb + c0;
                for (int c = 0; c < channels; c++) bt[c * BLOCK_KEYS + j] = bj[c];
            }
            // bt's columns past `keys`, up to a whole vector, read as zeros
            const int padded = (keys + LANES - 1) / LANES * LANES;
            for (int c = 0; c < channels; c++) {
                for (int j = keys; j < padded; j++) bt[c * BLOCK_KEYS + j] = 0.0f;
            }
            // out's rows grow by LANES keys at a time, kept in registers across
            // the channels, four rows at once so that four sums are in flight
            for (int i = 0; i < Tq; i += ROWS_AT_ONCE) {
                const float *ai = a + (size_t)i * C + c0;
                float *o = out + (size_t)i * Tk + j0;
                for (int jb = 0; jb < keys; jb += LANES) {
                    const int width = keys - jb < LANES ? keys - jb : LANES;
                    if (Tq - i >= ROWS_AT_ONCE) {
                        grow_rows(o + jb, Tk, ai, C, bt + jb, channels, width, ROWS_AT_ONCE);
                    } else {
                        for (int r = 0; r < Tq - i; r++) {
                            grow_rows(o + (size_t)r * Tk + jb, Tk, ai + (size_t)r * C, C, bt + jb,
                                      channels, width, 1);
                        }
                    }
                }
            }
        }
    }
}

// Outputs combine_rows fills at once, for the same reason.
enum { OUTPUTS_AT_ONCE = 4 };

// outs rows r < nout (1 or OUTPUTS_AT_ONCE, at stride ldo) += Σⱼ coef[r·cr + j·cj] ·
// rows[j·ld …] over j < n, hs channels: sums of row vectors kept in registers,
// LANES channels at a time, instead of each output being read and written back
// once per row.  Each output's terms are added in j order.
static void combine_rows(float *out, size_t ldo, const float *coef, size_t cr, size_t cj, int n,
                         const float *rows, size_t ld, int hs, int nout) {
    int c0 = 0;
    for (; c0 + LANES <= hs; c0 += LANES) {
        if (nout == 1) {
            lanes_vector acc = load_lanes(out + c0, LANES);
            for (int j = 0; j < n; j++) {
                acc += coef[j * cj] * *(const lanes_vector_unaligned *)(rows + j * ld + c0);
            }
            store_lanes(out + c0, acc, LANES);
            continue;
        }
        lanes_vector acc0 = load_lanes(out + c0, LANES), acc1 = load_lanes(out + ldo + c0, LANES),
                     acc2 = load_lanes(out + 2 * ldo + c0, LANES),
                     acc3 = load_lanes(out + 3 * ldo + c0, LANES);
        for (int j = 0; j < n; j++) {
            const lanes_vector row = *(const lanes_vector_unaligned *)(rows + j * ld + c0);
            const float *cj_row = coef + j * cj;
            acc0 += cj_row[0] * row;
            acc1 += cj_row[cr] * row;
            acc2 += cj_row[2 * cr] * row;
            acc3 += cj_row[3 * cr] * row;
        }
        store_lanes(out + c0, acc0, LANES);
        store_lanes(out + ldo + c0, acc1, LANES);
        store_lanes(out + 2 * ldo + c0, acc2, LANES);
        store_lanes(out + 3 * ldo + c0, acc3, LANES);
    }
    for (int r = 0; r < nout && c0 < hs; r++) {
        float *o = out + r * ldo;
        for (int j = 0; j < n; j++) {
            const float x = coef[r * cr + j * cj], *row = rows + j * ld;
            for (int c = c0; c < hs; c++) o[c] += x * row[c];
        }
    }
}

// The context of queries [i, i + nout) of one head (nout 1 or OUTPUTS_AT_ONCE):
// o (nout, hs, at stride C) = Σⱼ dⱼ vⱼ over the keys the last of them sees,
// where the dropped weights dⱼ = wⱼ · mask / (1 - p); w's rows start at index
// `row` of the weights, and are 0 past the keys each query sees.
static void weighted_values(float *o, const float *w, const float *vb, int end, int Tk, int hs,
                            int C, const AttentionShape *s, size_t row, int nout) {
    for (int r = 0; r < nout; r++) {
        for (int c = 0; c < hs; c++) o[(size_t)r * C + c] = 0.0f;
    }
    if (s->dropout <= 0.0f) {
        combine_rows(o, (size_t)C, w, (size_t)Tk, 1, end, vb, (size_t)C, hs, nout);
        return;
    }
    if (nout * Tk <= ROW_CHUNK) {
        // short rows: their masks in one go (the rows are contiguous)
        float d[ROW_CHUNK];
        dropout_factors(d, nout * Tk, s, row);
        #pragma omp simd
        for (int x = 0; x < nout * Tk; x++) d[x] *= w[x];
        combine_rows(o, (size_t)C, d, (size_t)Tk, 1, end, vb, (size_t)C, hs, nout);
        return;
    }
    for (int j0 = 0; j0 < end; j0 += ROW_CHUNK) {
        const int n = end - j0 < ROW_CHUNK ? end - j0 : ROW_CHUNK;
        float d[OUTPUTS_AT_ONCE][ROW_CHUNK];
        for (int r = 0; r < nout; r++) {
            const float *wr = w + (size_t)r * Tk + j0;
            dropout_factors(d[r], n, s, row + (size_t)r * Tk + j0);
            #pragma omp simd
            for (int j = 0; j < n; j++) d[r][j] *= wr[j];
        }
        combine_rows(o, (size_t)C, d[0], ROW_CHUNK, 1, n, vb + (size_t)j0 * C, (size_t)C, hs, nout);
    }
}

// All contexts of one head: queries OUTPUTS_AT_ONCE at a time.
static void head_contexts(float *ob, const float *wb, const float *vb, int Tq, int Tk, int hs,
                          int C, const AttentionShape *s, size_t block) {
    for (int i = 0; i < Tq; i += OUTPUTS_AT_ONCE) {
        const int nout = Tq - i >= OUTPUTS_AT_ONCE ? OUTPUTS_AT_ONCE : 1;
        for (int r = 0; r < (nout == 1 ? Tq - i : 1); r++) {
            const int first = i + r, last = first + nout - 1;
            weighted_values(ob + (size_t)first * C, wb + (size_t)first * Tk, vb, keys_before(s, last),
                            Tk, hs, C, s, block + (size_t)first * Tk, nout);
        }
    }
}

void attention_forward(float *out, float *weights, const float *q, const float *k, const float *v,
                       const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    const size_t ld = (size_t)C;
    #pragma omp parallel for collapse(2) schedule(static) \
        if ((size_t)B * H * Tq * Tk * hs >= PARALLEL_MIN_FLOATS)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const size_t block = (size_t)(b * H + h) * Tq * Tk;
            const float *kb = k + (size_t)b * kv_rows(s) * C + h * hs;
            const float *vb = v + (size_t)b * kv_rows(s) * C + h * hs;
            const uint8_t *padding = s->key_masked ? s->key_masked + (size_t)b * kv_rows(s) : NULL;
            // scores (Tq, Tk): qᵢ · kⱼ, for every query of the head at once
            head_products(weights + block, q + (size_t)b * Tq * C + h * hs, kb, Tq, Tk, C, ld, hs);
            for (int i = 0; i < Tq; i++) {
                float *w = weights + block + (size_t)i * Tk;
                const int end = keys_before(s, i);
                // scaled, -∞ for padding
                #pragma omp simd
                for (int j = 0; j < end; j++) {
                    w[j] = padding && padding[j] ? -INFINITY : w[j] * s->scale;
                }
                softmax_row(w, end, Tk);
            }
            head_contexts(out + (size_t)b * Tq * C + h * hs, weights + block, vb, Tq, Tk, hs, C, s,
                          block);
        }
    }
}

void attention_values(float *out, const float *weights, const float *v, const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    #pragma omp parallel for collapse(2) schedule(static) \
        if ((size_t)B * H * Tq * Tk * hs >= PARALLEL_MIN_FLOATS)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const size_t block = (size_t)(b * H + h) * Tq * Tk;
            const float *vb = v + (size_t)b * kv_rows(s) * C + h * hs;
            head_contexts(out + (size_t)b * Tq * C + h * hs, weights + block, vb, Tq, Tk, hs, C, s,
                          block);
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

// dxb (rows, hs at stride C) = Σ over the tile's rows i of tile[i, j] · yb[i]:
// row j of dxb combines the rows of yb with column j of the (Tq, Tk) tile.
static void tile_columns_times(float *dxb, const float *tile, const float *yb, int Tq, int Tk,
                               int hs, int C) {
    for (int j = 0; j < Tk; j += OUTPUTS_AT_ONCE) {
        const int nout = Tk - j >= OUTPUTS_AT_ONCE ? OUTPUTS_AT_ONCE : 1;
        for (int r = 0; r < (nout == 1 ? Tk - j : 1); r++) {
            combine_rows(dxb + (size_t)(j + r) * C, (size_t)C, tile + j + r, 1, (size_t)Tk, Tq, yb,
                         (size_t)C, hs, nout);
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *dweights_scratch,
                        const float *dout, const float *q, const float *k, const float *v,
                        const float *weights, const AttentionShape *s) {
    const int B = s->B, Tq = s->Tq, Tk = s->Tk, C = s->C, H = s->H, hs = C / H;
    const size_t ld = (size_t)C;
    // One thread per (batch, head): the dk and dv slices it adds to are its own.
    #pragma omp parallel for collapse(2) schedule(static) \
        if ((size_t)B * H * Tq * Tk * hs >= PARALLEL_MIN_FLOATS)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const size_t block = (size_t)(b * H + h) * Tq * Tk;
            const float *kb = k + (size_t)b * kv_rows(s) * C + h * hs;
            const float *vb = v + (size_t)b * kv_rows(s) * C + h * hs;
            const float *qb = q + (size_t)b * Tq * C + h * hs;
            const float *dob = dout + (size_t)b * Tq * C + h * hs;
            float *dqb = dq + (size_t)b * Tq * C + h * hs;
            float *dkb = dk + (size_t)b * kv_rows(s) * C + h * hs;
            float *dvb = dv + (size_t)b * kv_rows(s) * C + h * hs;
            float *tile = dweights_scratch + block;
            zero_head(dq, b, Tq, Tq, C, h, hs);  // written here: nobody need zero them
            zero_head(dk, b, kv_rows(s), Tk, C, h, hs);
            zero_head(dv, b, kv_rows(s), Tk, C, h, hs);
            // forward: oᵢ = Σⱼ dⱼ vⱼ with dⱼ = wⱼ · mask / (1 - p)  →  dvⱼ = Σᵢ dᵢⱼ doᵢ:
            // the dropped weights, in the tile for now
            const size_t tile_size = (size_t)Tq * Tk;
            const float *wb = weights + block;
            for (size_t x0 = 0; x0 < tile_size; x0 += ROW_CHUNK) {
                const int n = tile_size - x0 < ROW_CHUNK ? (int)(tile_size - x0) : ROW_CHUNK;
                dropout_factors(tile + x0, n, s, block + x0);
                #pragma omp simd
                for (int x = 0; x < n; x++) tile[x0 + x] *= wb[x0 + x];
            }
            tile_columns_times(dvb, tile, dob, Tq, Tk, hs, C);
            // ... and d(dⱼ) = doᵢ · vⱼ, for every i and j at once
            head_products(tile, dob, vb, Tq, Tk, C, ld, hs);
            // forward: dⱼ = wⱼ · mask / (1 - p)  →  dwⱼ = d(dⱼ) · mask / (1 - p);
            // masked keys (wⱼ = 0) get no gradient
            for (size_t x0 = 0; x0 < tile_size; x0 += ROW_CHUNK) {
                const int n = tile_size - x0 < ROW_CHUNK ? (int)(tile_size - x0) : ROW_CHUNK;
                float mask[ROW_CHUNK];
                dropout_factors(mask, n, s, block + x0);
                #pragma omp simd
                for (int x = 0; x < n; x++) {
                    tile[x0 + x] = wb[x0 + x] == 0.0f ? 0.0f : tile[x0 + x] * mask[x];
                }
            }
            for (int i = 0; i < Tq; i++) {
                const float *w = wb + (size_t)i * Tk;
                float *dw = tile + (size_t)i * Tk;
                const int end = keys_before(s, i);
                float weighted = 0.0f;  // Σⱼ wⱼ dwⱼ
                #pragma omp simd reduction(+ : weighted)
                for (int j = 0; j < end; j++) weighted += w[j] * dw[j];
                // forward: w = softmax(scores)  →  dscoreⱼ = wⱼ (dwⱼ - Σₖ wₖ dwₖ), kept
                // (scaled) where dwⱼ was; keys the query cannot see get 0
                #pragma omp simd
                for (int j = 0; j < end; j++) dw[j] = w[j] * (dw[j] - weighted) * s->scale;
                for (int j = end; j < Tk; j++) dw[j] = 0.0f;
            }
            // forward: scoreᵢⱼ = qᵢ · kⱼ · scale  →  dqᵢ = scale Σⱼ dscoreᵢⱼ kⱼ (rows of
            // the tile), dkⱼ = scale Σᵢ dscoreᵢⱼ qᵢ (its columns)
            for (int i = 0; i < Tq; i += OUTPUTS_AT_ONCE) {
                const int nout = Tq - i >= OUTPUTS_AT_ONCE ? OUTPUTS_AT_ONCE : 1;
                for (int r = 0; r < (nout == 1 ? Tq - i : 1); r++) {
                    const int first = i + r, last = first + nout - 1;
                    combine_rows(dqb + (size_t)first * C, ld, tile + (size_t)first * Tk, (size_t)Tk, 1,
                                 keys_before(s, last), kb, ld, hs, nout);
                }
            }
            tile_columns_times(dkb, tile, qb, Tq, Tk, hs, C);
        }
    }
}
