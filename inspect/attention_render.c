#include "inspect/attention_render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/utf8.h"

// Calls fn for every selected (kind, layer, head); head -1 means the mean.
typedef void (*MapVisitor)(void *ctx, AttentionKind kind, int layer, int head);

static void for_each_map(const AttentionMaps *maps, const AttentionSelection *sel, MapVisitor fn,
                         void *ctx) {
    for (int k = 0; k < ATTENTION_KINDS; k++) {
        if (!(sel->kinds & (1u << k))) continue;
        for (int l = 0; l < maps->n_layers[k]; l++) {
            int wanted = sel->layer == LAYER_LAST ? maps->n_layers[k] - 1 : sel->layer;
            if (wanted >= 0 && wanted != l) continue;
            if (sel->head >= 0) {
                fn(ctx, (AttentionKind)k, l, sel->head);
                continue;
            }
            if (sel->head == HEAD_ALL || sel->head == HEAD_ALL_AND_MEAN) {
                for (int h = 0; h < maps->H; h++) fn(ctx, (AttentionKind)k, l, h);
            }
            if (sel->head == HEAD_MEAN || sel->head == HEAD_ALL_AND_MEAN) fn(ctx, (AttentionKind)k, l, -1);
        }
    }
}

static const char *kind_title(AttentionKind kind) {
    return kind == ATTENTION_ENCODER ? "encoder self-attention"
           : kind == ATTENTION_DECODER ? "decoder self-attention (masked)"
                                       : "encoder-decoder (cross) attention";
}

// Display width in columns, counting code points (wide scripts aside).
static int width_of(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(FILE *out, const char *s, int width) {
    fputs(s, out);
    for (int i = width_of(s); i < width; i++) fputc(' ', out);
}

// ---------------------------------------------------------------- text

typedef struct {
    FILE *out;
    const AttentionMaps *maps;
    bool colour;
} TextContext;

// A white-to-blue ramp of the 256-colour palette.
static const int shades[] = {231, 195, 189, 153, 117, 111, 75, 69, 33, 27, 21};

// Only a broken model gives weights outside [0, 1] or NaN (finite weights so
// huge that the scores overflow): those outside take the nearest end of the
// ramp, and NaN a red of its own, so that it shows.
enum { NAN_SHADE = 196 };

static float clamped_weight(float v) { return v > 1.0f ? 1.0f : v > 0.0f ? v : 0.0f; }  // NaN: 0

static int shade_of(float v) {
    return isnan(v) ? NAN_SHADE : shades[(int)lrintf(clamped_weight(v) * 10.0f)];
}

static void text_map(void *p, AttentionKind kind, int layer, int head) {
    TextContext *c = p;
    const AttentionMaps *maps = c->maps;
    const int rows = attention_rows(maps, kind), cols = attention_cols(maps, kind);
    char **row_labels = attention_row_labels(maps, kind), **col_labels = attention_col_labels(maps, kind);
    float *w = malloc((size_t)rows * cols * sizeof *w);
    attention_matrix(maps, kind, layer, head, w);
    int row_width = 4, col_width = 5;
    for (int i = 0; i < rows; i++) if (width_of(row_labels[i]) > row_width) row_width = width_of(row_labels[i]);
    for (int j = 0; j < cols; j++) if (width_of(col_labels[j]) > col_width) col_width = width_of(col_labels[j]);
    if (col_width > 12) col_width = 12;
    fprintf(c->out, "%s, layer %d, head ", kind_title(kind), layer);
    if (head < 0) fprintf(c->out, "mean of %d\n", maps->H);
    else fprintf(c->out, "%d\n", head);
    fprintf(c->out, "%*s", row_width + 1, "");
    for (int j = 0; j < cols; j++) {
        char cut[64];
        snprintf(cut, sizeof cut, "%s", col_labels[j]);
        // keep at most col_width code points
        int n = 0;
        for (char *s = cut; *s; s++) if ((((unsigned char)*s & 0xC0) != 0x80) && ++n > col_width) { *s = '\0'; break; }
        fputc(' ', c->out);
        pad(c->out, cut, col_width);
    }
    fputc('\n', c->out);
    for (int i = 0; i < rows; i++) {
        pad(c->out, row_labels[i], row_width);
        fputc(' ', c->out);
        for (int j = 0; j < cols; j++) {
            fputc(' ', c->out);
            if (kind == ATTENTION_DECODER && j > i) {  // the future: masked, nothing to show
                fprintf(c->out, "%*s", col_width, "");
                continue;
            }
            float v = w[(size_t)i * cols + j];
            if (c->colour) {
                fprintf(c->out, "\033[48;5;%dm\033[38;5;%dm", shade_of(v), isnan(v) || v > 0.5f ? 231 : 16);
            }
            fprintf(c->out, "%*.2f", col_width, (double)v);
            if (c->colour) fputs("\033[0m", c->out);
        }
        fputc('\n', c->out);
    }
    fputc('\n', c->out);
    free(w);
}

void render_attention_text(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                           bool colour) {
    TextContext c = {out, maps, colour};
    for_each_map(maps, sel, text_map, &c);
}

// ---------------------------------------------------------------- CSV

static void csv_field(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

typedef struct {
    FILE *out;
    const AttentionMaps *maps;
} CsvContext;

static void csv_map(void *p, AttentionKind kind, int layer, int head) {
    CsvContext *c = p;
    const int rows = attention_rows(c->maps, kind), cols = attention_cols(c->maps, kind);
    char **row_labels = attention_row_labels(c->maps, kind), **col_labels = attention_col_labels(c->maps, kind);
    float *w = malloc((size_t)rows * cols * sizeof *w);
    attention_matrix(c->maps, kind, layer, head, w);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            fprintf(c->out, "%s,%d,", attention_kind_name(kind), layer);
            if (head < 0) fputs("mean", c->out);
            else fprintf(c->out, "%d", head);
            fprintf(c->out, ",%d,", i);
            csv_field(c->out, row_labels[i]);
            fprintf(c->out, ",%d,", j);
            csv_field(c->out, col_labels[j]);
            fprintf(c->out, ",%.6f\n", (double)w[(size_t)i * cols + j]);
        }
    }
    free(w);
}

