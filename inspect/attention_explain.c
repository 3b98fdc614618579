// The seed's walk-through of one query's attention, with a trained model's
// numbers: its query vector, its scaled dot product with every key, the
// softmax, and the weighted sum of the values — checked against what the
// model itself computed.
#include "inspect/attention_explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

// Prints a label padded to `width` columns (code points, not bytes).
static void print_padded(FILE *out, const char *label, int width) {
    int w = 0;
    for (const char *p = label; *p; p++) w += ((unsigned char)*p & 0xC0) != 0x80;
    fprintf(out, "%s%*s", label, width > w ? width - w : 0, "");
}

static void print_vector(FILE *out, const float *v, int n) {
    fprintf(out, "[");
    for (int i = 0; i < n; i++) fprintf(out, "%s%.4f", i ? ", " : "", (double)v[i]);
    fprintf(out, "]");
}

// Steps 1 and 2: the query, and its scaled dot product with every key.
static void explain_scores(FILE *out, const AttentionMaps *maps, AttentionKind kind, int layer,
                           int head, int i) {
    char **cols = attention_col_labels(maps, kind);
    const int n_rows = attention_rows(maps, kind), n_cols = attention_cols(maps, kind);
    const int C = maps->C, hs = C / maps->H;
    const float scale = 1.0f / sqrtf((float)hs);
    const float *q = maps->queries[kind][layer] + (size_t)i * C + head * hs;
    const float *w = maps->weights[kind][layer] + ((size_t)head * n_rows + i) * n_cols;
    fprintf(out, "1. its query vector q = x·W_Qᵀ + b_Q, this head's %d numbers:\n   ", hs);
    print_vector(out, q, hs);
    fprintf(out, "\n\n2. its dot product with each key (q·k), scaled by 1/√%d = %.6f, and the softmax:\n",
            hs, (double)scale);
    fprintf(out, "   %-14s %12s %12s %10s\n", "key", "q·k", "scaled", "weight");
    for (int j = 0; j < n_cols; j++) {
        const float *k = maps->keys[kind][layer] + (size_t)j * C + head * hs;
        double dot = 0;
        for (int c = 0; c < hs; c++) dot += (double)q[c] * k[c];
        fprintf(out, "   ");
        print_padded(out, cols[j], 14);
        if (!attention_visible(maps, kind, i, j)) {
            fprintf(out, " %12s %12s %10s\n", "masked", "-inf", "0");
            continue;
        }
        fprintf(out, " %12.6f %12.6f %10.6f\n", dot, dot * scale, (double)w[j]);
    }
}

// Step 3: the weighted sum of the value rows, checked against the model's own.
static void explain_sum(FILE *out, const AttentionMaps *maps, AttentionKind kind, int layer,
                        int head, int i) {
    char **cols = attention_col_labels(maps, kind);
    const int n_rows = attention_rows(maps, kind), n_cols = attention_cols(maps, kind);
    const int C = maps->C, hs = C / maps->H;
    const float *w = maps->weights[kind][layer] + ((size_t)head * n_rows + i) * n_cols;
    fprintf(out, "\n3. each value row times its weight, and the sum (the head's output):\n");
    double sum[hs];
    for (int c = 0; c < hs; c++) sum[c] = 0;
    for (int j = 0; j < n_cols; j++) {
        if (!attention_visible(maps, kind, i, j)) continue;
        const float *v = maps->values[kind][layer] + (size_t)j * C + head * hs;
        for (int c = 0; c < hs; c++) sum[c] += (double)w[j] * v[c];
        if (w[j] < 0.01f) continue;  // the small ones are summed but not shown
        fprintf(out, "   %.4f × v(%s) = [", (double)w[j], cols[j]);
        for (int c = 0; c < hs && c < 6; c++) fprintf(out, "%s%.4f", c ? ", " : "", w[j] * v[c]);
        fprintf(out, "%s]\n", hs > 6 ? ", ..." : "");
    }
    fprintf(out, "   sum = [");
    for (int c = 0; c < hs; c++) fprintf(out, "%s%.4f", c ? ", " : "", sum[c]);
    fprintf(out, "]\n");
    const float *own = maps->contexts[kind][layer] + (size_t)i * C + head * hs;
    double worst = 0;
    for (int c = 0; c < hs; c++) worst = fmax(worst, fabs(sum[c] - own[c]));
    fprintf(out, "   (the model's own output for this head differs by at most %.1e)\n", worst);
}

void attention_explain(FILE *out, const AttentionMaps *maps, AttentionKind kind, int layer,
                       int head, int i) {
    char **rows = attention_row_labels(maps, kind), **cols = attention_col_labels(maps, kind);
    const int n_rows = attention_rows(maps, kind), n_cols = attention_cols(maps, kind);
    fprintf(out, "%s, layer %d, head %d: the query of \"%s\" (row %d)\n\n", attention_kind_name(kind),
            layer, head, rows[i], i);
    explain_scores(out, maps, kind, layer, head, i);
    explain_sum(out, maps, kind, layer, head, i);
    if (kind == ATTENTION_CROSS) {
        const float *w = maps->weights[kind][layer] + ((size_t)head * n_rows + i) * n_cols;
        int best = 0;
        for (int j = 1; j < n_cols; j++) if (w[j] > w[best]) best = j;
        fprintf(out, "\n\"%s\" looks most at \"%s\" (weight %.2f) in this head.\n", rows[i], cols[best],
                (double)w[best]);
    }
}
