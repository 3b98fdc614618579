#include "model/rng.h"

#include <math.h>

// splitmix64: a counter passed through rng_mix.

void rng_seed(Rng *rng, uint64_t seed) { rng->state = seed; }

uint64_t rng_next(Rng *rng) {
    rng->state += 0x9E3779B97F4A7C15ull;
    return rng_mix(rng->state);
}

static float to_unit(uint64_t x) { return (float)(x >> 40) * (1.0f / 16777216.0f); }  // 24 bits

float rng_uniform(Rng *rng) { return to_unit(rng_next(rng)); }

float rng_normal(Rng *rng) {
    // Box-Muller; 1 - u keeps the logarithm finite.
    float u = 1.0f - rng_uniform(rng), v = rng_uniform(rng);
    return sqrtf(-2.0f * logf(u)) * cosf(6.28318530718f * v);
}

