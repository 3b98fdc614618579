// What model/matmul.c needs of one instruction-set path of the matmul: the
// register-tiled kernel and the packing around it are compiled once per path
// from model/matmul_kernels.c (the Makefile gives each object its own -m
// flags), and matmul.c picks one at start-up (model/cpu_kernel.h).  Nothing
// outside matmul.c and the kernels includes this header.
#ifndef AZUL_MATMUL_PATH_H
#define AZUL_MATMUL_PATH_H

#include <stdbool.h>
#include <stddef.h>

// The blocking, for this CPU generation's caches (32–48 KB L1 and 0.5–2 MB
// L2 per core; recent x86 and ARM cores are within a factor of two): each
// K_BLOCK-deep slice of B (≤ 32 KB) stays in L1 while the row tiles stream
// past it.  When A must be packed (the weight gradient), a K_BLOCK ×
// COL_BLOCK block of B is packed once (512 KB) and a ROW_BLOCK × K_BLOCK
// block of A (192 KB) for it, both in L2 together.  ROW_BLOCK is a multiple
// of every path's tile height.
enum { MATMUL_K_BLOCK = 256, MATMUL_ROW_BLOCK = 192, MATMUL_COL_BLOCK = 512 };

// The widest tile any path has (the start row is padded by it).
enum { MATMUL_MAX_TILE_COLS = 32 };

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

// One thread's packing buffers, 64-byte aligned.
typedef struct {
    float *b_block;  // MATMUL_K_BLOCK × MATMUL_COL_BLOCK
    float *a_block;  // MATMUL_ROW_BLOCK × MATMUL_K_BLOCK
} Panels;

typedef struct {
    const char *name;       // "avx512", "avx2", "generic"
    int tile_rows, tile_cols;
    // Rows [m_begin, m_end) × columns [j_begin, j_end) of g, on one thread;
    // m_begin and j_begin are multiples of the tile.  init (Ncols + 32) is
    // the row every output starts from (the bias or zeros) when the product
    // does not accumulate.  Each output is a sum over k in increasing order.
    void (*gemm_part)(const Gemm *g, Panels *p, int m_begin, int m_end, int j_begin, int j_end,
                      const float *init);
    // out[n][o] = bias[o] + inp[n] · weight[o] for o in [o_begin, o_end):
    // the few rows of a decoding step, each output a dot product of two
    // contiguous rows (bias may be NULL).
    void (*few_rows)(float *out, const float *inp, const float *weight, const float *bias, int N,
                     int C, int OC, int o_begin, int o_end);
} MatmulPath;

// Defined only where the compiler can build them (the x86 paths on x86-64).
extern const MatmulPath matmul_path_avx512, matmul_path_avx2, matmul_path_generic;

#endif
