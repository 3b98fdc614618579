// Allocation failure on demand, for the tests (see failing_alloc.c).
#ifndef AZUL_FAILING_ALLOC_H
#define AZUL_FAILING_ALLOC_H

#include <stdbool.h>

// Lets n allocations through, then fails the next one (only that one).
void fail_allocation_after(long n);
// Stops failing; whether an allocation was made to fail since the last
// fail_allocation_after.
bool allocation_failed(void);

#endif
