#include "inspect/attention_render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/json_tree.h"
#include "core/utf8.h"

// Calls fn for every selected (kind, layer, head); head -1 means the mean.
// fn returns -1 when memory runs out, which stops the walk.
typedef int (*MapVisitor)(void *ctx, AttentionKind kind, int layer, int head);

static int for_each_map(const AttentionMaps *maps, const AttentionSelection *sel, MapVisitor fn,
                        void *ctx) {
    for (int k = 0; k < ATTENTION_KINDS; k++) {
        if (!(sel->kinds & (1u << k))) continue;
        for (int l = 0; l < maps->n_layers[k]; l++) {
            int wanted = sel->layer == LAYER_LAST ? maps->n_layers[k] - 1 : sel->layer;
            if (wanted >= 0 && wanted != l) continue;
            if (sel->head >= 0) {
                if (fn(ctx, (AttentionKind)k, l, sel->head) < 0) return -1;
                continue;
            }
            if (sel->head == HEAD_ALL || sel->head == HEAD_ALL_AND_MEAN) {
                for (int h = 0; h < maps->H; h++) {
                    if (fn(ctx, (AttentionKind)k, l, h) < 0) return -1;
                }
            }
            if (sel->head == HEAD_MEAN || sel->head == HEAD_ALL_AND_MEAN) {
                if (fn(ctx, (AttentionKind)k, l, -1) < 0) return -1;
            }
        }
    }
    return 0;
}

// One map's weights, (rows, cols), malloc'd; NULL when memory runs out.
static float *map_weights(const AttentionMaps *maps, AttentionKind kind, int layer, int head) {
    const size_t n = (size_t)attention_rows(maps, kind) * attention_cols(maps, kind);
    float *w = malloc((n ? n : 1) * sizeof *w);
    if (w) attention_matrix(maps, kind, layer, head, w);
    return w;
}

