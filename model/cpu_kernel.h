// Which instruction-set path the matmul kernels run (model/matmul_kernels.c):
// chosen once, at start-up, from what the CPU reports — not from the flags
// the program was built with, so that one binary runs its fastest path on
// whichever machine it is copied to.  AZUL_KERNEL=avx512|avx2|generic|reference
// forces one (for measuring a path, or checking it against the reference).
#ifndef AZUL_CPU_KERNEL_H
#define AZUL_CPU_KERNEL_H

#include <stdbool.h>

#include "core/error.h"

typedef enum {
    KERNEL_REFERENCE,  // the readable triple loop in model/matmul.c, every CPU
    KERNEL_GENERIC,    // vector code for the build's baseline (SSE2, NEON)
    KERNEL_AVX2,       // AVX2 + FMA (x86-64 since 2013–2015)
    KERNEL_AVX512,     // AVX-512 F (Intel servers since 2017, AMD since Zen 4)
    KERNEL_PATH_COUNT
} KernelPath;

// "reference", "generic", "avx2", "avx512".
const char *kernel_path_name(KernelPath path);

// Whether this build has the path and this CPU can run it.
bool kernel_path_available(KernelPath path);

// The fastest path available here.
KernelPath kernel_path_best(void);

// Sets the path from AZUL_KERNEL when it is set, otherwise the best one.
// -1 (with a message naming the value and what this CPU offers) when
// AZUL_KERNEL names no path or one this CPU or build lacks.
int kernel_path_choose_from_environment(Error *err);

// Sets the path (tests compare the paths this way); -1 when unavailable.
int kernel_path_force(KernelPath path, Error *err);

// The path the kernels run: the one chosen or forced, or, when neither
// happened yet, AZUL_KERNEL's if it is valid and the best one otherwise.
KernelPath kernel_path_current(void);

#endif
