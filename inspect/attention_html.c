#include "inspect/attention_html.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "inspect/attention_render.h"
#include "inspect/attention_view.h"

// Both pages: the head with the views' styles, then the body counting
// script errors where a test can read them (body data-errors).
static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>azul attention</title>\n<style>\n"
    "body { font-family: sans-serif; margin: 24px; color: #222; }\n";
static const char body_start[] =
    "</style>\n</head>\n<body>\n"
    "<script>\n"
    "window.addEventListener('error', () => {\n"
    "  document.body.dataset.errors = +(document.body.dataset.errors || 0) + 1;\n"
    "});\n"
    "</script>\n";

static const char page_body[] =
    "<h1>What the model attends to</h1>\n"
    "<p id=\"sentence\"></p>\n"
    "<div id=\"view\"></div>\n"
    "<script type=\"application/json\" id=\"attention-data\">";

static const char page_start[] =
    "</script>\n<script>\n"
    "const data = JSON.parse(document.getElementById('attention-data').textContent);\n"
    "document.getElementById('sentence').textContent = data.source + '  \\u2192  ' + data.translation;\n"
    "attentionView(document.getElementById('view')).show(data);\n"
    "document.body.dataset.ready = '1';\n"
    "</script>\n</body>\n</html>\n";

// Writes JSON inside <script>: "</script>" in a token would end it early, so
// every '<' is written as the escape \u003c (it occurs only inside strings).
// The view's code goes in as it is: it has no "</" (a test checks).
static void put_json(FILE *out, const char *text) {
    for (const char *p = text; *p; p++) {
        if (*p == '<') fputs("\\u003c", out);
        else fputc(*p, out);
    }
}

static const char history_body[] =
    "<h1>How the attention was learned</h1>\n"
    "<p>Drag the slider through training: at every validation the run translated the watched "
    "sentence and kept every attention map of it.</p>\n"
    "<div id=\"history\"></div>\n"
    "<div id=\"view\"></div>\n"
    "<script type=\"application/json\" id=\"history-data\">";

static const char history_start[] =
    "</script>\n<script>\n"
    "const history = JSON.parse(document.getElementById('history-data').textContent);\n"
    "const view = attentionView(document.getElementById('view'));\n"
    "historySlider(document.getElementById('history'), history, maps => view.show(maps));\n"
    "document.body.dataset.ready = '1';\n"
    "</script>\n</body>\n</html>\n";

int render_attention_history_html(FILE *out, const cJSON *history, Error *err) {
    char *json = cJSON_PrintUnformatted(history);
    if (!json) return error_out_of_memory(err, "rendering the attention history", 1 << 20);
    fputs(page_head, out);
    fputs(attention_view_css, out);
    fputs(body_start, out);
    fputs(history_body, out);
    put_json(out, json);
    fputs("</script>\n<script>\n", out);
    fputs(attention_view_js, out);
    fputs(history_start, out);
    cJSON_free(json);
    return 0;
}

int render_attention_html(FILE *out, const AttentionMaps *maps, const char *source, Error *err) {
    const AttentionSelection every = {7u, LAYER_ALL, HEAD_ALL};
    cJSON *data = attention_json(maps, &every, source);
    char *json = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (!json) {
        return error_out_of_memory(err, "rendering the attention page",
                                   (size_t)maps->S * (size_t)maps->T * sizeof(float));
    }
    fputs(page_head, out);
    fputs(attention_view_css, out);
    fputs(body_start, out);
    fputs(page_body, out);
    put_json(out, json);
    fputs("</script>\n<script>\n", out);
    fputs(attention_view_js, out);
    fputs(page_start, out);
    cJSON_free(json);
    return 0;
}
