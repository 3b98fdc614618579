// The matmul's inner loops, one instruction set at a time.
//
// This file is compiled once per path, with MATMUL_AVX512, MATMUL_AVX2 or
// MATMUL_GENERIC defined and the matching -m flags on its object (see the
// Makefile): the same C becomes AVX-512, AVX2 + FMA, or the compiler's
// baseline (SSE2 on x86-64, NEON on ARM64) — GCC's vector extension, sized
// to the path's registers.  model/matmul.c chooses one at start-up.
//
// All three products (forward, dinp, dweight) run through one register-tiled
// kernel: a tile of TILE_ROWS × TILE_COLS outputs is kept in vector registers
// while the reduction runs, each step adding one scalar of A times one
// TILE_COLS-wide row of packed B.  The tile is as large as the registers
// allow with room for B's row and the broadcast scalar:
//   avx512  6 × 32 (12 of 32 zmm registers hold the sums)
//   avx2    6 × 16 (12 of 16 ymm: the classic Haswell shape)
//   generic 4 ×  8 (8 of 16 xmm; no FMA on the x86-64 baseline)
// A wider vector type than the registers would be legal C, but GCC then
// spills every accumulator to the stack and runs some 40 times slower.
#include <string.h>

#include "model/matmul_path.h"

#if defined(MATMUL_AVX512)
#define LANES 16
#define TILE_ROWS 6
#define PATH(name) name##_avx512
#define PATH_NAME "avx512"
#elif defined(MATMUL_AVX2)
#define LANES 8
#define TILE_ROWS 6
#define PATH(name) name##_avx2
#define PATH_NAME "avx2"
#elif defined(MATMUL_GENERIC)
#define LANES 4
#define TILE_ROWS 4
#define PATH(name) name##_generic
#define PATH_NAME "generic"
#else
#error "define MATMUL_AVX512, MATMUL_AVX2 or MATMUL_GENERIC"
#endif

#define TILE_VECS 2
#define TILE_COLS (LANES * TILE_VECS)
enum { K_BLOCK = MATMUL_K_BLOCK, ROW_BLOCK = MATMUL_ROW_BLOCK, COL_BLOCK = MATMUL_COL_BLOCK };
_Static_assert(TILE_COLS <= MATMUL_MAX_TILE_COLS, "the start row's padding is too short");
_Static_assert(ROW_BLOCK % TILE_ROWS == 0, "row blocks must be whole tiles");

typedef float vec __attribute__((vector_size(LANES * sizeof(float))));
typedef float vec_unaligned __attribute__((vector_size(LANES * sizeof(float)), aligned(4)));

static inline vec load(const float *p) { return *(const vec_unaligned *)p; }
static inline void store(float *p, vec v) { *(vec_unaligned *)p = v; }
static inline int min_int(int x, int y) { return x < y ? x : y; }

// out[r][0..TILE_COLS) (+)= Σ_k a[r·a_row + k·a_k] · b[k·TILE_COLS + 0..TILE_COLS),
// for r < rows, with B packed so that its loads are sequential.  rows is a
// constant after inlining, so the accumulators live in registers.  Each
// output is a sum over k in increasing order, one multiply-add at a time.
static inline __attribute__((always_inline)) void kernel(float *out, size_t out_row,
                                                         const float *a, size_t a_row,
                                                         size_t a_k, const float *b, int K,
                                                         int rows, const float *init) {
    vec acc[TILE_ROWS][TILE_VECS];
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        #pragma GCC unroll 4
        for (int v = 0; v < TILE_VECS; v++) {
            acc[r][v] = init ? load(init + v * LANES) : load(out + r * out_row + v * LANES);
        }
    }
    #pragma GCC unroll 4
    for (int k = 0; k < K; k++) {
        vec bk[TILE_VECS];
        #pragma GCC unroll 4
        for (int v = 0; v < TILE_VECS; v++) bk[v] = load(b + k * TILE_COLS + v * LANES);
        #pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const float x = a[r * a_row + (size_t)k * a_k];
            #pragma GCC unroll 4
            for (int v = 0; v < TILE_VECS; v++) acc[r][v] += x * bk[v];
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        #pragma GCC unroll 4
        for (int v = 0; v < TILE_VECS; v++) store(out + r * out_row + v * LANES, acc[r][v]);
    }
}

