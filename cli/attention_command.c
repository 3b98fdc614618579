// `azul attention`: see what the model attended to while translating a
// sentence — as a heat map in the terminal, as CSV, JSON or SVG — and walk
// through one query's attention with real numbers (--explain).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "cli/report.h"
#include "cli/options.h"
#include "core/utf8.h"
#include "infer/alignment.h"
#include "inspect/attention_html.h"
#include "inspect/attention_maps.h"
#include "inspect/attention_explain.h"
#include "inspect/attention_history.h"
#include "inspect/attention_render.h"

static const char usage[] =
    "usage: azul attention --model DIR|FILE [--target TEXT] [--kind encoder|decoder|cross|all]\n"
    "                      [--layer L|all] [--head H|mean|all] [--format text|csv|json|svg|html]\n"
    "                      [-o FILE] [--explain TOKEN] [--align] TEXT\n"
    "       azul attention --format html --history DIR [-o FILE]\n"
    "\n"
    "Shows the attention weights of the model translating TEXT (greedily), or with\n"
    "--target, of it reading the given translation (teacher forcing).  Rows are the\n"
    "queries, columns the keys; every row sums to 1.\n"
    "  encoder   source tokens attending to source tokens\n"
    "  decoder   target tokens attending to earlier target tokens (the masked future\n"
    "            is left empty)\n"
    "  cross     each produced target token attending to the source tokens\n"
    "\n"
    "  --kind K          which attention (default: cross for text, all otherwise)\n"
    "  --layer L|all     0-based (default: the last for text, all otherwise)\n"
    "  --head H|mean|all 0-based head, their mean, or every head (default: mean for\n"
    "                    text, all heads and their mean otherwise)\n"
    "  --format F        text (a heat map; colour on a terminal unless NO_COLOR is set),\n"
    "                    csv, json, svg, or html (one self-contained page to explore\n"
    "                    every layer and head in a browser)\n"
    "  -o FILE           write there instead of standard output\n"
    "  --explain TOKEN   for one query token (its text, or #N for position N) in one\n"
    "                    layer and head: its query vector, its dot product with every\n"
    "                    key, the scaling, the softmax, each value row times its\n"
    "                    weight, and the sum\n"
    "  --align           word alignments from cross-attention: Pharaoh pairs and a\n"
    "                    side-by-side line\n"
    "  --history DIR     the page for a run's attention history (azul train --watch):\n"
    "                    drag a slider through training to see the attention of the\n"
    "                    watched sentences form, with the dev loss and BLEU of each step\n";

// The page of a run's attention history, to standard output or (-o) a file.
static int render_history(const char *dir, const char *format, const char *output) {
    if (strcmp(format, "html") != 0) die_usage("attention", "--history needs --format html");
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, ATTENTION_HISTORY_FILE) >= (int)sizeof path) {
        die("--history %s: the path is too long", dir);
    }
    Error err;
    cJSON *history = attention_history_load(path, &err);
    if (!history) die("%s%s", err.message, access(path, F_OK) == 0 ? "" : " (train with --watch to make one)");
    FILE *out = stdout;
    AtomicOutput file;
    if (output && !(out = atomic_output_open(&file, output, &err))) die("%s", err.message);
    if (render_attention_history_html(out, history, &err) < 0) die("%s", err.message);
    if (output && atomic_output_commit(&file, &err) < 0) die("%s", err.message);
    cJSON_Delete(history);
    return 0;
}

static int parse_kind(const char *text, unsigned *kinds) {
    if (strcmp(text, "all") == 0) *kinds = 7;
    else if (strcmp(text, "encoder") == 0) *kinds = 1u << ATTENTION_ENCODER;
    else if (strcmp(text, "decoder") == 0) *kinds = 1u << ATTENTION_DECODER;
    else if (strcmp(text, "cross") == 0) *kinds = 1u << ATTENTION_CROSS;
    else return -1;
    return 0;
}

// The source as typed and the translation as decoded, each on one line with no
// control character (maps hold text already made printable).
static void print_source_and_translation(const char *source, const AttentionMaps *maps) {
    printf("source:      ");
    utf8_put_printable(stdout, source);
    printf("\ntranslation: %s\n\n", maps->translation);
}

