// The linear layer, where nearly all the time goes.
//
// All three products — the forward out = inp · Wᵀ, and the backward's
// dinp += dout · W and dW += doutᵀ · inp — are computed by one register-tiled
// kernel: a tile of ROWS × 32 outputs is kept in vector registers while the
// reduction runs, each step adding one scalar of A times one 32-wide row of B.
// That turns the work into fused multiply-adds on whole vectors with few
// memory accesses per operation, which is what the CPU is fastest at.
//
// Every output element is computed by one thread, in a fixed order, so the
// results do not change from run to run or with the number of threads.
//
// The 16-float vectors use GCC's vector extension (also understood by clang):
// portable C that becomes AVX-512, AVX2 or SSE instructions as -march allows.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/ops.h"

typedef float vec16 __attribute__((vector_size(64)));
typedef float vec16_unaligned __attribute__((vector_size(64), aligned(4)));

enum { TILE_COLS = 32 };  // two vectors
#ifdef __AVX512F__
enum { TILE_ROWS = 6 };   // 12 accumulators of the 32 vector registers
#else
enum { TILE_ROWS = 3 };   // 6 accumulators × 2 halves of the 16 AVX2 registers
#endif

static inline vec16 load(const float *p) { return *(const vec16_unaligned *)p; }
static inline void store(float *p, vec16 v) { *(vec16_unaligned *)p = v; }

// out[r][0..32) (+)= Σ_k a[r·a_row + k·a_k] · b[k·b_k + 0..32), for r < rows.
// rows is a constant after inlining, so the accumulators live in registers.
static inline __attribute__((always_inline)) void kernel(
    float *out, size_t out_row, const float *a, size_t a_row, size_t a_k, const float *b,
    size_t b_k, int K, int rows, const float *init) {
    vec16 acc[TILE_ROWS][2];
    // Fully unrolled, so that acc is held in registers rather than memory.
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        acc[r][0] = init ? load(init) : load(out + r * out_row);
        acc[r][1] = init ? load(init + 16) : load(out + r * out_row + 16);
    }
    for (int k = 0; k < K; k++) {
        const vec16 b0 = load(b + (size_t)k * b_k), b1 = load(b + (size_t)k * b_k + 16);
        #pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const float x = a[r * a_row + (size_t)k * a_k];
            acc[r][0] += x * b0;
            acc[r][1] += x * b1;
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        store(out + r * out_row, acc[r][0]);
        store(out + r * out_row + 16, acc[r][1]);
    }
}

// The product for rows [0, M) and the columns of one 32-wide tile.
static void tile_column(float *out, size_t out_row, const float *a, size_t a_row, size_t a_k,
                        const float *b, size_t b_k, int K, int M, const float *init) {
    int m = 0;
    for (; m + TILE_ROWS <= M; m += TILE_ROWS) {
        kernel(out + m * out_row, out_row, a + m * a_row, a_row, a_k, b, b_k, K, TILE_ROWS, init);
    }
    for (; m < M; m++) kernel(out + m * out_row, out_row, a + m * a_row, a_row, a_k, b, b_k, K, 1, init);
}

// A buffer that grows to the largest size asked for and is then reused, so
// that steady-state training allocates nothing.  matmul is never called from
// two threads at once.
static float *panel;
static size_t panel_capacity;

// NULL when memory runs out: the product is then computed without packing.
static float *panel_of_size(size_t n) {
    if (n > panel_capacity) {
        free(panel);
        panel_capacity = 0;
        panel = malloc(n * sizeof(float));
        if (!panel) return NULL;
        panel_capacity = n;
    }
    return panel;
}

// The same product element by element, in the same order of k: the slow
// path for when there is no memory for the panel (the results are rounded
// identically only up to the fused multiply-adds the compiler chooses).
static void gemm_unpacked(float *out, size_t out_row, const float *a, size_t a_row, size_t a_k,
                          const float *b, size_t b_k, size_t b_j, int K, int M, int Ncols,
                          const float *bias, bool accumulate) {
    #pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
        for (int j = 0; j < Ncols; j++) {
            float sum = accumulate ? out[(size_t)m * out_row + j] : bias ? bias[j] : 0.0f;
            for (int k = 0; k < K; k++) sum += a[(size_t)m * a_row + (size_t)k * a_k] * b[(size_t)k * b_k + (size_t)j * b_j];
            out[(size_t)m * out_row + j] = sum;
        }
    }
}

