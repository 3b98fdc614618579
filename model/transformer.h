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
// A Model is its config and its weights: n_params floats with one layout,
// described by the tensor table (names as in the weights file).  Everything a
// forward pass writes lives in a Workspace, which its user owns: the trainer
// one sized for its batches (with room for the backward), the translator one
// for a sentence.  Gradients (same layout as the weights) and the optimiser's
// moments belong to the trainer alone; a model loaded to translate has none.
// Nothing is allocated inside a training step.
#ifndef AZUL_TRANSFORMER_H
#define AZUL_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/special_tokens.h"
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
    float *data;      // where this model's values are (in params, or in a mapped file)
} TensorInfo;

// ---------------------------------------------------------------- activations

typedef struct {
    float *q, *k, *v;         // (B, Tq, C), (B, Tk, C), (B, Tk, C)
    float *weights;           // (B, H, Tq, Tk) softmax output: what the inspector shows
    float *context;           // (B, Tq, C) heads' weighted sums, side by side
    float *out;               // (B, Tq, C) after W_O
    AttentionShape shape;     // what the last forward ran with (sizes, masks, dropout):
                              // the backward and the inspector read it, never re-derive it
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
    LayerNormActivations ln;      // a training workspace keeps ln.out only where it is the
                                  // encoder's or the decoder's output (post-LN)
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
    float *logits;            // (B, T, Vt); the backward turns them into their gradient
    float *log_z;             // (B, T) log Σ e^logits per position, for the loss's backward
                              // (not in decoding workspaces)
} Activations;

// Gradients of activations, reused layer after layer during backward.
typedef struct {
    float *dx, *dy, *dmid;        // (B, Tmax, C) gradients of layer and sublayer outputs
    float *dbranch, *dsum, *dnormed, *dcontext, *dq, *dk, *dv;  // (B, Tmax, C)
    float *normed;                // (B, Tmax, C) a sublayer's input, computed again
    float *dhidden;               // (B, Tmax, F)
    float *dweights;              // (B, H, Tmax, Tmax)
    float *dmemory;               // (B, S, C) gradient of the encoder output
} GradientScratch;

// ---------------------------------------------------------------- the model

typedef struct {
    ModelConfig config;
    size_t n_params;
    float *params;           // (n_params) the weights in table order, when built or copied;
                             // NULL when they are read in place from a mapped file
    Weights w;               // named views of the weights
    TensorInfo *tensors;     // stb_ds array, in storage order
    struct SafetensorsFile *file;  // the model file the weights were loaded from (model_file.h),
                                   // mapped read-only: the weights may live in it
} Model;

// Allocates a model for config and initialises the weights from seed
// (Xavier-uniform matrices, zero biases, unit LayerNorm gains).
int model_build(Model *m, const ModelConfig *config, uint64_t seed, Error *err);
void model_free(Model *m);

// How many floats the parameters of a model of this config take.
size_t model_parameter_count(const ModelConfig *config);

// The tensor table entry with this name, or NULL.
const TensorInfo *model_find_tensor(const Model *m, const char *name);

// Builds a model whose weights are somebody else's (the model file, mapped):
// source returns the floats of each tensor the table lists, or NULL with err.
typedef const float *(*TensorSource)(void *context, const TensorInfo *wanted, Error *err);
int model_build_from(Model *m, const ModelConfig *config, TensorSource source, void *context,
                     Error *err);

// The LayerNorm epsilon the network uses everywhere (as torch.nn.LayerNorm).
#define MODEL_LAYERNORM_EPS 1e-5f

// ---------------------------------------------------------------- a forward pass

// What a workspace keeps: everything the backward pass reads (training);
// every layer's activations but no gradient scratch (looking at attention);
// or only what the next layer reads, two layers' worth reused in turn
// (translating: memory that does not grow with depth).
typedef enum { WORKSPACE_TRAINING, WORKSPACE_INSPECTING, WORKSPACE_DECODING } WorkspaceUse;

