// Explaining one query's attention step by step (azul attention --explain).
#ifndef AZUL_ATTENTION_EXPLAIN_H
#define AZUL_ATTENTION_EXPLAIN_H

#include <stdio.h>

#include "inspect/attention_maps.h"

// The query row of a kind named by its token's text (with or without the
// leading ▁) or as #N; -1 when there is none.
int attention_find_query(const AttentionMaps *maps, AttentionKind kind, const char *wanted);

// Writes the walk-through of query row i of one layer and head to out.
void attention_explain(FILE *out, const AttentionMaps *maps, AttentionKind kind, int layer,
                       int head, int i);

#endif
