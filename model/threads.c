// The thread count a pass runs with on a busy machine: why it matters is in
// core/cpu_load.h.  Per OpenMP thread (its count is its own: a server's
// request threads each have one), so the bookkeeping is thread-local.
#include "model/threads.h"

#include "core/cpu_load.h"

static _Thread_local int asked, chosen;

void threads_adapt_to_other_programs(void) {
    const int now = omp_get_max_threads();
    // a count this code did not choose was set by the caller: its new wish
    if (asked == 0 || now != chosen) asked = now;
    chosen = threads_beside_other_programs(asked);
    if (chosen != now) omp_set_num_threads(chosen);
}

int threads_asked(void) { return asked > 0 && omp_get_max_threads() == chosen ? asked : omp_get_max_threads(); }