typedef struct {
    // The batch: src (B, S), tgt_in (B, T) = <bos> y₁ …, tgt_out (B, T) = y₁ … <eos>.
    int B, S, T;
    int32_t *src, *tgt_in, *tgt_out;
    uint8_t *src_masked, *tgt_masked;         // (B, S), (B, T): 1 at padding
    bool training;                            // dropout on, masks drawn from dropout_seed
    uint64_t dropout_seed;
    int first_row;                            // where row 0 sits in the whole batch when this
                                              // one is a shard of it (0 otherwise; set by
                                              // the owner): dropout draws the whole batch's masks
    double loss;                              // mean label-smoothed loss of the last forward
    double nll;                               // its plain mean -log p (no smoothing)
    int loss_tokens;                          // target positions they averaged over

    Activations acts;
    GradientScratch scratch;                  // WORKSPACE_TRAINING only
    WorkspaceUse use;
    int self_keys;                            // decoder self-attention keys per row (T, or a cache's capacity)
    float *activation_memory;                 // (activation_floats)
    size_t activation_floats;
    void *batch_memory;                       // the batch's ids and masks
    size_t batch_bytes;
    float *positions;                         // (position_rows, position_width) the positional
    int position_rows, position_width;        // encodings, computed once and grown as needed
    int n_encoder_layers, n_decoder_layers;   // of the model the layer tables were made for
} Workspace;

// The memory grows to the largest batch seen and is then reused.
void workspace_init(Workspace *ws, WorkspaceUse use);
void workspace_free(Workspace *ws);

// Makes room for batches up to (B, S, T) now (a trainer, once per epoch), so
// that no forward pass of the epoch has to grow the memory.
int workspace_reserve(Workspace *ws, const Model *m, int B, int S, int T, Error *err);

// Runs the network on a batch of B sentence pairs, padded with TOKEN_PAD.
// With tgt_out it also computes the loss (NULL: logits only).  training turns
// dropout on, with masks drawn from dropout_seed.  Fails if S or T exceeds
// max_len, a token id is out of range, or memory runs out.
int model_forward(const Model *m, Workspace *ws, const int32_t *src, const int32_t *tgt_in,
                  const int32_t *tgt_out, int B, int S, int T, bool training,
                  uint64_t dropout_seed, Error *err);

// Runs only the encoder on B padded sources (B, S), training off; afterwards
// ws->acts.memory (B, S, C) and ws->src_masked (B, S) describe them.  For decoding.
int model_encode(const Model *m, Workspace *ws, const int32_t *src, int B, int S, Error *err);

// ---------------------------------------------------------------- the backward pass

// The gradients of every weight: the same layout as the model's parameters.
typedef struct {
    size_t n;
    float *grads;   // (n_params)
    Weights dw;     // named views
} Gradients;

int gradients_build(Gradients *g, const Model *m, Error *err);
void gradients_free(Gradients *g);
void gradients_zero(Gradients *g);

// Gradients of the last forward's loss (a WORKSPACE_TRAINING ws), added to g.
// It uses ws->acts.logits as working space: afterwards they hold their gradient.
void model_backward(const Model *m, Workspace *ws, Gradients *g);
// The same for a shard of a larger batch: the gradients of the shard's share
// of the whole batch's mean loss, its token losses divided by the whole
// batch's batch_tokens, so that the shards' gradients add up to the batch's.
void model_backward_shard(const Model *m, Workspace *ws, Gradients *g, int batch_tokens);

// ---------------------------------------------------------------- looking inside

typedef enum { ATTENTION_ENCODER, ATTENTION_DECODER, ATTENTION_CROSS, ATTENTION_KINDS } AttentionKind;

// One attention sublayer of the last forward: its inputs and outputs and the
// shape (masks included) it ran with, so attention_key_visible tells which
// keys each query could see.
typedef struct {
    AttentionShape shape;
    const float *q;        // (B, Tq, C)
    const float *k, *v;    // (B, kv_rows, C)
    const float *weights;  // (B, H, Tq, Tk)
    const float *context;  // (B, Tq, C) the heads' weighted sums, before W_O
} AttentionView;

// layer counts from 0.  The workspace must keep every layer (training or
// inspecting).
AttentionView model_attention_view(const Workspace *ws, AttentionKind kind, int layer);

#endif
