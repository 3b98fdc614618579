// The linear layer, where nearly all the time goes.
//
// All three products — the forward out = inp · Wᵀ, and the backward's
// dinp += dout · W and dW += doutᵀ · inp — are one general product
// out (M, N) (+)= A (M, K) · B (K, N) with A and B given by strides.  This
// file owns what every instruction set shares: the readable reference
// product, the per-thread packing buffers, and the split of a product over
// the threads.  The register-tiled inner loops are in matmul_kernels.c, built
// once per instruction set, and the path is chosen at start-up from what the
// CPU reports (cpu_kernel.h).
//
// Every output element is computed by one thread, in a fixed order of k, so
// the results do not change from run to run or with the number of threads.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/cpu_kernel.h"
#include "model/matmul_path.h"
#include "model/ops.h"
#include "model/threads.h"

// The path the products run, NULL for the reference.
static const MatmulPath *current_path(void) {
    switch (kernel_path_current()) {
#if defined(__x86_64__) && !defined(AZUL_NO_X86_PATHS)
    case KERNEL_AVX512: return &matmul_path_avx512;
    case KERNEL_AVX2: return &matmul_path_avx2;
#endif
    case KERNEL_GENERIC: return &matmul_path_generic;
    default: return NULL;
    }
}

// Per-thread buffers that grow to the largest size asked for and are then
// reused, so that steady-state training allocates nothing.  They are sized by
// the calling thread before the parallel region, which takes the caller's
// set with it.  Each calling thread has its own set: a data-parallel trainer
// multiplies on several threads at once, one product per thread.  They hang
// on a pthread key, whose destructor frees them when OpenMP retires a thread
// (a plain thread-local pointer would leak them then).
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
        p->b_block = aligned_alloc(64, (size_t)MATMUL_K_BLOCK * MATMUL_COL_BLOCK * sizeof(float));
        p->a_block = aligned_alloc(64, (size_t)MATMUL_ROW_BLOCK * MATMUL_K_BLOCK * sizeof(float));
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

// The reference product: each output element by the definition, a sum over
// k in increasing order.  Every path is tested against it (AZUL_KERNEL=
// reference runs it), and it is the fallback when there is no memory for the
// panels.  (The paths round alike only up to the fused multiply-adds each
// instruction set has.)
static void gemm_reference(const Gemm *g, const float *bias) {
    #pragma omp parallel for schedule(static)
    for (int m = 0; m < g->M; m++) {
        for (int j = 0; j < g->Ncols; j++) {
            float *o = &g->out[(size_t)m * g->out_row + j];
            float sum = g->accumulate ? *o : bias ? bias[j] : 0.0f;
            for (int k = 0; k < g->K; k++) {
                sum += g->a[(size_t)m * g->a_row + (size_t)k * g->a_k] * g->b[(size_t)k * g->b_k + (size_t)j * g->b_j];
            }
            *o = sum;
        }
    }
}

static inline int min_int(int x, int y) { return x < y ? x : y; }

// The threads a product of M × K × N multiply-adds is worth.  Starting a
// parallel region and joining it costs microseconds on an idle machine, and
// far more on a busy one, where the partner thread may have to wait for a
// core: a decoding step is dozens of small products, and sharing each of
// them cost more than it saved.  From some 20 µs of work per thread on
// (2¹⁸ multiply-adds), sharing pays.  The thread count changes no result.
enum { MIN_MACS_PER_THREAD = 1 << 18 };
static int threads_worth(long long M, long long K, long long N) {
    const long long worth = M * K * N / MIN_MACS_PER_THREAD;
    const int threads = threads_for_a_region();
    return worth < 1 ? 1 : worth < threads ? (int)worth : threads;
}

// The threads split the rows, in whole tiles, and each packs its own blocks:
// one parallel region per product, no barrier inside it.  With few rows
// (decoding a batch) every thread would pack all of B for a handful of rows,
// so they split the column tiles instead.
enum { ROWS_PER_THREAD_TO_SPLIT_ROWS = 64 };
static void gemm(const Gemm *g, const float *bias) {
    const MatmulPath *path = current_path();
    const int threads = threads_worth(g->M, g->K, g->Ncols);
    ThreadBuffers *buffers = path ? thread_buffers() : NULL;
    float *init = buffers ? start_row_of_size(buffers, (size_t)g->Ncols + MATMUL_MAX_TILE_COLS) : NULL;
    if (!init || !panels_for_threads(buffers, threads)) {
        gemm_reference(g, bias);
        return;
    }
    if (bias) memcpy(init, bias, (size_t)g->Ncols * sizeof(float));
    else memset(init, 0, (size_t)g->Ncols * sizeof(float));
    const int tile_rows = path->tile_rows, tile_cols = path->tile_cols;
    const int row_tiles = (g->M + tile_rows - 1) / tile_rows;
    const int col_tiles = (g->Ncols + tile_cols - 1) / tile_cols;
    const bool split_columns = g->M < ROWS_PER_THREAD_TO_SPLIT_ROWS * threads;
    Panels *callers_panels = buffers->panels;  // the team's threads have buffers of their own
    #pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        int m_begin = 0, m_end = g->M, j_begin = 0, j_end = g->Ncols;
        if (split_columns) {
            j_begin = col_tiles * t / n * tile_cols;
            j_end = min_int(col_tiles * (t + 1) / n * tile_cols, g->Ncols);
        } else {
            m_begin = row_tiles * t / n * tile_rows;
            m_end = min_int(row_tiles * (t + 1) / n * tile_rows, g->M);
        }
        if (m_begin < m_end && j_begin < j_end) {
            path->gemm_part(g, &callers_panels[t], m_begin, m_end, j_begin, j_end, init);
        }
    }
}

// Decoding feeds a few rows at a time: every weight is used by only those
// rows, and packing it first costs more than the product.  The path's
// few_rows reads each weight row once; the threads split the output columns.
enum { FEW_ROWS = 8, FEW_ROWS_COLUMN_BLOCK = 64 };

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC) {
    // out[n][o] = bias[o] + Σ_c inp[n][c] · weight[o][c]   (B[c][o] = weight[o][c])
    const Gemm g = {out, (size_t)OC, inp, (size_t)C, 1, weight, 1, (size_t)C, C, N, OC, false};
    const MatmulPath *path = current_path();
    if (N <= FEW_ROWS && path) {
        #pragma omp parallel for schedule(static) num_threads(threads_worth(N, C, OC))
        for (int o0 = 0; o0 < OC; o0 += FEW_ROWS_COLUMN_BLOCK) {
            path->few_rows(out, inp, weight, bias, N, C, OC, o0, min_int(o0 + FEW_ROWS_COLUMN_BLOCK, OC));
        }
        return;
    }
    gemm(&g, bias);
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC) {
    // forward: out[n][o] = Σ_c inp[n][c] · weight[o][c] + bias[o]
    // dinp[n][c] += Σ_o dout[n][o] · weight[o][c]
    if (dinp) gemm(&(Gemm){dinp, (size_t)C, dout, (size_t)OC, 1, weight, (size_t)C, 1, OC, N, C, true}, NULL);
    // dweight[o][c] += Σ_n dout[n][o] · inp[n][c]
    if (dweight) gemm(&(Gemm){dweight, (size_t)C, dout, 1, (size_t)OC, inp, (size_t)C, 1, N, OC, C, true}, NULL);
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
