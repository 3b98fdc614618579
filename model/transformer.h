// The encoder-decoder Transformer ("Attention Is All You Need", Vaswani et
// al. 2017): its parameters, its activations, forward and backward.
//
//   source ids ─ embedding·√C + positions ─▶ N × [self-attention, FFN] ─▶ memory
//   target ids ─ embedding·√C + positions ─▶ N × [causal self-attention,
//                cross-attention over memory, FFN] ─▶ linear ─▶ logits ─▶ loss
//
// Every sublayer F sits in a residual connection with LayerNorm:
//   post-LN (the paper, default):  y = LN(x + dropout(F(x)))
//   pre-LN (option):               y = x + dropout(F(LN(x))), and a final LN
//
// Parameters, their gradients and the two Adam moments are four contiguous
// arrays of n_params floats with one layout, described by the tensor table
// (names as in the weights file).  Activations are one more array, sized for
// the largest batch shape seen; nothing is allocated inside a training step.
#ifndef AZUL_TRANSFORMER_H
#define AZUL_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/config.h"
#include "model/ops.h"

// ---------------------------------------------------------------- parameters

typedef struct {
    float *wq, *bq;  // (C, C), (C): queries
    float *wk, *bk;  // keys
    float *wv, *bv;  // values
    float *wo, *bo;  // the output projection that mixes the heads
} AttentionWeights;

typedef struct {
    float *weight, *bias;  // (C), (C)
} LayerNormWeights;

typedef struct {
    float *w1, *b1;  // (F, C), (F)
    float *w2, *b2;  // (C, F), (C)
} FeedForwardWeights;

typedef struct {
    AttentionWeights self_attn;
    LayerNormWeights ln1;
    FeedForwardWeights ffn;
    LayerNormWeights ln2;
} EncoderLayerWeights;

typedef struct {
    AttentionWeights self_attn;
    LayerNormWeights ln1;
    AttentionWeights cross_attn;
    LayerNormWeights ln2;
    FeedForwardWeights ffn;
    LayerNormWeights ln3;
} DecoderLayerWeights;

typedef struct {
    float *src_embed;              // (Vs, C)
    float *tgt_embed;              // (Vt, C)
    EncoderLayerWeights *encoder;  // [n_encoder_layers]
    DecoderLayerWeights *decoder;  // [n_decoder_layers]
    LayerNormWeights encoder_ln;   // pre-LN only: after the last encoder layer
    LayerNormWeights decoder_ln;   // pre-LN only: after the last decoder layer
    float *out_w;                  // (Vt, C); the target embedding itself when tied
    float *out_b;                  // (Vt)
} Weights;

typedef enum { INIT_XAVIER, INIT_EMBEDDING, INIT_ZEROS, INIT_ONES } TensorInit;

typedef struct {
    char name[64];    // e.g. "decoder.1.cross_attn.wq"
    TensorInit init;
    int ndim;
    int shape[2];
    size_t offset;    // in floats, from the start of the parameter array
    size_t size;      // in floats
} TensorInfo;

// ---------------------------------------------------------------- activations

typedef struct {
    float *q, *k, *v;         // (B, Tq, C), (B, Tk, C), (B, Tk, C)
    float *weights;           // (B, H, Tq, Tk) softmax output: what the inspector shows
    float *dropped;           // (B, H, Tq, Tk) after dropout
    float *context;           // (B, Tq, C) heads' weighted sums, side by side
    float *out;               // (B, Tq, C) after W_O
} AttentionActivations;

typedef struct {
    float *out;               // (B, T, C)
    float *mean, *rstd;       // (B, T)
} LayerNormActivations;

typedef struct {
    float *hidden;            // (B, T, F) after ReLU
    float *out;               // (B, T, C)
} FeedForwardActivations;

// A sublayer F in its residual connection:
//   post-LN: sublayer_input = input,      sum = input + dropout(F), output = LN(sum)
//   pre-LN:  sublayer_input = LN(input),  sum = input + dropout(F), output = sum
typedef struct {
    const float *input;           // (B, T, C) not owned: the previous sublayer's output
    const float *sublayer_input;  // (B, T, C) what F reads
    const float *output;          // (B, T, C) what the next sublayer reads
    float *sum;                   // (B, T, C)
    LayerNormActivations ln;
} ResidualActivations;

