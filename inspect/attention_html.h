// One self-contained HTML page (no network) to explore a translation's
// attention in a browser, in the spirit of bertviz:
//   head view   the query tokens and the key tokens in two columns, joined by
//               lines as strong as the attention, one colour per head; hover a
//               token to see only its lines, click a head to hide or show it;
//   model view  every layer × head as a small heat map; click one to open it
//               in the head view;
// with a selector for encoder, decoder and cross attention.
#ifndef AZUL_ATTENTION_HTML_H
#define AZUL_ATTENTION_HTML_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "inspect/attention_maps.h"

// Writes the page to out; 0, or -1 with err set when memory runs out (out
// then holds nothing of it).
int render_attention_html(FILE *out, const AttentionMaps *maps, const char *source, Error *err);

// The page of `azul attention --format html --history DIR`: the same views
// with a training-step slider over an attention history
// (inspect/attention_history.h), the dev loss and BLEU of each step beside it.
int render_attention_history_html(FILE *out, const cJSON *history, Error *err);

#endif
