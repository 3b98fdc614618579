// The attention a model paid while translating one sentence: every weight
// matrix of every layer and head, of the three kinds the paper names —
// encoder self-attention, (masked) decoder self-attention and
// encoder-decoder (cross) attention — with the tokens that label their rows
// and columns.
#ifndef AZUL_ATTENTION_MAPS_H
#define AZUL_ATTENTION_MAPS_H

#include "infer/translator.h"

const char *attention_kind_name(AttentionKind kind);

typedef struct {
    char **source_tokens;   // S labels: the source tokens and <eos>
    char **target_inputs;   // T labels: <bos> and the translation's tokens
    char **target_outputs;  // T labels: the translation's tokens and <eos>
    int32_t *source_ids;    // (S) the source tokens and <eos>
    int32_t *target_ids;    // (T - 1) the translation's tokens, as generated or given:
                            // its text may tokenize otherwise (a byte token, an unusual split)
    int S, T;
    int n_layers[ATTENTION_KINDS];
    int H;
    int C;                  // d_model: the heads' channels side by side
    char *translation;      // the target text; it and the labels are printable
                            // (utf8_printable: no control characters)
    // Per kind and layer, copied out of the forward pass through the model's
    // attention view: weights[kind][layer] (H, rows, cols), and what they
    // were computed from and into, for the step-by-step explanation:
    // queries (rows, C), keys and values (cols, C), contexts (rows, C).
    float **weights[ATTENTION_KINDS];
    float **queries[ATTENTION_KINDS], **keys[ATTENTION_KINDS], **values[ATTENTION_KINDS];
    float **contexts[ATTENTION_KINDS];
    AttentionShape shapes[ATTENTION_KINDS];  // the masking rule each kind ran with (no padding:
                                             // one sentence); see attention_key_visible
} AttentionMaps;

// Runs the model on `source` with `target` teacher-forced, or (target NULL)
// on its own greedy translation, and keeps every attention map.
int attention_maps_compute(AttentionMaps *maps, Translator *t, const char *source,
                           const char *target, Error *err);
// The same for any model and its tokenizers (a model in training).
int attention_maps_of(AttentionMaps *maps, const Model *m, TokenizerPair *tokenizers, const char *source,
                      const char *target, Error *err);
// attention_maps_compute whose greedy translation gives up at the deadline
// (infer/search.h).
int attention_maps_compute_until(AttentionMaps *maps, Translator *t, const char *source, const char *target,
                                 double deadline, Error *err);
void attention_maps_free(AttentionMaps *maps);

// Whether query row i could see key column j (the decoder's future is masked).
bool attention_visible(const AttentionMaps *maps, AttentionKind kind, int i, int j);

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
