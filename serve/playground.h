// The playground page of `azul serve`: serve/playground.html, .js and .css,
// built into the program by tools/embed.sh, with the attention views it
// shares with `azul attention --format html` (inspect/attention_view.h).
#ifndef AZUL_PLAYGROUND_H
#define AZUL_PLAYGROUND_H

#include "inspect/attention_view.h"

extern const char playground_html[];
extern const char playground_js[];
extern const char playground_css[];

#endif