// One row tile (rows ≤ TILE_ROWS, a constant in each case, so that the
// accumulators live in registers) against one slice of B.
static inline void tile(float *out, size_t out_row, const float *a, size_t a_row, size_t a_k,
                        const float *b, int kc, int rows, const float *init) {
    switch (rows) {
#if TILE_ROWS >= 6
    case 6: kernel(out, out_row, a, a_row, a_k, b, kc, 6, init); break;
    case 5: kernel(out, out_row, a, a_row, a_k, b, kc, 5, init); break;
#endif
    case 4: kernel(out, out_row, a, a_row, a_k, b, kc, 4, init); break;
    case 3: kernel(out, out_row, a, a_row, a_k, b, kc, 3, init); break;
    case 2: kernel(out, out_row, a, a_row, a_k, b, kc, 2, init); break;
    default: kernel(out, out_row, a, a_row, a_k, b, kc, 1, init); break;
    }
}

#if defined(__GNUC__) && !defined(__clang__)
typedef int vec_index __attribute__((vector_size(LANES * sizeof(int))));

// Transposes a LANES × LANES block held in LANES vectors, in rounds that
// swap ever smaller square blocks across the diagonal (for 16 lanes: 8 × 8,
// 4 × 4, 2 × 2, 1 × 1): in the round for size s, rows i and i + s (i & s = 0)
// exchange the lanes whose index has bit s set.
static inline void transpose(vec m[LANES]) {
    #pragma GCC unroll 4
    for (int s = LANES / 2; s >= 1; s /= 2) {
        vec_index low, high;
        for (int l = 0; l < LANES; l++) {
            low[l] = (l & s) ? LANES + l - s : l;
            high[l] = (l & s) ? LANES + l : l + s;
        }
        #pragma GCC unroll 16
        for (int i = 0; i < LANES; i++) {
            if (i & s) continue;
            const vec a = m[i], b = m[i + s];
            m[i] = __builtin_shuffle(a, b, low);
            m[i + s] = __builtin_shuffle(a, b, high);
        }
    }
}

// The forward's B = Wᵀ, a full slice: LANES × LANES blocks of W's rows are
// read as vectors and transposed in registers, instead of gathering one
// float at a time (for the few rows of a decoding step, packing costs as
// much as the product).  Returns the number of k done (a multiple of LANES).
enum { PREFETCH_BLOCKS_AHEAD = 4 };
static int pack_transposed_slice(float *slice, const float *b, size_t b_j, int kc) {
    int k = 0;
    for (; k + LANES <= kc; k += LANES) {
        // TILE_COLS rows are read side by side, more streams than the
        // hardware prefetcher follows: ask for their lines a few blocks ahead.
        if (k + LANES * PREFETCH_BLOCKS_AHEAD < kc) {
            for (int j = 0; j < TILE_COLS; j++) {
                __builtin_prefetch(b + (size_t)j * b_j + k + LANES * PREFETCH_BLOCKS_AHEAD);
            }
        }
        for (int part = 0; part < TILE_VECS; part++) {
            vec m[LANES];
            for (int j = 0; j < LANES; j++) m[j] = load(b + (size_t)(part * LANES + j) * b_j + k);
            transpose(m);
            for (int l = 0; l < LANES; l++) store(slice + (k + l) * TILE_COLS + part * LANES, m[l]);
        }
    }
    return k;
}
#else
static int pack_transposed_slice(float *slice, const float *b, size_t b_j, int kc) {
    (void)slice, (void)b, (void)b_j, (void)kc;
    return 0;  // clang: the scalar loop does it all
}
#endif

