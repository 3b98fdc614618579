#include "inspect/attention_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/json_tree.h"

// One layer's heads, each a (rows, cols) matrix; NULL when memory runs out.
static cJSON *layer_heads(const AttentionMaps *maps, AttentionKind kind, int layer, float *w) {
    const int rows = attention_rows(maps, kind), cols = attention_cols(maps, kind);
    cJSON *heads = cJSON_CreateArray();
    bool ok = heads != NULL;
    for (int h = 0; ok && h < maps->H; h++) {
        attention_matrix(maps, kind, layer, h, w);
        cJSON *matrix = cJSON_CreateArray();
        for (int i = 0; matrix && ok && i < rows; i++) {
            cJSON *row = cJSON_CreateArray();
            for (int j = 0; row && ok && j < cols; j++) {
                ok = json_append(row, cJSON_CreateNumber(round((double)w[(size_t)i * cols + j] * 1e4) / 1e4));
            }
            ok = json_append(matrix, row) && ok;
        }
        ok = json_append(heads, matrix) && ok;
    }
    if (ok) return heads;
    cJSON_Delete(heads);
    return NULL;
}

// {"rows": [...], "cols": [...], "layers": [[head matrices]]}; NULL when
// memory runs out.
static cJSON *kind_data(const AttentionMaps *maps, AttentionKind kind) {
    const int rows = attention_rows(maps, kind), cols = attention_cols(maps, kind);
    cJSON *entry = cJSON_CreateObject(), *layers = NULL;
    float *w = malloc(((size_t)rows * cols + 1) * sizeof *w);
    bool ok = entry && w &&
              json_attach(entry, "rows", json_string_array(attention_row_labels(maps, kind), (size_t)rows)) &&
              json_attach(entry, "cols", json_string_array(attention_col_labels(maps, kind), (size_t)cols)) &&
              (layers = cJSON_AddArrayToObject(entry, "layers")) != NULL;
    for (int l = 0; ok && l < maps->n_layers[kind]; l++) ok = json_append(layers, layer_heads(maps, kind, l, w));
    free(w);
    if (ok) return entry;
    cJSON_Delete(entry);
    return NULL;
}