void render_attention_csv(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel) {
    fputs("kind,layer,head,row,row_token,col,col_token,weight\n", out);
    CsvContext c = {out, maps};
    for_each_map(maps, sel, csv_map, &c);
}

// ---------------------------------------------------------------- JSON

typedef struct {
    cJSON *list;
    const AttentionMaps *maps;
} JsonContext;

static cJSON *string_array(char **items, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    return a;
}

static void json_map(void *p, AttentionKind kind, int layer, int head) {
    JsonContext *c = p;
    const int rows = attention_rows(c->maps, kind), cols = attention_cols(c->maps, kind);
    float *w = malloc((size_t)rows * cols * sizeof *w);
    attention_matrix(c->maps, kind, layer, head, w);
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "kind", attention_kind_name(kind));
    cJSON_AddNumberToObject(entry, "layer", layer);
    if (head < 0) cJSON_AddStringToObject(entry, "head", "mean");
    else cJSON_AddNumberToObject(entry, "head", head);
    cJSON_AddItemToObject(entry, "rows", string_array(attention_row_labels(c->maps, kind), rows));
    cJSON_AddItemToObject(entry, "cols", string_array(attention_col_labels(c->maps, kind), cols));
    cJSON *weights = cJSON_AddArrayToObject(entry, "weights");
    for (int i = 0; i < rows; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < cols; j++) {
            // six decimals keep the file readable and each row's sum within 1e-5 of 1
            cJSON_AddItemToArray(row, cJSON_CreateNumber(round((double)w[(size_t)i * cols + j] * 1e6) / 1e6));
        }
        cJSON_AddItemToArray(weights, row);
    }
    cJSON_AddItemToArray(c->list, entry);
    free(w);
}

