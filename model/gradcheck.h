// Checking backpropagation against finite differences, tensor by tensor.
//
// For a parameter θᵢ the central difference (L(θᵢ+h) − L(θᵢ−h)) / 2h must
// match the gradient the backward pass computed.  The model is float32, so
// each difference carries rounding noise of about (float ε · |L|) / h; the
// check therefore compares, per tensor, the vector of sampled analytic
// gradients with the vector of numerical ones:
//     error = ‖analytic − numerical‖ / max(‖analytic‖, ‖numerical‖, 2e-2)
// which is ~1e-3 when the backward is right and ~1 when a term is missing
// (the floor is for gradients that are truly zero, see gradcheck.c).
#ifndef AZUL_GRADCHECK_H
#define AZUL_GRADCHECK_H

#include "model/transformer.h"

typedef struct {
    char name[64];
    int sampled;          // coordinates checked
    double error;         // as above
    double worst;         // the largest single-coordinate |a − n| / max(|a|, |n|) among
                          // coordinates whose gradient is not negligible
    double norm;          // ‖analytic‖ over the sampled coordinates
    double numerical_norm;
} TensorGradCheck;

typedef struct {
    const int32_t *src, *tgt_in, *tgt_out;
    int B, S, T;
    uint64_t dropout_seed;  // dropout runs with this fixed mask in every evaluation
} GradCheckBatch;

// A small padded batch with something for every mask to hide: three pairs
// with source lengths 7, 5, 3 and target lengths 6, 4, 2 (<bos>/<eos>
// included), random ids drawn from seed.
enum { EXAMPLE_B = 3, EXAMPLE_S = 7, EXAMPLE_T = 6 };
typedef struct {
    int32_t src[EXAMPLE_B * EXAMPLE_S];
    int32_t tgt_in[EXAMPLE_B * EXAMPLE_T];
    int32_t tgt_out[EXAMPLE_B * EXAMPLE_T];
} ExampleBatch;

ExampleBatch example_batch(uint64_t seed, int src_vocab, int tgt_vocab);

// Samples up to `samples` coordinates of every tensor (half where the analytic
// gradient is largest, half at random) and fills results[n_tensors].
int gradcheck_model(Model *m, const GradCheckBatch *batch, int samples, double h, uint64_t seed,
                    TensorGradCheck *results, Error *err);

#endif