// B[k0 .. k0+kc) × [j0 .. j0+width) → block, one kc × TILE_COLS slice after
// another, zeros past the last column.
static void pack_b(float *block, const Gemm *g, int k0, int kc, int j0, int width) {
    for (int s = 0; s * TILE_COLS < width; s++) {
        float *slice = block + (size_t)s * kc * TILE_COLS;
        const int first = j0 + s * TILE_COLS, cols = min_int(g->Ncols - first, TILE_COLS);
        const float *b = g->b + (size_t)k0 * g->b_k + (size_t)first * g->b_j;
        if (g->b_j == 1 && cols == TILE_COLS) {  // rows of B contiguous: copy row pieces
            for (int k = 0; k < kc; k++) {
                #pragma GCC unroll 4
                for (int v = 0; v < TILE_VECS; v++) {
                    store(slice + k * TILE_COLS + v * LANES, load(b + (size_t)k * g->b_k + v * LANES));
                }
            }
            continue;
        }
        if (g->b_j == 1) {
            for (int k = 0; k < kc; k++) {
                memcpy(slice + k * TILE_COLS, b + (size_t)k * g->b_k, (size_t)cols * sizeof(float));
                for (int j = cols; j < TILE_COLS; j++) slice[k * TILE_COLS + j] = 0.0f;
            }
            continue;
        }
        // columns of B contiguous (B = Wᵀ in the forward): read each along k
        const int done = g->b_k == 1 && cols == TILE_COLS ? pack_transposed_slice(slice, b, g->b_j, kc) : 0;
        for (int j = 0; j < TILE_COLS; j++) {
            for (int k = done; k < kc; k++) {
                slice[k * TILE_COLS + j] = j < cols ? b[(size_t)k * g->b_k + (size_t)j * g->b_j] : 0.0f;
            }
        }
    }
}

// A's rows [m0 .. m0+rows) × [k0 .. k0+kc), read down its columns (A = doutᵀ
// in the weight gradient), → block, tile by tile:
// block[t·TILE_ROWS·kc + k·TILE_ROWS + r] = A[m0 + t·TILE_ROWS + r][k0 + k].
static void pack_a(float *block, const Gemm *g, int m0, int rows, int k0, int kc) {
    for (int t = 0; t * TILE_ROWS < rows; t++) {
        const int tile_rows = min_int(rows - t * TILE_ROWS, TILE_ROWS);
        float *dst = block + (size_t)t * TILE_ROWS * kc;
        const float *src = g->a + (size_t)(m0 + t * TILE_ROWS) * g->a_row + (size_t)k0 * g->a_k;
        if (g->a_row == 1 && tile_rows == TILE_ROWS) {
            // the usual case: TILE_ROWS consecutive floats per k, a fixed-size copy
            for (int k = 0; k < kc; k++) memcpy(dst + k * TILE_ROWS, src + (size_t)k * g->a_k, TILE_ROWS * sizeof(float));
            continue;
        }
        for (int k = 0; k < kc; k++) {
            for (int r = 0; r < tile_rows; r++) dst[k * TILE_ROWS + r] = src[(size_t)k * g->a_k + (size_t)r * g->a_row];
        }
    }
}

// Rows [m0 .. m0+rows) of A — packed tile by tile, or in place when its rows
// are contiguous (a is then A's row m0, offset to k0) — times one packed slice
// of B (columns from j0), for the K block starting at k0.  The output starts
// from the bias (or zero) at the first K block, and from what is there
// otherwise.  A last, narrower column tile works in a full-width copy.
static void rows_times_slice(const Gemm *g, const float *a, bool a_packed, const float *slice,
                             int m0, int rows, int k0, int kc, int j0, const float *init) {
    const int cols = min_int(g->Ncols - j0, TILE_COLS);
    const float *start = k0 == 0 && !g->accumulate ? init : NULL;
    const size_t a_row = a_packed ? 1 : g->a_row, a_k = a_packed ? TILE_ROWS : 1;
    for (int r0 = 0; r0 < rows; r0 += TILE_ROWS) {
        const int n = min_int(rows - r0, TILE_ROWS);
        float *o = g->out + (size_t)(m0 + r0) * g->out_row + j0;
        const float *ar = a + (size_t)r0 * (a_packed ? (size_t)kc : g->a_row);
        if (cols == TILE_COLS) {
            tile(o, g->out_row, ar, a_row, a_k, slice, kc, n, start);
            continue;
        }
        float staged[TILE_ROWS * TILE_COLS] = {0};
        for (int r = 0; r < n && !start; r++) memcpy(staged + r * TILE_COLS, o + (size_t)r * g->out_row, (size_t)cols * sizeof(float));
        tile(staged, TILE_COLS, ar, a_row, a_k, slice, kc, n, start);
        for (int r = 0; r < n; r++) memcpy(o + (size_t)r * g->out_row, staged + r * TILE_COLS, (size_t)cols * sizeof(float));
    }
}

