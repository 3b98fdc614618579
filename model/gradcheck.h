// Checking backpropagation against finite differences, coordinate by coordinate.
//
// For a parameter θᵢ the derivative of the loss estimated from the loss
// itself must match the gradient the backward pass computed, at every sampled
// coordinate, within an allowance that says where it comes from:
//
//   |analytic − numerical| ≤ relative · |analytic|        the backward's own rounding
//                           + sigmas · noise               the forward's rounding, measured
//                           + |D₄ − D₂|                    the stencil's truncation, estimated
//
// The numerical derivative D₄ is the fourth-order five-point stencil (the
// loss at θᵢ ± h and θᵢ ± 2h), so that h can be large enough to push the
// float32 forward's rounding noise (σ ≈ 5e-8 in a loss of 3.5) far below the
// gradients: D₄'s noise is ≈ σ / h = 5e-6 at h = 1e-2, where the old
// two-point difference at h = 1e-3 carried 5e-5.  The loss is smooth except
// where a ReLU unit changes sides; a stencil that flips any unit of the
// forward is shrunk (h ÷ 4, up to four times) until none flips, and a
// coordinate that still flips at the smallest step is left out and counted.
// The noise is measured, not assumed: the same stencil at h / 8 is almost all
// rounding, and its spread over a tensor's coordinates gives σ.  Gradients
// that are zero in exact arithmetic (the key bias: softmax ignores a shift
// shared by a whole row) meet an absolute bound, sigmas · noise, of a few
// times 1e-5, instead of a per-tensor norm's 2e-2 floor.
//
// Each tensor is also moved as a whole along its own analytic gradient a,
// where the derivative must be ‖a‖: one number tens of times larger than a
// coordinate, so that an error of the whole tensor (a scale, a missing term,
// a block of wrong coordinates) stands out far above the noise.
//
// Resolution, toy preset at initialisation, 8 coordinates per tensor: a
// tensor whose gradient is off by 0.4–0.6% fails on the median tensor, by
// 2–3% on nine tensors in ten, and by up to 6% on the worst (the first
// encoder layer, whose every weight moves thousands of ReLU units, so that
// its steps shrink to 4e-5 and its noise allowance grows 250-fold).
// Tighter comparisons are the PyTorch parity tests' (tests/test_parity.c,
// 1e-4 of each tensor's largest entry), which read no differences at all.
//
// Why not finite differences of a double-precision copy of the forward?  It
// would be a second implementation of every op and of the whole model beside
// the float one that is used (the project keeps one), and the backward would
// be checked against that copy instead of against the forward that runs: here
// a fast float kernel is checked exactly as it computes.  The independent
// reference in double is PyTorch's.
#ifndef AZUL_GRADCHECK_H
#define AZUL_GRADCHECK_H

#include "model/transformer.h"

typedef struct {
    int samples;      // coordinates checked per tensor: half the largest gradients, half random
    double step;      // the stencil's first step h (shrunk where a ReLU unit would flip)
    double relative;  // allowance relative to |analytic|
    double sigmas;    // allowance in standard deviations of the measured noise
    uint64_t seed;    // which coordinates are drawn
} GradCheckOptions;

// samples 16, step 1e-2, relative 1e-3, sigmas 8, seed 1.
GradCheckOptions gradcheck_defaults(void);

typedef struct {
    char name[64];
    int sampled;            // coordinates checked
    int kinked;             // coordinates left out: a ReLU unit flips even at the smallest step
    int failed;             // coordinates (and the direction below) outside their allowance
    double norm;            // ‖analytic‖ over the checked coordinates
    double numerical_norm;  // ‖numerical‖ over the same
    double error;           // ‖analytic − numerical‖ / max(both norms), or 0: for reading only
    double noise;           // σ, the rounding noise of one loss evaluation, as measured
    double worst;           // the largest |analytic − numerical| / allowance: above 1 fails
    size_t worst_index;     // that coordinate, within the tensor
    double worst_analytic, worst_numerical, worst_allowance;
    // The whole tensor along its analytic gradient a: the derivative must be ‖a‖.
    bool along_checked;     // false when a ReLU flips even at the smallest step, or a = 0
    double along_analytic;  // ‖a‖ over the whole tensor
    double along_numerical, along_allowance;
    double along_ratio;     // |‖a‖ − numerical| / allowance: above 1 fails
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

// Runs the model's backward on the batch and checks every tensor's gradient;
// fills results[n_tensors].  The weights are perturbed in place and restored.
int gradcheck_model(Model *m, const GradCheckBatch *batch, const GradCheckOptions *options,
                    TensorGradCheck *results, Error *err);

// The same check of gradients computed elsewhere (n_params floats in the
// table's order): a test hands it a deliberately wrong gradient.
int gradcheck_gradients(Model *m, const GradCheckBatch *batch, const float *grads,
                        const GradCheckOptions *options, TensorGradCheck *results, Error *err);

// ---------------------------------------------------------------- one coordinate

// What finite differences need from a function of float weights: its value
// (in double) at the current weights, and optionally whether the last
// evaluation ran on the same smooth piece as the unperturbed one (NULL: the
// function is smooth everywhere).
typedef struct {
    double (*value)(void *context);
    bool (*same_piece)(void *context);
    void *context;
} Objective;

typedef struct {
    double value;       // D₄, the five-point estimate of the derivative
    double truncation;  // |D₄ − D₂|, D₂ the central difference of the same step
    double noise_gain;  // ‖stencil weights‖: D₄'s noise is noise_gain · σ
    double step;        // the step h used
    bool smooth;        // every evaluation stayed on the unperturbed piece
} FiniteDifference;

// The derivative of f in *x, from f at the steps x ± h, x ± 2h as float32
// rounds them (the weights use the steps really taken); f0 is f at x.  The
// step is divided by 4 up to `shrink` times while the stencil leaves the
// piece.  *x is restored.
FiniteDifference finite_difference(const Objective *f, float *x, double f0, double h, int shrink);

// The rounding noise of f seen from *x: the stencil at step h is compared
// with the one at h / 64, whose error is almost all rounding; returns one
// sample of σ (its square averages to σ²), or a negative number when the
// small stencil left the piece.
double finite_difference_noise(const Objective *f, float *x, double f0, const FiniteDifference *d);

#endif