typedef struct {
    ResidualActivations attn_res, ffn_res;  // layer input = attn_res.input, output = ffn_res.output
    AttentionActivations self_attn;
    FeedForwardActivations ffn;
} EncoderLayerActivations;

typedef struct {
    ResidualActivations self_res, cross_res, ffn_res;
    AttentionActivations self_attn, cross_attn;
    FeedForwardActivations ffn;
} DecoderLayerActivations;

typedef struct {
    float *src_embedded;      // (B, S, C) after dropout
    float *tgt_embedded;      // (B, T, C)
    EncoderLayerActivations *encoder;
    DecoderLayerActivations *decoder;
    LayerNormActivations encoder_ln, decoder_ln;  // pre-LN only
    const float *memory;      // (B, S, C) the encoder's output, read by cross-attention
    const float *decoded;     // (B, T, C) the decoder's output
    float *logits;            // (B, T, Vt)
    float *probs;             // (B, T, Vt) softmax of the logits; dlogits in backward
} Activations;

// Gradients of activations, reused layer after layer during backward.
typedef struct {
    float *dx, *dy, *dmid;        // (B, Tmax, C) gradients of layer and sublayer outputs
    float *dbranch, *dsum, *dnormed, *dcontext, *dq, *dk, *dv;  // (B, Tmax, C)
    float *dhidden, *dpre;        // (B, Tmax, F)
    float *dweights;              // (B, H, Tmax, Tmax)
    float *dmemory;               // (B, S, C) gradient of the encoder output
} GradientScratch;

// ---------------------------------------------------------------- the model

typedef struct {
    ModelConfig config;

    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;  // (n_params) each
    Weights w, dw;                            // named views into params and grads
    TensorInfo *tensors;                      // stb_ds array, in storage order

    // The batch the activations hold.
    int B, S, T;
    int32_t *src, *tgt_in, *tgt_out;          // (B, S), (B, T), (B, T)
    uint8_t *src_masked, *tgt_masked;         // (B, S), (B, T): 1 at padding
    bool training;
    uint64_t dropout_seed;
    double loss;                              // mean label-smoothed loss of the last forward
    int loss_tokens;                          // target positions it averaged over

    int capacity_B, capacity_S, capacity_T;   // shape the activation memory fits
    float *activation_memory;
    void *batch_memory;
    Activations acts;
    GradientScratch scratch;
} Model;

// Allocates a model for config and initialises the weights from seed
// (Xavier-uniform matrices, zero biases, unit LayerNorm gains).
int model_build(Model *m, const ModelConfig *config, uint64_t seed, Error *err);
void model_free(Model *m);

// How many floats the parameters of a model of this config take.
size_t model_parameter_count(const ModelConfig *config);

// Runs the network on a batch of B sentence pairs, padded with TOKEN_PAD:
// src (B, S), tgt_in (B, T) = <bos> y₁ … and tgt_out (B, T) = y₁ … <eos>.
// With tgt_out it also computes the loss (NULL: logits only).  training turns
// dropout on, with masks drawn from dropout_seed.  Fails if S or T exceeds
// max_len or a token id is out of range.
int model_forward(Model *m, const int32_t *src, const int32_t *tgt_in, const int32_t *tgt_out,
                  int B, int S, int T, bool training, uint64_t dropout_seed, Error *err);

// Runs only the encoder on B padded sources (B, S), training off; afterwards
// m->acts.memory (B, S, C) and m->src_masked (B, S) describe them.  For decoding.
int model_encode(Model *m, const int32_t *src, int B, int S, Error *err);

// The LayerNorm epsilon the network uses everywhere (as torch.nn.LayerNorm).
#define MODEL_LAYERNORM_EPS 1e-5f

// Gradients of the last forward's loss, added to m->grads (zero them first).
void model_zero_grad(Model *m);
void model_backward(Model *m);

// The tensor table entry with this name, or NULL.
const TensorInfo *model_find_tensor(const Model *m, const char *name);

#endif
