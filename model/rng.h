// Deterministic random numbers: weight initialisation and dropout masks.
//
// Dropout masks come from a counter-based hash of (seed, stream, index)
// rather than from a sequential generator, so that a mask does not depend on
// the order threads reach it and can be recomputed in the backward pass
// instead of stored.
#ifndef AZUL_RNG_H
#define AZUL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} Rng;

void rng_seed(Rng *rng, uint64_t seed);
uint64_t rng_next(Rng *rng);
float rng_uniform(Rng *rng);  // [0, 1)
float rng_normal(Rng *rng);   // mean 0, variance 1

// splitmix64's output function (Steele, Lea, Flood 2014): a good 64-bit mix.
static inline uint64_t rng_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// A uniform [0, 1) number (24 bits) determined only by its three arguments.
// Inline, so that the part that depends on (seed, stream) leaves the loop.
static inline float hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t key = rng_mix(seed ^ rng_mix(stream + 0x9E3779B97F4A7C15ull));
    return (float)(rng_mix(key + index) >> 40) * (1.0f / 16777216.0f);
}

#endif
