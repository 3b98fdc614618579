// The seed's walk-through of one query's attention, with a trained model's
// numbers: its query vector, its scaled dot product with every key, the
// softmax, and the weighted sum of the values — checked against what the
// model itself computed.
#include "inspect/attention_explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_tree.h"

// Finds a query by its text (with or without the ▁) or as #N.
int attention_find_query(const AttentionMaps *maps, AttentionKind kind, const char *wanted) {
    char **labels = attention_row_labels(maps, kind);
    const int n = attention_rows(maps, kind);
    if (wanted[0] == '#') {
        char *end;
        long i = strtol(wanted + 1, &end, 10);
        return *end == '\0' && i >= 0 && i < n ? (int)i : -1;
    }
    for (int i = 0; i < n; i++) {
        const char *l = labels[i];
        if (strcmp(l, wanted) == 0) return i;
        if (strncmp(l, "\xE2\x96\x81", 3) == 0 && strcmp(l + 3, wanted) == 0) return i;
    }
    return -1;
}

// ---------------------------------------------------------------- the numbers

void explanation_free(Explanation *e) {
    for (int j = 0; e->keys && j < e->n_keys; j++) free(e->keys[j].weighted_value);
    free(e->keys);
    free(e->q);
    free(e->sum);
    memset(e, 0, sizeof *e);
}

// Each key's dot product, scaled score, weight and weighted value row; 0, or
// -1 when memory runs out.
static int explain_keys(Explanation *e, const AttentionMaps *maps, const float *q, const float *w) {
    char **cols = attention_col_labels(maps, e->kind);
    const int C = maps->C, hs = e->head_size;
    for (int j = 0; j < e->n_keys; j++) {
        ExplainedKey *key = &e->keys[j];
        key->label = cols[j];
        key->visible = attention_visible(maps, e->kind, e->row, j);
        if (!key->visible) continue;
        const float *k = maps->keys[e->kind][e->layer] + (size_t)j * C + e->head * hs;
        const float *v = maps->values[e->kind][e->layer] + (size_t)j * C + e->head * hs;
        for (int c = 0; c < hs; c++) key->dot += (double)q[c] * k[c];
        key->scaled = key->dot * e->scale;
        key->weight = w[j];
        if (!(key->weighted_value = malloc((size_t)hs * sizeof *key->weighted_value))) return -1;
        for (int c = 0; c < hs; c++) {
            key->weighted_value[c] = (double)w[j] * v[c];
            e->sum[c] += key->weighted_value[c];
        }
        if (w[j] > w[e->strongest]) e->strongest = j;
    }
    return 0;
}

int attention_explain_compute(Explanation *e, const AttentionMaps *maps, AttentionKind kind,
                              int layer, int head, int i, Error *err) {
    const int n_rows = attention_rows(maps, kind), n_cols = attention_cols(maps, kind);
    const int C = maps->C, hs = C / maps->H;
    *e = (Explanation){.kind = kind, .layer = layer, .head = head, .row = i,
                       .query = attention_row_labels(maps, kind)[i], .head_size = hs,
                       .scale = 1.0f / sqrtf((float)hs), .n_keys = n_cols};  // as the model scaled
    e->q = malloc((size_t)hs * sizeof *e->q);
    e->sum = calloc((size_t)hs, sizeof *e->sum);
    e->keys = calloc((size_t)n_cols, sizeof *e->keys);
    const float *q = maps->queries[kind][layer] + (size_t)i * C + head * hs;
    const float *w = maps->weights[kind][layer] + ((size_t)head * n_rows + i) * n_cols;
    if (!e->q || !e->sum || !e->keys || explain_keys(e, maps, q, w) < 0) {
        explanation_free(e);
        return error_out_of_memory(err, "explaining an attention", (size_t)n_cols * hs * sizeof(double));
    }
    for (int c = 0; c < hs; c++) e->q[c] = q[c];
    const float *own = maps->contexts[kind][layer] + (size_t)i * C + head * hs;
    for (int c = 0; c < hs; c++) e->own_difference = fmax(e->own_difference, fabs(e->sum[c] - own[c]));
    return 0;
}

// ---------------------------------------------------------------- text

// Prints a label padded to `width` columns (code points, not bytes).
static void print_padded(FILE *out, const char *label, int width) {
    int w = 0;
    for (const char *p = label; *p; p++) w += ((unsigned char)*p & 0xC0) != 0x80;
    fprintf(out, "%s%*s", label, width > w ? width - w : 0, "");
}

