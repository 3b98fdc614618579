// OpenMP when the build has it (make NO_OMP=1 builds without): the few
// calls azul makes, with single-thread stand-ins otherwise.
#ifndef AZUL_THREADS_H
#define AZUL_THREADS_H

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif

#endif
