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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/ops.h"
#include "model/threads.h"

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

// out[r][0..32) (+)= Σ_k a[r·a_row + k·a_k] · b[k·32 + 0..32), for r < rows,
// with B packed so that its loads are sequential.  rows is a constant after
// inlining, so the accumulators live in registers.  Each output is a sum over
// k in increasing order, one fused multiply-add at a time.
static inline __attribute__((always_inline)) void kernel(float *out, size_t out_row,
                                                         const float *a, size_t a_row,
                                                         size_t a_k, const float *b, int K,
                                                         int rows, const float *init) {
    vec16 acc[TILE_ROWS][2];
    // Fully unrolled, so that acc is held in registers rather than memory.
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        acc[r][0] = init ? load(init) : load(out + r * out_row);
        acc[r][1] = init ? load(init + 16) : load(out + r * out_row + 16);
    }
    for (int k = 0; k < K; k++) {
        const vec16 b0 = load(b + k * TILE_COLS), b1 = load(b + k * TILE_COLS + 16);
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

// The blocking, for this CPU generation's caches (48 KB L1 and 1 MB L2 per
// core; recent x86 and ARM cores are within a factor of two): each
// K_BLOCK × 32 slice of B (32 KB) stays in L1 while the row tiles stream past
// it.  When A must be packed (see gemm_part), a K_BLOCK × COL_BLOCK block of
// B is packed once (512 KB) and a ROW_BLOCK × K_BLOCK block of A (192 KB) for
// it, both in L2 together: with a 1 MB block of B they were not, and the
// weight gradients 1024 or more columns wide ran up to a fifth slower.
enum { K_BLOCK = 256, ROW_BLOCK = 192, COL_BLOCK = 512 };

// Per-thread buffers that grow to the largest size asked for and are then
// reused, so that steady-state training allocates nothing.  They are sized by
// the calling thread before the parallel region, which takes the caller's
// set with it.  Each calling thread has its own set: a data-parallel trainer
// multiplies on several threads at once, one product per thread.  They hang
// on a pthread key, whose destructor frees them when OpenMP retires a thread
// (a plain thread-local pointer would leak them then).
typedef struct {
    float *b_block;  // K_BLOCK × COL_BLOCK, slice by slice of 32 columns
    float *a_block;  // ROW_BLOCK × K_BLOCK, tile by tile of TILE_ROWS rows
} Panels;

typedef struct {
    Panels *panels;        // [panels_count], one per thread of the caller's regions
    int panels_count;
    float *start_row;      // see start_row_of_size
    size_t start_row_capacity;
} ThreadBuffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_key_once = PTHREAD_ONCE_INIT;
static bool buffers_key_made;

static void free_thread_buffers(void *buffers) {
    ThreadBuffers *b = buffers;
    for (int i = 0; i < b->panels_count; i++) {
        free(b->panels[i].b_block);
        free(b->panels[i].a_block);
    }
    free(b->panels);
    free(b->start_row);
    free(b);
}

static void make_buffers_key(void) {
    buffers_key_made = pthread_key_create(&buffers_key, free_thread_buffers) == 0;
}

// The calling thread's buffers, or NULL when memory runs out.
static ThreadBuffers *thread_buffers(void) {
    pthread_once(&buffers_key_once, make_buffers_key);
    if (!buffers_key_made) return NULL;
    ThreadBuffers *b = pthread_getspecific(buffers_key);
    if (b) return b;
    b = calloc(1, sizeof *b);
    if (!b || pthread_setspecific(buffers_key, b) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

// false when memory runs out (the product is then computed without packing).
static bool panels_for_threads(ThreadBuffers *b, int threads) {
    if (threads <= b->panels_count) return true;
    Panels *grown = realloc(b->panels, (size_t)threads * sizeof *grown);
    if (!grown) return false;
    b->panels = grown;
    for (; b->panels_count < threads; b->panels_count++) {
        Panels *p = &b->panels[b->panels_count];
        p->b_block = aligned_alloc(64, (size_t)K_BLOCK * COL_BLOCK * sizeof(float));
        p->a_block = aligned_alloc(64, (size_t)ROW_BLOCK * K_BLOCK * sizeof(float));
        if (!p->b_block || !p->a_block) {
            free(p->b_block);
            free(p->a_block);
            return false;
        }
    }
    return true;
}

// The row every output row starts from (the bias, or zeros), with a tile's
// room past its end for the vectors of a last, narrower tile (what they read
// there lands in columns that are thrown away); grown like the panels.  NULL
// when memory runs out.
static float *start_row_of_size(ThreadBuffers *b, size_t n) {
    if (n > b->start_row_capacity) {
        free(b->start_row);
        b->start_row_capacity = 0;
        b->start_row = calloc(n, sizeof(float));
        if (!b->start_row) return NULL;
        b->start_row_capacity = n;
    }
    return b->start_row;
}

// The same product element by element, in the same order of k: the slow
// path for when there is no memory for the panels (the results are rounded
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

// A product out (M, Ncols) (+)= A (M, K) · B (K, Ncols) + bias, with A and B
// given by strides (b_j is the stride between columns of B).
typedef struct {
    float *out;
    size_t out_row;
    const float *a;
    size_t a_row, a_k;
    const float *b;
    size_t b_k, b_j;
    int K, M, Ncols;
    bool accumulate;
} Gemm;

static inline int min_int(int x, int y) { return x < y ? x : y; }

#if defined(__GNUC__) && !defined(__clang__)
typedef int vec16_index __attribute__((vector_size(64)));

// Transposes a 16 × 16 block held in 16 vectors, in four rounds that swap
// ever smaller square blocks across the diagonal (8 × 8, 4 × 4, 2 × 2, 1 × 1):
// in the round for size s, rows i and i + s (i & s = 0) exchange the lanes
// whose index has bit s set.
static inline void transpose16(vec16 m[16]) {
    #pragma GCC unroll 4
    for (int s = 8; s >= 1; s /= 2) {
        vec16_index low, high;
        for (int l = 0; l < 16; l++) {
            low[l] = (l & s) ? 16 + l - s : l;
            high[l] = (l & s) ? 16 + l : l + s;
        }
        #pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            if (i & s) continue;
            const vec16 a = m[i], b = m[i + s];
            m[i] = __builtin_shuffle(a, b, low);
            m[i + s] = __builtin_shuffle(a, b, high);
        }
    }
}

// The forward's B = Wᵀ, a full 32-column slice: 16 × 16 blocks of W's rows
// are read as vectors and transposed in registers, instead of gathering one
// float at a time (for the few rows of a decoding step, packing costs as
// much as the product).  Returns the number of k done (a multiple of 16).
enum { PREFETCH_BLOCKS_AHEAD = 4 };
static int pack_transposed_slice(float *slice, const float *b, size_t b_j, int kc) {
    int k = 0;
    for (; k + 16 <= kc; k += 16) {
        // 32 rows are read side by side, more streams than the hardware
        // prefetcher follows: ask for their lines a few blocks ahead.
        if (k + 16 * PREFETCH_BLOCKS_AHEAD < kc) {
            for (int j = 0; j < TILE_COLS; j++) __builtin_prefetch(b + (size_t)j * b_j + k + 16 * PREFETCH_BLOCKS_AHEAD);
        }
        for (int half = 0; half < 2; half++) {
            vec16 m[16];
            for (int j = 0; j < 16; j++) m[j] = load(b + (size_t)(half * 16 + j) * b_j + k);
            transpose16(m);
            for (int l = 0; l < 16; l++) store(slice + (k + l) * TILE_COLS + half * 16, m[l]);
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

// B[k0 .. k0+kc) × [j0 .. j0+width) → block, one kc × 32 slice after another,
// zeros past the last column.
static void pack_b(float *block, const Gemm *g, int k0, int kc, int j0, int width) {
    for (int s = 0; s * TILE_COLS < width; s++) {
        float *slice = block + (size_t)s * kc * TILE_COLS;
        const int first = j0 + s * TILE_COLS, cols = min_int(g->Ncols - first, TILE_COLS);
        const float *b = g->b + (size_t)k0 * g->b_k + (size_t)first * g->b_j;
        if (g->b_j == 1 && cols == TILE_COLS) {  // rows of B contiguous: copy row pieces
            for (int k = 0; k < kc; k++) {
                store(slice + k * TILE_COLS, load(b + (size_t)k * g->b_k));
                store(slice + k * TILE_COLS + 16, load(b + (size_t)k * g->b_k + 16));
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

// One row tile (rows ≤ TILE_ROWS, a constant in each case of the switch, so
// that the accumulators live in registers) against one slice of B.
static inline void tile(float *out, size_t out_row, const float *a, size_t a_row, size_t a_k,
                        const float *b, int kc, int rows, const float *init) {
    switch (rows) {
#ifdef __AVX512F__
    // Only AVX-512's tile is taller than 3 rows: without it these cases are
    // never taken, but GCC still rejects them for indexing past acc.
    case 6: kernel(out, out_row, a, a_row, a_k, b, kc, 6, init); break;
    case 5: kernel(out, out_row, a, a_row, a_k, b, kc, 5, init); break;
    case 4: kernel(out, out_row, a, a_row, a_k, b, kc, 4, init); break;
#endif
    case 3: kernel(out, out_row, a, a_row, a_k, b, kc, 3, init); break;
    case 2: kernel(out, out_row, a, a_row, a_k, b, kc, 2, init); break;
    default: kernel(out, out_row, a, a_row, a_k, b, kc, 1, init); break;
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

// One thread's part, rows [m_begin .. m_end) × columns [j_begin .. j_end).
// Each output element is still a sum over k in increasing order, so the
// blocking changes no result.
static void gemm_part(const Gemm *g, Panels *p, int m_begin, int m_end, int j_begin, int j_end,
                      const float *init) {
    if (g->a_k == 1) {
        // A's rows are contiguous: the kernel reads them in place (packing
        // them would cost more than it saves when B is narrow), and each
        // slice of B is packed once and swept by all the thread's rows.
        for (int k0 = 0; k0 < g->K; k0 += K_BLOCK) {
            const int kc = min_int(g->K - k0, K_BLOCK);
            const float *a = g->a + (size_t)m_begin * g->a_row + k0;
            for (int j0 = j_begin; j0 < j_end; j0 += TILE_COLS) {
                pack_b(p->b_block, g, k0, kc, j0, TILE_COLS);
                rows_times_slice(g, a, false, p->b_block, m_begin, m_end - m_begin, k0, kc, j0,
                                 init + j0);
            }
        }
        return;
    }
    // A is read down its columns (the weight gradient's doutᵀ): GotoBLAS's
    // order, a block of B packed once, a block of A packed for it in L2.
    for (int jc = j_begin; jc < j_end; jc += COL_BLOCK) {
        const int width = min_int(j_end - jc, COL_BLOCK);
        for (int k0 = 0; k0 < g->K; k0 += K_BLOCK) {
            const int kc = min_int(g->K - k0, K_BLOCK);
            pack_b(p->b_block, g, k0, kc, jc, width);
            for (int m0 = m_begin; m0 < m_end; m0 += ROW_BLOCK) {
                const int rows = min_int(m_end - m0, ROW_BLOCK);
                pack_a(p->a_block, g, m0, rows, k0, kc);
                for (int s = 0; s * TILE_COLS < width; s++) {
                    rows_times_slice(g, p->a_block, true, p->b_block + (size_t)s * kc * TILE_COLS,
                                     m0, rows, k0, kc, jc + s * TILE_COLS,
                                     init + jc + s * TILE_COLS);
                }
            }
        }
    }
}

// The threads split the rows, in whole tiles, and each packs its own blocks:
// one parallel region per product, no barrier inside it.  With few rows
// (decoding a batch) every thread would pack all of B for a handful of rows,
// so they split the column tiles instead.
enum { ROWS_PER_THREAD_TO_SPLIT_ROWS = 64 };
static void gemm(float *out, size_t out_row, const float *a, size_t a_row, size_t a_k,
                 const float *b, size_t b_k, size_t b_j, int K, int M, int Ncols,
                 const float *bias, bool accumulate) {
    const int threads = threads_for_a_region();
    ThreadBuffers *buffers = thread_buffers();
    float *init = buffers ? start_row_of_size(buffers, (size_t)Ncols + TILE_COLS) : NULL;
    if (!init || !panels_for_threads(buffers, threads)) {
        gemm_unpacked(out, out_row, a, a_row, a_k, b, b_k, b_j, K, M, Ncols, bias, accumulate);
        return;
    }
    if (bias) memcpy(init, bias, (size_t)Ncols * sizeof(float));
    else memset(init, 0, (size_t)Ncols * sizeof(float));
    const Gemm g = {out, out_row, a, a_row, a_k, b, b_k, b_j, K, M, Ncols, accumulate};
    const int row_tiles = (M + TILE_ROWS - 1) / TILE_ROWS;
    const int col_tiles = (Ncols + TILE_COLS - 1) / TILE_COLS;
    const bool split_columns = M < ROWS_PER_THREAD_TO_SPLIT_ROWS * threads;
    Panels *callers_panels = buffers->panels;  // the team's threads have buffers of their own
    #pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        int m_begin = 0, m_end = M, j_begin = 0, j_end = Ncols;
        if (split_columns) {
            j_begin = col_tiles * t / n * TILE_COLS;
            j_end = min_int(col_tiles * (t + 1) / n * TILE_COLS, Ncols);
        } else {
            m_begin = row_tiles * t / n * TILE_ROWS;
            m_end = min_int(row_tiles * (t + 1) / n * TILE_ROWS, M);
        }
        if (m_begin < m_end && j_begin < j_end) {
            gemm_part(&g, &callers_panels[t], m_begin, m_end, j_begin, j_end, init);
        }
    }
}

// Decoding feeds a few rows at a time.  Every weight is then used by only
// those rows, and packing it first (a full copy per call) costs more than the
// product itself.  Each output is the dot product of an input row and a weight
// row, both contiguous: the weights are read once, 32 lanes at a time, and
// the threads split the output columns.
enum { FEW_ROWS = 8 };

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
    if (dweight) gemm(dweight, (size_t)C, dout, 1, (size_t)OC, inp, (size_t)C, 1, N, OC, C, NULL, true);
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
