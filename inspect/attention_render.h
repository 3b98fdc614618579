// Showing attention maps: a heat map for the terminal, CSV and JSON for
// other programs, SVG for reading and printing.
#ifndef AZUL_ATTENTION_RENDER_H
#define AZUL_ATTENTION_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "inspect/attention_maps.h"

// Which maps: kinds as a bit set (1 << AttentionKind); layer -1 for all, -2
// for each kind's last; head -1 for all heads, -2 for the mean over heads,
// -3 for both.
typedef struct {
    unsigned kinds;
    int layer;
    int head;
} AttentionSelection;

enum { HEAD_ALL = -1, HEAD_MEAN = -2, HEAD_ALL_AND_MEAN = -3 };
enum { LAYER_ALL = -1, LAYER_LAST = -2 };

// The JSON of render_attention_json as a tree: {"source", "translation",
// "source_tokens", "target_tokens", "target_input_tokens", "heads",
// "attention": [{"kind", "layer", "head", "rows", "cols", "weights"}]};
// NULL when memory runs out.
cJSON *attention_json(const AttentionMaps *maps, const AttentionSelection *sel, const char *source);

// Each writes to out and returns 0, or -1 with err set when memory runs out
// (out may then hold part of the rendering).  Write errors are out's own, for
// the caller to check.
int render_attention_text(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                          bool colour, Error *err);
int render_attention_csv(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                         Error *err);
int render_attention_json(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                          const char *source, Error *err);
int render_attention_svg(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                         Error *err);

#endif
