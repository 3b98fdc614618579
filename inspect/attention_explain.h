// Explaining one query's attention step by step (azul attention --explain,
// and the playground's explanation panel).
#ifndef AZUL_ATTENTION_EXPLAIN_H
#define AZUL_ATTENTION_EXPLAIN_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "inspect/attention_maps.h"

// The query row of a kind named by its token's text (with or without the
// leading ▁) or as #N; -1 when there is none.
int attention_find_query(const AttentionMaps *maps, AttentionKind kind, const char *wanted);

// One key as the query saw it.
typedef struct {
    const char *label;      // the key's token (the maps' own string)
    bool visible;           // false: masked (the decoder's future), weight 0
    double dot, scaled;     // q·k, and q·k/√head_size
    double weight;          // after the softmax
    double *weighted_value; // weight × this head's part of the key's value row (head_size)
} ExplainedKey;

// The walk-through of one query of one layer and head, with the model's
// numbers: its query vector, its scaled dot product with every key, the
// softmax, and the weighted sum of the values — checked against what the
// model itself computed.
typedef struct {
    AttentionKind kind;
    int layer, head, row;
    const char *query;      // the query's token
    int head_size;
    double scale;           // 1/√head_size
    double *q;              // (head_size) this head's part of the query
    ExplainedKey *keys;     // (n_keys)
    int n_keys;
    double *sum;            // (head_size) Σ weight × value: the head's output
    double own_difference;  // the largest |sum - the model's own output|
    int strongest;          // the key with the largest weight
} Explanation;

// Fills e for query row i; -1 with err when memory runs out.
int attention_explain_compute(Explanation *e, const AttentionMaps *maps, AttentionKind kind,
                              int layer, int head, int i, Error *err);
void explanation_free(Explanation *e);

// The explanation as the terminal shows it.
void explanation_print(FILE *out, const Explanation *e);
// {"kind", "layer", "head", "row", "query", "head_size", "scale", "q",
//  "keys": [{"key", "masked", "dot", "scaled", "weight", "weighted_value"}],
//  "sum", "own_difference", "strongest"}; NULL when memory runs out.
cJSON *explanation_json(const Explanation *e);

#endif
