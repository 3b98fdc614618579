// Hot element-wise loops, compiled once per x86 level and chosen when the
// program loads.  The program is built for the compiler's baseline (SSE2 on
// x86-64), so that it runs on any CPU; the matmul picks its own kernels
// (cpu_kernel.h), and the few other loops where time goes — the softmaxes
// and exponentials of attention and the loss, the optimiser — are marked
// with ISA_CLONES: GCC and clang then compile the function for AVX-512, for
// AVX2 + FMA and for the baseline, and the loader's CPU check (an ifunc)
// picks one.  The results differ between levels only by the roundings fused
// multiply-adds save.  Elsewhere (ARM64, or a compiler without the
// attribute) it is nothing.
#ifndef AZUL_ISA_CLONES_H
#define AZUL_ISA_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && !defined(AZUL_NO_ISA_CLONES)
#define ISA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ISA_CLONES
#endif

#endif
