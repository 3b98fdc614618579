// The drawing of a translation's attention in a browser, shared by the page
// of `azul attention --format html` and the playground of `azul serve`: the
// text of inspect/attention_view.js and inspect/attention_view.css, built
// into the program by tools/embed.sh.
#ifndef AZUL_ATTENTION_VIEW_H
#define AZUL_ATTENTION_VIEW_H

extern const char attention_view_js[];
extern const char attention_view_css[];

#endif