static void print_vector(FILE *out, const double *v, int n) {
    fprintf(out, "[");
    for (int i = 0; i < n; i++) fprintf(out, "%s%.4f", i ? ", " : "", v[i]);
    fprintf(out, "]");
}

// Steps 1 and 2: the query, and its scaled dot product with every key.
static void print_scores(FILE *out, const Explanation *e) {
    fprintf(out, "1. its query vector q = x·W_Qᵀ + b_Q, this head's %d numbers:\n   ", e->head_size);
    print_vector(out, e->q, e->head_size);
    fprintf(out, "\n\n2. its dot product with each key (q·k), scaled by 1/√%d = %.6f, and the softmax:\n",
            e->head_size, e->scale);
    fprintf(out, "   %-14s %12s %12s %10s\n", "key", "q·k", "scaled", "weight");
    for (int j = 0; j < e->n_keys; j++) {
        const ExplainedKey *k = &e->keys[j];
        fprintf(out, "   ");
        print_padded(out, k->label, 14);
        if (!k->visible) {
            fprintf(out, " %12s %12s %10s\n", "masked", "-inf", "0");
            continue;
        }
        fprintf(out, " %12.6f %12.6f %10.6f\n", k->dot, k->scaled, k->weight);
    }
}

// Step 3: the weighted sum of the value rows, checked against the model's own.
static void print_sum(FILE *out, const Explanation *e) {
    const int hs = e->head_size;
    fprintf(out, "\n3. each value row times its weight, and the sum (the head's output):\n");
    for (int j = 0; j < e->n_keys; j++) {
        const ExplainedKey *k = &e->keys[j];
        if (!k->visible || k->weight < 0.01) continue;  // the small ones are summed but not shown
        fprintf(out, "   %.4f × v(%s) = [", k->weight, k->label);
        for (int c = 0; c < hs && c < 6; c++) fprintf(out, "%s%.4f", c ? ", " : "", k->weighted_value[c]);
        fprintf(out, "%s]\n", hs > 6 ? ", ..." : "");
    }
    fprintf(out, "   sum = ");
    print_vector(out, e->sum, hs);
    fprintf(out, "\n   (the model's own output for this head differs by at most %.1e)\n", e->own_difference);
}

void explanation_print(FILE *out, const Explanation *e) {
    fprintf(out, "%s, layer %d, head %d: the query of \"%s\" (row %d)\n\n", attention_kind_name(e->kind),
            e->layer, e->head, e->query, e->row);
    print_scores(out, e);
    print_sum(out, e);
    if (e->kind == ATTENTION_CROSS) {
        const ExplainedKey *best = &e->keys[e->strongest];
        fprintf(out, "\n\"%s\" looks most at \"%s\" (weight %.2f) in this head.\n", e->query, best->label,
                best->weight);
    }
}

// ---------------------------------------------------------------- JSON

static cJSON *number_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        if (!json_append(a, cJSON_CreateNumber(v[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *key_json(const ExplainedKey *k, int head_size) {
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "key", k->label) &&
              cJSON_AddBoolToObject(o, "masked", !k->visible);
    if (ok && k->visible) {
        ok = cJSON_AddNumberToObject(o, "dot", k->dot) && cJSON_AddNumberToObject(o, "scaled", k->scaled) &&
             cJSON_AddNumberToObject(o, "weight", k->weight) &&
             json_attach(o, "weighted_value", number_array(k->weighted_value, head_size));
    }
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}

cJSON *explanation_json(const Explanation *e) {
    cJSON *o = cJSON_CreateObject(), *keys = NULL;
    bool ok = o && cJSON_AddStringToObject(o, "kind", attention_kind_name(e->kind)) &&
              cJSON_AddNumberToObject(o, "layer", e->layer) && cJSON_AddNumberToObject(o, "head", e->head) &&
              cJSON_AddNumberToObject(o, "row", e->row) && cJSON_AddStringToObject(o, "query", e->query) &&
              cJSON_AddNumberToObject(o, "head_size", e->head_size) &&
              cJSON_AddNumberToObject(o, "scale", e->scale) &&
              json_attach(o, "q", number_array(e->q, e->head_size)) &&
              (keys = cJSON_AddArrayToObject(o, "keys")) != NULL;
    for (int j = 0; ok && j < e->n_keys; j++) ok = json_append(keys, key_json(&e->keys[j], e->head_size));
    ok = ok && json_attach(o, "sum", number_array(e->sum, e->head_size)) &&
         cJSON_AddNumberToObject(o, "own_difference", e->own_difference) &&
         cJSON_AddStringToObject(o, "strongest", e->keys[e->strongest].label);
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}