// {"source", "translation", "heads", "kinds": {"encoder": ..., ...}}; NULL
// when memory runs out.
static cJSON *page_data(const AttentionMaps *maps, const char *source) {
    cJSON *root = cJSON_CreateObject(), *kinds = NULL;
    bool ok = root && cJSON_AddStringToObject(root, "source", source) &&
              cJSON_AddStringToObject(root, "translation", maps->translation) &&
              cJSON_AddNumberToObject(root, "heads", maps->H) &&
              (kinds = cJSON_AddObjectToObject(root, "kinds")) != NULL;
    for (int k = 0; ok && k < ATTENTION_KINDS; k++) {
        ok = json_attach(kinds, attention_kind_name((AttentionKind)k), kind_data(maps, (AttentionKind)k));
    }
    if (ok) return root;
    cJSON_Delete(root);
    return NULL;
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>azul attention</title>\n<style>\n"
    "body { font-family: sans-serif; margin: 24px; color: #222; }\n"
    "#controls { margin: 12px 0; }\n"
    "#controls label { margin-right: 16px; }\n"
    ".swatch { display: inline-block; padding: 2px 8px; margin: 2px; border-radius: 4px; cursor: pointer;"
    " color: white; font-size: 12px; user-select: none; }\n"
    ".swatch.off { opacity: 0.25; }\n"
    "#headview text { font-size: 14px; cursor: default; }\n"
    "#modelview { display: grid; gap: 6px; }\n"
    ".thumb { border: 1px solid #ccc; cursor: pointer; }\n"
    ".thumb:hover { border-color: #333; }\n"
    ".caption { font-size: 11px; color: #666; }\n"
    "</style>\n</head>\n<body>\n"
    "<h1>What the model attends to</h1>\n"
    "<p id=\"sentence\"></p>\n"
    "<div id=\"controls\">\n"
    "<label>Attention <select id=\"kind\">"
    "<option value=\"encoder\">encoder self-attention</option>"
    "<option value=\"decoder\">decoder self-attention (masked)</option>"
    "<option value=\"cross\" selected>encoder-decoder (cross) attention</option></select></label>\n"
    "<label>Layer <select id=\"layer\"></select></label>\n"
    "<span>Heads (click to hide or show): <span id=\"heads\"></span></span>\n"
    "</div>\n"
    "<h2>Head view</h2>\n"
    "<p class=\"caption\">Left: the queries; right: the keys they look at. Hover a token to see only its lines.</p>\n"
    "<svg id=\"headview\" width=\"520\" height=\"100\"></svg>\n"
    "<h2>Model view</h2>\n"
    "<p class=\"caption\">Every layer (rows) and head (columns); click one to open it above.</p>\n"
    "<div id=\"modelview\"></div>\n"
    "<script type=\"application/json\" id=\"attention-data\">";

static const char page_script[] =
    "</script>\n<script>\n"
    "'use strict';\n"
    "let errors = 0;\n"
    "window.addEventListener('error', () => { errors++; document.body.dataset.errors = errors; });\n"
    "const data = JSON.parse(document.getElementById('attention-data').textContent);\n"
    "const colours = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f',\n"
    "                 '#bcbd22','#17becf','#393b79','#637939','#8c6d31','#843c39','#7b4173','#3182bd'];\n"
    "const state = { kind: 'cross', layer: 0, heads: new Set(), hover: null };\n"
    "const svgNS = 'http://www.w3.org/2000/svg';\n"
    "function el(name, attrs, parent) {\n"
    "  const e = document.createElementNS(svgNS, name);\n"
    "  for (const k in attrs) e.setAttribute(k, attrs[k]);\n"
    "  if (parent) parent.appendChild(e);\n"
    "  return e;\n"
    "}\n"
    "function kindData() { return data.kinds[state.kind]; }\n"
    "function fillLayers() {\n"
    "  const select = document.getElementById('layer');\n"
    "  select.innerHTML = '';\n"
    "  kindData().layers.forEach((_, l) => {\n"
    "    const o = document.createElement('option'); o.value = l; o.textContent = l; select.appendChild(o);\n"
    "  });\n"
    "  state.layer = Math.min(state.layer, kindData().layers.length - 1);\n"
    "  select.value = state.layer;\n"
    "}\n"
    "function drawSwatches() {\n"
    "  const box = document.getElementById('heads');\n"
    "  box.innerHTML = '';\n"
    "  for (let h = 0; h < data.heads; h++) {\n"
    "    const s = document.createElement('span');\n"
    "    s.className = 'swatch' + (state.heads.has(h) ? '' : ' off');\n"
    "    s.style.background = colours[h % colours.length];\n"
    "    s.textContent = 'head ' + h;\n"
    "    s.addEventListener('click', () => {\n"
    "      if (state.heads.has(h)) state.heads.delete(h); else state.heads.add(h);\n"
    "      drawSwatches(); drawHeadView();\n"
    "    });\n"
    "    box.appendChild(s);\n"
    "  }\n"
    "}\n"
    "function drawHeadView() {\n"
    "  const d = kindData(), svg = document.getElementById('headview');\n"
    "  while (svg.firstChild) svg.removeChild(svg.firstChild);\n"
    "  const step = 24, top = 20, left = 150, right = 370;\n"
    "  svg.setAttribute('height', top + step * Math.max(d.rows.length, d.cols.length) + 10);\n"
    "  const matrices = d.layers[state.layer];\n"
    "  for (const h of state.heads) {\n"
    "    matrices[h].forEach((row, i) => row.forEach((w, j) => {\n"
    "      if (w < 0.01 || (state.hover !== null && state.hover !== i)) return;\n"
    "      el('line', { x1: left, y1: top + i * step, x2: right, y2: top + j * step,\n"
    "                   stroke: colours[h % colours.length], 'stroke-width': 3, 'stroke-opacity': w }, svg);\n"
    "    }));\n"
    "  }\n"
    "  d.rows.forEach((t, i) => {\n"
    "    const e = el('text', { x: left - 8, y: top + i * step + 5, 'text-anchor': 'end',\n"
    "                           'font-weight': state.hover === i ? 'bold' : 'normal' }, svg);\n"
    "    e.textContent = t;\n"
    "    e.addEventListener('mouseenter', () => { state.hover = i; drawHeadView(); });\n"
    "    e.addEventListener('mouseleave', () => { state.hover = null; drawHeadView(); });\n"
    "  });\n"
    "  d.cols.forEach((t, j) => { el('text', { x: right + 8, y: top + j * step + 5 }, svg).textContent = t; });\n"
    "}\n"
    "function drawModelView() {\n"
    "  const d = kindData(), box = document.getElementById('modelview');\n"
    "  box.innerHTML = '';\n"
    "  box.style.gridTemplateColumns = 'repeat(' + data.heads + ', 110px)';\n"
    "  let count = 0;\n"
    "  d.layers.forEach((heads, l) => heads.forEach((m, h) => {\n"
    "    const cell = document.createElement('div');\n"
    "    const c = document.createElement('canvas');\n"
    "    c.width = 100; c.height = 100; c.className = 'thumb';\n"
    "    c.dataset.layer = l; c.dataset.head = h;\n"
    "    const g = c.getContext('2d'), cw = 100 / d.cols.length, ch = 100 / d.rows.length;\n"
    "    m.forEach((row, i) => row.forEach((w, j) => {\n"
    "      const shade = Math.round(255 - 255 * w);\n"
    "      g.fillStyle = 'rgb(' + shade + ',' + shade + ',255)';\n"
    "      g.fillRect(j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));\n"
    "    }));\n"
    "    c.addEventListener('click', () => {\n"
    "      state.layer = l; state.heads = new Set([h]);\n"
    "      document.getElementById('layer').value = l;\n"
    "      drawSwatches(); drawHeadView(); window.scrollTo(0, 0);\n"
    "    });\n"
    "    const caption = document.createElement('div');\n"
    "    caption.className = 'caption'; caption.textContent = 'layer ' + l + ', head ' + h;\n"
    "    cell.appendChild(c); cell.appendChild(caption); box.appendChild(cell);\n"
    "    count++;\n"
    "  }));\n"
    "  document.body.dataset.thumbnails = count;\n"
    "}\n"
    "function redraw() { fillLayers(); drawSwatches(); drawHeadView(); drawModelView(); }\n"
    "document.getElementById('sentence').textContent = data.source + '  \\u2192  ' + data.translation;\n"
    "for (let h = 0; h < data.heads; h++) state.heads.add(h);\n"
    "state.layer = data.kinds.cross.layers.length - 1;\n"
    "document.getElementById('kind').addEventListener('change', e => { state.kind = e.target.value; redraw(); });\n"
    "document.getElementById('layer').addEventListener('change', e => { state.layer = +e.target.value; drawHeadView(); });\n"
    "redraw();\n"
    "document.body.dataset.ready = '1';\n"
    "</script>\n</body>\n</html>\n";

int render_attention_html(FILE *out, const AttentionMaps *maps, const char *source, Error *err) {
    cJSON *data = page_data(maps, source);
    char *json = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (!json) {
        return error_out_of_memory(err, "rendering the attention page",
                                   (size_t)maps->S * (size_t)maps->T * sizeof(float));
    }
    fputs(page_head, out);
    // Inside <script>, "</script>" in a token would end the data early: every
    // '<' is written as the JSON escape \u003c (it occurs only inside strings).
    for (const char *p = json; *p; p++) {
        if (*p == '<') fputs("\\u003c", out);
        else fputc(*p, out);
    }
    fputs(page_script, out);
    cJSON_free(json);
    return 0;
}