// One thread's part, rows [m_begin .. m_end) × columns [j_begin .. j_end),
// in GotoBLAS's order: a K_BLOCK × COL_BLOCK block of B is packed once, and
// for it ROW_BLOCK rows of A at a time, in L2, are swept past one slice of B
// after another, each slice in L1.  A is packed tile by tile when it is read
// down its columns (the weight gradient's doutᵀ); when its rows are
// contiguous the kernel reads them in place (packing costs a load and a
// store per element, against only Ncols / 16 cycles of work per element
// when B is narrow, as it is in the toy preset's products).  Each output
// element is still a sum over k in increasing order, so the blocking changes
// no result.
static void gemm_part(const Gemm *g, Panels *p, int m_begin, int m_end, int j_begin, int j_end,
                      const float *init) {
    const bool pack_rows = g->a_k != 1;
    for (int jc = j_begin; jc < j_end; jc += COL_BLOCK) {
        const int width = min_int(j_end - jc, COL_BLOCK);
        for (int k0 = 0; k0 < g->K; k0 += K_BLOCK) {
            const int kc = min_int(g->K - k0, K_BLOCK);
            pack_b(p->b_block, g, k0, kc, jc, width);
            for (int m0 = m_begin; m0 < m_end; m0 += ROW_BLOCK) {
                const int rows = min_int(m_end - m0, ROW_BLOCK);
                const float *a = g->a + (size_t)m0 * g->a_row + k0;
                if (pack_rows) {
                    pack_a(p->a_block, g, m0, rows, k0, kc);
                    a = p->a_block;
                }
                for (int s = 0; s * TILE_COLS < width; s++) {
                    rows_times_slice(g, a, pack_rows, p->b_block + (size_t)s * kc * TILE_COLS, m0,
                                     rows, k0, kc, jc + s * TILE_COLS, init + jc + s * TILE_COLS);
                }
            }
        }
    }
}

// Decoding feeds a few rows at a time.  Every weight is then used by only
// those rows, and packing it first (a full copy per call) costs more than the
// product itself.  Each output is the dot product of an input row and a
// weight row, both contiguous: the weights are read once, two vectors at a
// time.
static void few_rows(float *out, const float *inp, const float *weight, const float *bias, int N,
                     int C, int OC, int o_begin, int o_end) {
    for (int o = o_begin; o < o_end; o++) {
        const float *w = weight + (size_t)o * C;
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            vec acc0 = {0}, acc1 = {0};
            int c = 0;
            for (; c + 2 * LANES <= C; c += 2 * LANES) {
                acc0 += load(x + c) * load(w + c);
                acc1 += load(x + c + LANES) * load(w + c + LANES);
            }
            acc0 += acc1;
            float sum = 0.0f;
            for (int l = 0; l < LANES; l++) sum += acc0[l];
            for (; c < C; c++) sum += x[c] * w[c];
            out[(size_t)n * OC + o] = (bias ? bias[o] : 0.0f) + sum;
        }
    }
}

const MatmulPath PATH(matmul_path) = {PATH_NAME, TILE_ROWS, TILE_COLS, gemm_part, few_rows};
