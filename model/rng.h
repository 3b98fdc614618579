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

// A 32-bit mix in which every input bit flips each output bit with
// probability close to 1/2: two rounds of xor-shift and multiply, with the
// constants of Chris Wellons's "lowbias32" (found by his hash search).  It is
// a bijection, so distinct inputs never collide.
static inline uint32_t hash32_mix(uint32_t x) {
    x = (x ^ (x >> 16)) * 0x7FEB352Du;
    x = (x ^ (x >> 15)) * 0x846CA68Bu;
    return x ^ (x >> 16);
}

// A uniform [0, 1) number (24 bits) determined only by its three arguments.
// Inline, so that the part that depends on (seed, stream) leaves the loop.
// The part that depends on the index is 32-bit arithmetic: 8 lanes of AVX2
// (or 4 of SSE4) compute it at once, where a 64-bit multiply has no vector
// instruction before AVX-512 and dropout ran one element at a time.  Indices
// count modulo 2³², far more than the elements of any one tensor.
static inline float hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    const uint64_t key = rng_mix(seed ^ rng_mix(stream + 0x9E3779B97F4A7C15ull));
    const uint32_t h = hash32_mix(hash32_mix((uint32_t)index ^ (uint32_t)key) + (uint32_t)(key >> 32));
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

#endif
