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
static inline int omp_get_active_level(void) { return 0; }
static inline int omp_get_max_active_levels(void) { return 1; }
static inline int omp_get_num_procs(void) { return 1; }
#endif

// The threads a parallel region started here gets: omp_get_max_threads(),
// unless this code already runs inside as many nested active regions as
// OpenMP allows (a data-parallel trainer's shard on one thread), when it is 1.
static inline int threads_for_a_region(void) {
    return omp_get_active_level() >= omp_get_max_active_levels() ? 1 : omp_get_max_threads();
}

// Before a pass of the model (a training step's forward, a decoding step):
// sets OpenMP's thread count to what this thread asked for, less the cores
// other programs keep busy (core/cpu_load.h), for the parallel regions that
// follow.  What it asked for is its count when it first got here, or any
// count its own code set since (a call of omp_set_num_threads between two
// passes is a new request, not overruled).
void threads_adapt_to_other_programs(void);
// What this thread asked for: the thread count before any adaptation.
int threads_asked(void);

#endif