void render_attention_json(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                           const char *source) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "source", source);
    cJSON_AddStringToObject(root, "translation", maps->translation);
    cJSON_AddItemToObject(root, "source_tokens", string_array(maps->source_tokens, maps->S));
    cJSON_AddItemToObject(root, "target_tokens", string_array(maps->target_outputs, maps->T));
    cJSON_AddItemToObject(root, "target_input_tokens", string_array(maps->target_inputs, maps->T));
    JsonContext c = {cJSON_AddArrayToObject(root, "attention"), maps};
    for_each_map(maps, sel, json_map, &c);
    char *text = cJSON_PrintUnformatted(root);
    fputs(text, out);
    fputc('\n', out);
    cJSON_free(text);
    cJSON_Delete(root);
}

// ---------------------------------------------------------------- SVG

static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

enum { CELL = 26, LABEL = 90, GAP = 40 };

typedef struct {
    FILE *out;
    const AttentionMaps *maps;
    int y;  // where the next map starts
} SvgContext;

static void svg_map(void *p, AttentionKind kind, int layer, int head) {
    SvgContext *c = p;
    const int rows = attention_rows(c->maps, kind), cols = attention_cols(c->maps, kind);
    char **row_labels = attention_row_labels(c->maps, kind), **col_labels = attention_col_labels(c->maps, kind);
    float *w = malloc((size_t)rows * cols * sizeof *w);
    attention_matrix(c->maps, kind, layer, head, w);
    FILE *o = c->out;
    int top = c->y + 24 + LABEL;
    fprintf(o, "<g>\n<text x=\"10\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">", c->y + 18);
    xml_text(o, kind_title(kind));
    fprintf(o, ", layer %d, head ", layer);
    if (head < 0) fprintf(o, "mean of %d", c->maps->H);
    else fprintf(o, "%d", head);
    fprintf(o, "</text>\n");
    for (int j = 0; j < cols; j++) {  // column labels, turned
        int x = LABEL + j * CELL + CELL / 2;
        fprintf(o, "<text x=\"%d\" y=\"%d\" transform=\"rotate(-60 %d %d)\" font-size=\"11\">", x, top - 6, x, top - 6);
        xml_text(o, col_labels[j]);
        fprintf(o, "</text>\n");
    }
    for (int i = 0; i < rows; i++) {
        int y = top + i * CELL;
        fprintf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">", LABEL - 6, y + CELL / 2 + 4);
        xml_text(o, row_labels[i]);
        fprintf(o, "</text>\n");
        for (int j = 0; j < cols; j++) {
            float v = w[(size_t)i * cols + j];
            int shade = 255 - (int)lrintf(clamped_weight(v) * 255.0f);  // NaN: red, as in the text map
            fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" stroke=\"#eee\">"
                       "<title>%.4f</title></rect>\n",
                    LABEL + j * CELL, y, CELL, CELL, isnan(v) ? 255 : shade, isnan(v) ? 0 : shade,
                    isnan(v) ? 0 : 255, (double)v);
        }
    }
    fprintf(o, "</g>\n");
    c->y = top + rows * CELL + GAP;
    free(w);
}

typedef struct {
    int height, width;
    const AttentionMaps *maps;
} SvgSize;

static void measure(void *p, AttentionKind kind, int layer, int head) {
    (void)layer; (void)head;
    SvgSize *s = p;
    s->height += 24 + LABEL + attention_rows(s->maps, kind) * CELL + GAP;
    int w = LABEL + attention_cols(s->maps, kind) * CELL + 40;
    if (w > s->width) s->width = w;
}

void render_attention_svg(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel) {
    SvgSize size = {70, 300, maps};
    for_each_map(maps, sel, measure, &size);
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            size.width, size.height);
    // the colour scale
    fprintf(out, "<text x=\"10\" y=\"20\" font-size=\"12\">weight</text>\n");
    for (int i = 0; i <= 10; i++) {
        int shade = 255 - (int)lrintf(i * 25.5f);
        fprintf(out, "<rect x=\"%d\" y=\"28\" width=\"20\" height=\"12\" fill=\"rgb(%d,%d,255)\" stroke=\"#ccc\"/>\n"
                     "<text x=\"%d\" y=\"54\" font-size=\"9\">%.1f</text>\n",
                60 + i * 20, shade, shade, 62 + i * 20, i / 10.0);
    }
    SvgContext c = {out, maps, 70};
    for_each_map(maps, sel, svg_map, &c);
    fprintf(out, "</svg>\n");
}
