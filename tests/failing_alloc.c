// Allocation failure on demand.  The test binary is linked with
// -Wl,--wrap=malloc (and calloc, realloc, strdup): every allocation azul's own
// code makes comes here first, so that a test can make the n-th one fail and
// see the error path run for real.  Allocations inside libraries (libc's
// stdio, stb_ds's growth in libstb) are not azul's code and are not wrapped.
#include <stdatomic.h>
#include <stddef.h>

#include "tests/failing_alloc.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);

// Allocations to let through before the one that fails; -1: none fails.
static atomic_long countdown = -1;
static atomic_bool failed;

void fail_allocation_after(long n) {
    atomic_store(&failed, false);
    atomic_store(&countdown, n);
}

bool allocation_failed(void) {
    atomic_store(&countdown, -1);
    return atomic_load(&failed);
}

static bool fail_now(void) {
    long left = atomic_load(&countdown);
    while (left >= 0 && !atomic_compare_exchange_weak(&countdown, &left, left - 1)) {}
    if (left != 0) return false;
    atomic_store(&failed, true);
    return true;
}

void *__wrap_malloc(size_t size) { return fail_now() ? NULL : __real_malloc(size); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t size) { return fail_now() ? NULL : __real_realloc(p, size); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
