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

// A uniform [0, 1) number determined only by its three arguments.
float hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);

#endif
