// The attention a model paid while translating one sentence: every weight
// matrix of every layer and head, of the three kinds the paper names —
// encoder self-attention, (masked) decoder self-attention and
// encoder-decoder (cross) attention — with the tokens that label their rows
// and columns.
#ifndef AZUL_ATTENTION_MAPS_H
#define AZUL_ATTENTION_MAPS_H

#include "infer/translator.h"

typedef enum { ATTENTION_ENCODER, ATTENTION_DECODER, ATTENTION_CROSS, ATTENTION_KINDS } AttentionKind;

const char *attention_kind_name(AttentionKind kind);

typedef struct {
    char **source_tokens;   // S labels: the source tokens and <eos>
    char **target_inputs;   // T labels: <bos> and the translation's tokens
    char **target_outputs;  // T labels: the translation's tokens and <eos>
    int S, T;
    int n_layers[ATTENTION_KINDS];
    int H;
    char *translation;      // the target text
    // weights[kind][layer] (H, rows, cols): copied out of the model's activations
    float **weights[ATTENTION_KINDS];
} AttentionMaps;

// Runs the model on `source` with `target` teacher-forced, or (target NULL)
// on its own greedy translation, and keeps every attention map.
int attention_maps_compute(AttentionMaps *maps, Translator *t, const char *source,
                           const char *target, Error *err);
void attention_maps_free(AttentionMaps *maps);

// The rows and columns of a kind: encoder S × S, decoder T × T, cross T × S.
int attention_rows(const AttentionMaps *maps, AttentionKind kind);
int attention_cols(const AttentionMaps *maps, AttentionKind kind);
char **attention_row_labels(const AttentionMaps *maps, AttentionKind kind);
char **attention_col_labels(const AttentionMaps *maps, AttentionKind kind);

// The (rows × cols) matrix of one head, or (head < 0) the mean over heads,
// written to out.
void attention_matrix(const AttentionMaps *maps, AttentionKind kind, int layer, int head,
                      float *out);

#endif
