// Allocation failure on demand, for the tests (see failing_alloc.c).
#ifndef AZUL_FAILING_ALLOC_H
#define AZUL_FAILING_ALLOC_H

#include <stdbool.h>

// Lets n allocations through, then fails the next one (only that one).
void fail_allocation_after(long n);
// Stops failing; whether an allocation was made to fail since the last
// fail_allocation_after.
bool allocation_failed(void);

// Builds a cJSON tree with build(context), then builds it again with each
// allocation (cJSON's own included) failing in turn, until one build makes
// none fail: a build whose allocation failed must return NULL, and the last
// one the whole tree again.  Returns how many builds it took.
struct cJSON;
long expect_json_whole_or_none(struct cJSON *(*build)(const void *context), const void *context);

#endif