static void print_alignment(Translator *t, const char *source, const AttentionMaps *maps) {
    // the mean over heads of the last layer's cross-attention, as translate --alignment,
    // over the tokens the attention has rows for: the translation's text may
    // tokenize into others
    Hypothesis h = {maps->target_ids, maps->T - 1, 0, 0, malloc((size_t)maps->T * maps->S * sizeof(float)), maps->S};
    if (!h.attention) die("out of memory: the alignment needs %zu bytes", (size_t)maps->T * maps->S * sizeof(float));
    attention_matrix(maps, ATTENTION_CROSS, maps->n_layers[ATTENTION_CROSS] - 1, -1, h.attention);
    int *source_word;
    Error err;
    int n = align_words(&t->tokenizers.source, maps->source_ids, maps->S - 1, &t->tokenizers.target, &h,
                        &source_word, &err);
    if (n < 0) die("%s", err.message);
    char *pairs = alignment_pharaoh(source_word, n);
    // the words side by side: source word → target word
    char *s_copy = strdup(source), *t_copy = strdup(maps->translation);
    if (!pairs || !s_copy || !t_copy) die("out of memory: printing the alignment");
    printf("%s\n", pairs);
    char **s_words = NULL, **t_words = NULL;
    for (char *w = strtok(s_copy, " "); w; w = strtok(NULL, " ")) arrput(s_words, w);
    for (char *w = strtok(t_copy, " "); w; w = strtok(NULL, " ")) arrput(t_words, w);
    for (int i = 0; i < n && i < arrlen(t_words); i++) {
        printf("%s", i ? " " : "");
        utf8_put_printable(stdout, source_word[i] < arrlen(s_words) ? s_words[source_word[i]] : "?");
        printf("→");
        utf8_put_printable(stdout, t_words[i]);
    }
    printf("\n");
    arrfree(s_words);
    arrfree(t_words);
    free(s_copy);
    free(t_copy);
    free(pairs);
    free(source_word);
    free(h.attention);
}

// The maps in the chosen format, to standard output or (-o) a file.
static void render_maps(const AttentionMaps *maps, const AttentionSelection *sel, const char *format,
                        const char *output, const char *source) {
    bool text = strcmp(format, "text") == 0;
    FILE *out = stdout;
    AtomicOutput file;
    Error err;
    if (output && !(out = atomic_output_open(&file, output, &err))) die("%s", err.message);
    bool colour = text && !output && isatty(fileno(stdout)) && !getenv("NO_COLOR");
    int status;
    if (text) {
        print_source_and_translation(source, maps);
        status = render_attention_text(out, maps, sel, colour, &err);
    } else if (strcmp(format, "csv") == 0) {
        status = render_attention_csv(out, maps, sel, &err);
    } else if (strcmp(format, "json") == 0) {
        status = render_attention_json(out, maps, sel, source, &err);
    } else if (strcmp(format, "svg") == 0) {
        status = render_attention_svg(out, maps, sel, &err);
    } else {
        status = render_attention_html(out, maps, source, &err);  // every kind, layer and head
    }
    if (status < 0) die("%s", err.message);  // an unfinished -o FILE is never committed
    if (output && atomic_output_commit(&file, &err) < 0) die("%s", err.message);
}