static int out_of_memory(const AttentionMaps *maps, Error *err) {
    return error_out_of_memory(err, "rendering the attention maps",
                               (size_t)maps->S * (size_t)maps->T * sizeof(float));
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

static int text_map(void *p, AttentionKind kind, int layer, int head) {
    TextContext *c = p;
    const AttentionMaps *maps = c->maps;
    const int rows = attention_rows(maps, kind), cols = attention_cols(maps, kind);
    char **row_labels = attention_row_labels(maps, kind), **col_labels = attention_col_labels(maps, kind);
    float *w = map_weights(maps, kind, layer, head);
    if (!w) return -1;
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
    return 0;
}

int render_attention_text(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                          bool colour, Error *err) {
    TextContext c = {out, maps, colour};
    return for_each_map(maps, sel, text_map, &c) < 0 ? out_of_memory(maps, err) : 0;
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

static int csv_map(void *p, AttentionKind kind, int layer, int head) {
    CsvContext *c = p;
    const int rows = attention_rows(c->maps, kind), cols = attention_cols(c->maps, kind);
    char **row_labels = attention_row_labels(c->maps, kind), **col_labels = attention_col_labels(c->maps, kind);
    float *w = map_weights(c->maps, kind, layer, head);
    if (!w) return -1;
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
    return 0;
}

int render_attention_csv(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                         Error *err) {
    fputs("kind,layer,head,row,row_token,col,col_token,weight\n", out);
    CsvContext c = {out, maps};
    return for_each_map(maps, sel, csv_map, &c) < 0 ? out_of_memory(maps, err) : 0;
}

// ---------------------------------------------------------------- JSON

typedef struct {
    cJSON *list;
    const AttentionMaps *maps;
} JsonContext;

// One map as {"kind", "layer", "head", "rows", "cols", "weights"}; NULL when
// memory runs out.
static cJSON *json_entry(const AttentionMaps *maps, AttentionKind kind, int layer, int head,
                         const float *w) {
    const int rows = attention_rows(maps, kind), cols = attention_cols(maps, kind);
    cJSON *entry = cJSON_CreateObject(), *weights = NULL;
    bool ok = entry && cJSON_AddStringToObject(entry, "kind", attention_kind_name(kind)) &&
              cJSON_AddNumberToObject(entry, "layer", layer) &&
              (head < 0 ? cJSON_AddStringToObject(entry, "head", "mean") != NULL
                        : cJSON_AddNumberToObject(entry, "head", head) != NULL) &&
              json_attach(entry, "rows", json_string_array(attention_row_labels(maps, kind), (size_t)rows)) &&
              json_attach(entry, "cols", json_string_array(attention_col_labels(maps, kind), (size_t)cols)) &&
              (weights = cJSON_AddArrayToObject(entry, "weights")) != NULL;
    for (int i = 0; ok && i < rows; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; row && j < cols && ok; j++) {
            // six decimals keep the file readable and each row's sum within 1e-5 of 1
            ok = json_append(row, cJSON_CreateNumber(round((double)w[(size_t)i * cols + j] * 1e6) / 1e6));
        }
        ok = json_append(weights, row) && ok;
    }
    if (ok) return entry;
    cJSON_Delete(entry);
    return NULL;
}

static int json_map(void *p, AttentionKind kind, int layer, int head) {
    JsonContext *c = p;
    float *w = map_weights(c->maps, kind, layer, head);
    bool ok = w && json_append(c->list, json_entry(c->maps, kind, layer, head, w));
    free(w);
    return ok ? 0 : -1;
}

cJSON *attention_json(const AttentionMaps *maps, const AttentionSelection *sel, const char *source) {
    cJSON *root = cJSON_CreateObject();
    JsonContext c = {NULL, maps};
    bool ok = root && cJSON_AddStringToObject(root, "source", source) &&
              cJSON_AddStringToObject(root, "translation", maps->translation) &&
              json_attach(root, "source_tokens", json_string_array(maps->source_tokens, (size_t)maps->S)) &&
              json_attach(root, "target_tokens", json_string_array(maps->target_outputs, (size_t)maps->T)) &&
              json_attach(root, "target_input_tokens", json_string_array(maps->target_inputs, (size_t)maps->T)) &&
              cJSON_AddNumberToObject(root, "heads", maps->H) &&
              (c.list = cJSON_AddArrayToObject(root, "attention")) != NULL &&
              for_each_map(maps, sel, json_map, &c) == 0;
    if (ok) return root;
    cJSON_Delete(root);
    return NULL;
}

int render_attention_json(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                          const char *source, Error *err) {
    cJSON *root = attention_json(maps, sel, source);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return out_of_memory(maps, err);
    fputs(text, out);
    fputc('\n', out);
    cJSON_free(text);
    return 0;
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

static int svg_map(void *p, AttentionKind kind, int layer, int head) {
    SvgContext *c = p;
    const int rows = attention_rows(c->maps, kind), cols = attention_cols(c->maps, kind);
    char **row_labels = attention_row_labels(c->maps, kind), **col_labels = attention_col_labels(c->maps, kind);
    float *w = map_weights(c->maps, kind, layer, head);
    if (!w) return -1;
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
    return 0;
}

typedef struct {
    int height, width;
    const AttentionMaps *maps;
} SvgSize;

static int measure(void *p, AttentionKind kind, int layer, int head) {
    (void)layer; (void)head;
    SvgSize *s = p;
    s->height += 24 + LABEL + attention_rows(s->maps, kind) * CELL + GAP;
    int w = LABEL + attention_cols(s->maps, kind) * CELL + 40;
    if (w > s->width) s->width = w;
    return 0;
}

int render_attention_svg(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel,
                         Error *err) {
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
    if (for_each_map(maps, sel, svg_map, &c) < 0) return out_of_memory(maps, err);
    fprintf(out, "</svg>\n");
    return 0;
}