// out (M, Ncols) (+)= A (M, K) · B (K, Ncols) + bias, A and B given by strides
// (b_j is the stride between columns of B).  One 32-column tile at a time,
// B's slice is first copied into a contiguous K × 32 panel: the kernel then
// reads it sequentially, instead of jumping a whole row of B for every k.
enum { ROW_BLOCK = 48 };
static void gemm(float *out, size_t out_row, const float *a, size_t a_row, size_t a_k,
                 const float *b, size_t b_k, size_t b_j, int K, int M, int Ncols,
                 const float *bias, bool accumulate) {
    const int row_blocks = (M + ROW_BLOCK - 1) / ROW_BLOCK;
    float *packed = panel_of_size((size_t)K * TILE_COLS);
    if (!packed) {
        gemm_unpacked(out, out_row, a, a_row, a_k, b, b_k, b_j, K, M, Ncols, bias, accumulate);
        return;
    }
    for (int j0 = 0; j0 < Ncols; j0 += TILE_COLS) {
        const int cols = Ncols - j0 < TILE_COLS ? Ncols - j0 : TILE_COLS;
        #pragma omp parallel for schedule(static)
        for (int k = 0; k < K; k++) {
            for (int j = 0; j < TILE_COLS; j++) {
                packed[(size_t)k * TILE_COLS + j] =
                    j < cols ? b[(size_t)k * b_k + (size_t)(j0 + j) * b_j] : 0.0f;
            }
        }
        float init[TILE_COLS] = {0};
        for (int j = 0; j < cols && bias; j++) init[j] = bias[j0 + j];
        #pragma omp parallel for schedule(static)
        for (int rb = 0; rb < row_blocks; rb++) {
            const int m0 = rb * ROW_BLOCK, rows = M - m0 < ROW_BLOCK ? M - m0 : ROW_BLOCK;
            float *o = out + (size_t)m0 * out_row + j0;
            const float *am = a + (size_t)m0 * a_row;
            if (cols == TILE_COLS) {
                tile_column(o, out_row, am, a_row, a_k, packed, TILE_COLS, K, rows,
                            accumulate ? NULL : init);
                continue;
            }
            // A last, narrower tile: work in a full-width copy, keep the valid columns.
            float staged[ROW_BLOCK * TILE_COLS] = {0};
            for (int r = 0; r < rows && accumulate; r++) {
                memcpy(staged + r * TILE_COLS, o + (size_t)r * out_row, (size_t)cols * sizeof(float));
            }
            tile_column(staged, TILE_COLS, am, a_row, a_k, packed, TILE_COLS, K, rows,
                        accumulate ? NULL : init);
            for (int r = 0; r < rows; r++) {
                memcpy(o + (size_t)r * out_row, staged + r * TILE_COLS, (size_t)cols * sizeof(float));
            }
        }
    }
}

// Decoding feeds a few rows at a time.  Every weight is then used by only
// those rows, and packing it first (a full copy per call) costs more than the
// product itself.  Each output is the dot product of an input row and a weight
// row, both contiguous: the weights are read once, 32 lanes at a time, and
// the threads split the output columns.
enum { FEW_ROWS = 32 };

static void forward_few_rows(float *out, const float *inp, const float *weight, const float *bias,
                             int N, int C, int OC) {
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        const float *w = weight + (size_t)o * C;
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            vec16 acc0 = {0}, acc1 = {0};
            int c = 0;
            for (; c + 32 <= C; c += 32) {
                acc0 += load(x + c) * load(w + c);
                acc1 += load(x + c + 16) * load(w + c + 16);
            }
            acc0 += acc1;
            float sum = 0.0f;
            for (int l = 0; l < 16; l++) sum += acc0[l];
            for (; c < C; c++) sum += x[c] * w[c];
            out[(size_t)n * OC + o] = (bias ? bias[o] : 0.0f) + sum;
        }
    }
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC) {
    if (N <= FEW_ROWS) {
        forward_few_rows(out, inp, weight, bias, N, C, OC);
        return;
    }
    // out[n][o] = bias[o] + Σ_c inp[n][c] · weight[o][c]   (B[c][o] = weight[o][c])
    gemm(out, (size_t)OC, inp, (size_t)C, 1, weight, 1, (size_t)C, C, N, OC, bias, false);
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC) {
    // forward: out[n][o] = Σ_c inp[n][c] · weight[o][c] + bias[o]
    // dinp[n][c] += Σ_o dout[n][o] · weight[o][c]
    if (dinp) gemm(dinp, (size_t)C, dout, (size_t)OC, 1, weight, (size_t)C, 1, OC, N, C, NULL, true);
    // dweight[o][c] += Σ_n dout[n][o] · inp[n][c]
    gemm(dweight, (size_t)C, dout, 1, (size_t)OC, inp, (size_t)C, 1, N, OC, C, NULL, true);
    // dbias[o] += Σ_n dout[n][o], by blocks of columns so that each thread
    // reads rows of dout contiguously and owns its slice of dbias.
    enum { BIAS_BLOCK = 64 };
    if (dbias) {
        #pragma omp parallel for schedule(static)
        for (int o0 = 0; o0 < OC; o0 += BIAS_BLOCK) {
            const int width = OC - o0 < BIAS_BLOCK ? OC - o0 : BIAS_BLOCK;
            float sum[BIAS_BLOCK] = {0};
            for (int n = 0; n < N; n++) {
                const float *row = dout + (size_t)n * OC + o0;
                #pragma omp simd
                for (int j = 0; j < width; j++) sum[j] += row[j];
            }
            for (int j = 0; j < width; j++) dbias[o0 + j] += sum[j];
        }
    }
}