int attention_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"model", required_argument, 0, 'm'},  {"target", required_argument, 0, 't'},
        {"kind", required_argument, 0, 'k'},   {"layer", required_argument, 0, 'l'},
        {"head", required_argument, 0, 'H'},   {"format", required_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'}, {"explain", required_argument, 0, 'e'},
        {"align", no_argument, 0, 'a'},        {"help", no_argument, 0, 'h'},
        {"history", required_argument, 0, 'y'}, {0, 0, 0, 0},
    };
    const char *model_path = NULL, *target = NULL, *format = "text", *output = NULL, *explain_token = NULL;
    const char *kind_text = NULL, *layer_text = NULL, *head_text = NULL, *history = NULL;
    bool align = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': target = optarg; break;
        case 'k': kind_text = optarg; break;
        case 'l': layer_text = optarg; break;
        case 'H': head_text = optarg; break;
        case 'f': format = optarg; break;
        case 'o': output = optarg; break;
        case 'e': explain_token = optarg; break;
        case 'a': align = true; break;
        case 'y': history = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("attention", argv, c);
        }
    }
    if (history) return render_history(history, format, output);
    if (!model_path) die_usage("attention", "--model DIR|FILE is required");
    if (optind != argc - 1) die_usage("attention", "give exactly one TEXT to translate (in quotes)");
    const char *source = argv[optind];
    bool text = strcmp(format, "text") == 0;
    if (!text && strcmp(format, "csv") && strcmp(format, "json") && strcmp(format, "svg") &&
        strcmp(format, "html")) {
        die_usage("attention", "--format must be text, csv, json, svg or html, got '%s'", format);
    }
    AttentionSelection sel = {text ? 1u << ATTENTION_CROSS : 7u, text ? LAYER_LAST : LAYER_ALL,
                              text ? HEAD_MEAN : HEAD_ALL_AND_MEAN};
    if (kind_text && parse_kind(kind_text, &sel.kinds) < 0) {
        die_usage("attention", "--kind must be encoder, decoder, cross or all, got '%s'", kind_text);
    }
    if (head_text) {
        if (strcmp(head_text, "mean") == 0) sel.head = HEAD_MEAN;
        else if (strcmp(head_text, "all") == 0) sel.head = HEAD_ALL;
        else sel.head = (int)parse_integer_option("attention", "--head", head_text, 0, 1023);
    }
    if (layer_text && strcmp(layer_text, "all") == 0) sel.layer = LAYER_ALL;
    else if (layer_text) sel.layer = (int)parse_integer_option("attention", "--layer", layer_text, 0, 255);

    Translator t;
    Error err;
    if (translator_load(&t, model_path, &err) < 0) die("%s", err.message);
    const ModelConfig *cfg = &t.model.config;
    if (sel.head >= cfg->n_heads) die_usage("attention", "--head %d: the model has %d heads (0 to %d)", sel.head, cfg->n_heads, cfg->n_heads - 1);
    int most_layers = cfg->n_encoder_layers > cfg->n_decoder_layers ? cfg->n_encoder_layers : cfg->n_decoder_layers;
    if (sel.layer >= most_layers) die_usage("attention", "--layer %d: the model has %d layers (0 to %d)", sel.layer, most_layers, most_layers - 1);

    AttentionMaps maps;
    if (attention_maps_compute(&maps, &t, source, target, &err) < 0) die("%s", err.message);

    if (explain_token || align) {
        print_source_and_translation(source, &maps);
        if (align) print_alignment(&t, source, &maps);
        if (explain_token) {
            unsigned k = kind_text ? sel.kinds : 1u << ATTENTION_CROSS;
            if (k == 7) die_usage("attention", "--explain needs one --kind");
            AttentionKind kind = k == 1 ? ATTENTION_ENCODER : k == 2 ? ATTENTION_DECODER : ATTENTION_CROSS;
            int layer = sel.layer >= 0 ? sel.layer : maps.n_layers[kind] - 1;  // default: the last
            if (layer >= maps.n_layers[kind]) die_usage("attention", "--layer %d: %s attention has %d layers", layer, attention_kind_name(kind), maps.n_layers[kind]);
            int query = attention_find_query(&maps, kind, explain_token);
            if (query < 0) {
                die("--explain: no query token '%s' (the queries are: %s ...; or use #N)", explain_token,
                    attention_row_labels(&maps, kind)[0]);
            }
            Explanation e;
            if (attention_explain_compute(&e, &maps, kind, layer, sel.head >= 0 ? sel.head : 0, query, &err) < 0) {
                die("%s", err.message);
            }
            explanation_print(stdout, &e);
            explanation_free(&e);
        }
    } else {
        render_maps(&maps, &sel, format, output, source);
    }
    attention_maps_free(&maps);
    translator_free(&t);
    finish_standard_output();
    return 0;
}
