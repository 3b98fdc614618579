// Wall-clock seconds for timing and progress reports (monotonic: never jumps
// when the system clock is set).
#ifndef AZUL_CLOCK_H
#define AZUL_CLOCK_H

#include <time.h>

static inline double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
