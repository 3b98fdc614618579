// `azul translate`: one sentence per line in, one translation per line out;
// an interactive prompt when standard input is a terminal.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <editline/readline.h>
#include <stb/stb_ds.h>

#include "core/clock.h"
#include "cli/commands.h"
#include "cli/report.h"
#include "core/line_reader.h"
#include "cli/options.h"
#include "inspect/attention_maps.h"
#include "inspect/attention_render.h"
#include "infer/translator.h"
#include "model/cpu_kernel.h"
#include "core/utf8.h"

static const char usage[] =
    "usage: azul translate --model DIR|FILE [--beam K] [--n-best N] [--alignment] [FILE]\n"
    "\n"
    "Translates one sentence per line from FILE (or standard input) and writes one\n"
    "translation per line, in order: line N of the output belongs to line N of the\n"
    "input.  A line that cannot be translated (invalid UTF-8, too long) gets a\n"
    "warning on stderr and an empty line out; blank lines stay blank.  When not one\n"
    "line could be translated, the exit status is 1.\n"
    "On a terminal (or with --interactive) it is a prompt: type a sentence, get its\n"
    "translation; :help lists the commands.\n"
    "\n"
    "  --model DIR|FILE      a trained model (DIR/model.safetensors or the file itself)\n"
    "  --beam K              beam search with K beams (default 4; 1 is greedy decoding)\n"
    "  --length-penalty A    rank by log-probability / (length + 1)^A (default: the\n"
    "                        model's, chosen on dev when it was trained; else 1.0)\n"
    "  --n-best N            print the N best translations of each line as\n"
    "                        \"LINE ||| TRANSLATION ||| SCORE\" (LINE counts from 0)\n"
    "  --alignment           append \" ||| 0-0 1-1 ...\": source-target word pairs read\n"
    "                        from the cross-attention\n"
    "  --batch N             sentences translated together (default 32); lines that\n"
    "                        are ready are read up to 16 batches ahead and batched\n"
    "                        by length\n"
    "  --verbose             report sentences and tokens per second on stderr\n"
    "  --interactive         the prompt even when standard input is not a terminal\n";

// Batches read ahead when lines are ready: the translator sorts what it is
// given by length, so that each batch holds sentences of about one length.
enum { READ_AHEAD_BATCHES = 16 };

typedef struct {
    Translator translator;
    SearchOptions search;
    bool n_best_format;
    const char *where;
    size_t line;
    int batch;
    size_t sentences, tokens;
    size_t untranslated;  // lines warned about and answered with an empty line
} Session;

// One line out per line in, whatever bytes the model decoded to: see
// utf8_put_printable.
static void print_translation(const Session *s, size_t index, const Translation *t) {
    if (s->n_best_format) printf("%zu ||| ", index);
    utf8_put_printable(stdout, t->text ? t->text : "");
    if (s->n_best_format) printf(" ||| %.4f", t->text ? t->score : -INFINITY);
    if (s->search.alignment) printf(" ||| %s", t->alignment ? t->alignment : "");
    printf("\n");
}

// Translates a batch of lines and prints the results in order.
static void translate_lines(Session *s, char **lines, size_t n, size_t first_line) {
    const int K = s->search.n_best;
    const char **sentences = calloc(n ? n : 1, sizeof *sentences);
    size_t *which = calloc(n ? n : 1, sizeof *which), k = 0;
    if (!sentences || !which) die("out of memory: a batch of %zu lines", n);
    for (size_t i = 0; i < n; i++) {
        if (lines[i][strspn(lines[i], " \t\r")] == '\0') continue;  // blank stays blank
        which[k] = i;
        sentences[k++] = lines[i];
    }
    Translation *translated = calloc((k ? k : 1) * (size_t)K, sizeof *translated);
    char **why = calloc(k ? k : 1, sizeof *why);
    Error err;
    if (!translated || !why || translator_translate(&s->translator, &s->search, sentences, k, translated, why, &err) < 0) {
        die("%s", translated && why ? err.message : "out of memory");
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool has = j < k && which[j] == i;
        if (has && why[j]) {
            report_warning("%s:%zu: %s", s->where, first_line + i, why[j]);
            s->untranslated++;
        }
        for (int r = 0; r < (s->n_best_format ? K : 1); r++) {
            Translation empty = {0};
            const Translation *t = has && !why[j] ? &translated[j * (size_t)K + (size_t)r] : &empty;
            print_translation(s, first_line + i - 1, t);
            if (has && !why[j] && r == 0) {
                s->sentences++;
                s->tokens += (size_t)t->tokens;
            }
        }
        if (has) {
            for (int r = 0; r < K; r++) translation_free(&translated[j * (size_t)K + (size_t)r]);
            free(why[j]);
            j++;
        }
    }
    finish_standard_output();
    free(sentences);
    free(which);
    free(translated);
    free(why);
}

// Translates lines in batches of up to s->batch, reading up to
// READ_AHEAD_BATCHES of them ahead, but never waits for more input while
// lines are ready to be answered: fed one line at a time through a pipe, it
// answers each line at once.  A read error ends the command with
// status 1, after the lines read before it are translated.
static void run_stream(Session *s, int fd) {
    LineReader reader;
    Error err;
    if (line_reader_init(&reader, fd, s->where, &err) < 0) die("%s", err.message);
    char **lines = NULL;  // stb_ds
    size_t first = 1;
    char *line;
    bool too_long;
    int status;
    while ((status = line_reader_next(&reader, LINE_READER_MAX_BYTES, &line, &too_long, &err)) > 0) {
        s->line++;
        if (too_long) {
            report_warning("%s; left untranslated", err.message);
            s->untranslated++;
        }
        arrput(lines, line);
        if (arrlen(lines) == (ptrdiff_t)s->batch * READ_AHEAD_BATCHES || !line_reader_ready(&reader)) {
            translate_lines(s, lines, (size_t)arrlen(lines), first);
            for (ptrdiff_t i = 0; i < arrlen(lines); i++) free(lines[i]);
            arrsetlen(lines, 0);
            first = s->line + 1;
        }
    }
    if (arrlen(lines) > 0) translate_lines(s, lines, (size_t)arrlen(lines), first);
    for (ptrdiff_t i = 0; i < arrlen(lines); i++) free(lines[i]);
    arrfree(lines);
    line_reader_free(&reader);
    if (status < 0) die("%s", err.message);
}

// ---------------------------------------------------------------- the prompt

static const char repl_help[] =
    "Type a sentence and press Enter to translate it.  Commands:\n"
    "  :beam K    beam search with K beams (1: greedy)\n"
    "  :nbest N   show the N best translations with their scores\n"
    "  :tokens    how the last sentence and its translation were tokenized\n"
    "  :attn      the cross-attention of the last translation as a heat map\n"
    "  :help      this text\n"
    "  :quit      leave (so does Ctrl-D)\n";

static void show_tokens(Session *s, const char *sentence, const char *translation) {
    Tokenizer *sides[2] = {&s->translator.tokenizers.source, &s->translator.tokenizers.target};
    const char *texts[2] = {sentence, translation};
    const char *names[2] = {"source", "target"};
    for (int side = 0; side < 2; side++) {
        int32_t *ids = NULL;
        Error err;
        if (tokenizer_encode(sides[side], texts[side], strlen(texts[side]), &ids, &err) < 0) continue;
        printf("%s:", names[side]);
        for (ptrdiff_t i = 0; i < arrlen(ids); i++) {
            char shown[256];
            tokenizer_token_display(sides[side], ids[i], shown, sizeof shown);
            putchar(' ');
            utf8_put_printable(stdout, shown);
            printf("(%d)", ids[i]);
        }
        printf("\n");
        arrfree(ids);
    }
}

// A prompt command; returns false for :quit.
static bool run_command(Session *s, const char *text, const char *last, const char *last_translation) {
    char name[32] = "";
    int value, got = sscanf(text, ":%31s %d", name, &value);
    if (got < 1) {  // ":" alone, or followed by blanks only
        printf("a command follows ':' (:help lists them)\n");
        return true;
    }
    if (strcmp(name, "quit") == 0 || strcmp(name, "q") == 0) return false;
    if (strcmp(name, "help") == 0) {
        fputs(repl_help, stdout);
    } else if (strcmp(name, "tokens") == 0) {
        if (last) show_tokens(s, last, last_translation);
        else printf("nothing translated yet\n");
    } else if (strcmp(name, "attn") == 0) {
        if (!last) {
            printf("nothing translated yet\n");
            return true;
        }
        AttentionMaps maps;
        Error err;
        if (attention_maps_compute(&maps, &s->translator, last, last_translation, &err) < 0) {
            printf("cannot show the attention: %s\n", err.message);
            return true;
        }
        AttentionSelection sel = {1u << ATTENTION_CROSS, LAYER_LAST, HEAD_MEAN};
        if (render_attention_text(stdout, &maps, &sel, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"), &err) < 0) {
            printf("cannot show the attention: %s\n", err.message);
        }
        attention_maps_free(&maps);
    } else if (strcmp(name, "beam") == 0 || strcmp(name, "nbest") == 0) {
        bool beam = strcmp(name, "beam") == 0;
        if (got != 2 || value < 1 || value > 64) {
            printf(":%s needs a number from 1 to 64\n", name);
        } else if (beam) {
            s->search.beam = value;
            if (s->search.n_best > value) s->search.n_best = value;
            printf("beam %d\n", value);
        } else {
            s->search.n_best = value;
            if (s->search.beam < value) s->search.beam = value;
            printf("showing the %d best (beam %d)\n", value, s->search.beam);
        }
    } else {
        printf("unknown command :");
        utf8_put_printable(stdout, name);
        printf(" (:help lists them)\n");
    }
    return true;
}

// A line from the user, NULL at the end: with editing and history on a
// terminal (libedit), read plainly otherwise (`piped`), so that a piped
// session sees exactly its bytes, with the line length limit checked while
// reading: an endless line is never held whole.  A line over the limit, or
// holding a NUL byte, comes back empty with *refused set and why said in err.
static char *read_line(LineReader *piped, const char *prompt, bool *refused, Error *err) {
    *refused = false;
    if (!piped) {
        char *line = readline(prompt);
        if (line && strlen(line) > LINE_READER_MAX_BYTES) {
            *refused = true;
            line[0] = '\0';
            error_set(err, "line longer than the limit of %d bytes", LINE_READER_MAX_BYTES);
        }
        return line;
    }
    fputs(prompt, stdout);
    finish_standard_output();
    char *line;
    int status = line_reader_next(piped, LINE_READER_MAX_BYTES, &line, refused, err);
    if (status < 0) die("%s", err->message);
    return status > 0 ? line : NULL;
}

static void run_repl(Session *s) {
    printf("azul: type a sentence to translate it; :help for commands, Ctrl-D to quit\n");
    finish_standard_output();
    char *last = NULL, *last_translation = NULL;
    char *line;
    LineReader reader;
    Error why;
    bool piped = !isatty(STDIN_FILENO), refused;
    if (piped && line_reader_init(&reader, STDIN_FILENO, "<stdin>", &why) < 0) die("%s", why.message);
    while ((line = read_line(piped ? &reader : NULL, "azul> ", &refused, &why)) != NULL) {
        if (refused) {
            printf("cannot translate this: %s\n", why.message);
            free(line);
            continue;
        }
        char *text = line + strspn(line, " \t");
        text[strcspn(text, "\r\n")] = '\0';
        if (*text == '\0') { free(line); continue; }
        add_history(text);
        if (text[0] == ':') {
            bool go_on = run_command(s, text, last, last_translation);
            free(line);
            if (!go_on) break;
            finish_standard_output();
            continue;
        }
        const char *sentences[1] = {text};
        const int K = s->search.n_best;
        Translation *out = calloc((size_t)K, sizeof *out);
        char *problem = NULL;
        Error err;
        if (!out || translator_translate(&s->translator, &s->search, sentences, 1, out, &problem, &err) < 0) {
            die("%s", out ? err.message : "out of memory");
        }
        if (problem) {
            printf("cannot translate this: %s\n", problem);
        } else if (K == 1) {
            utf8_put_printable(stdout, out[0].text);
            putchar('\n');
        } else {
            for (int k = 0; k < K && out[k].text; k++) {
                printf("%d. ", k + 1);
                utf8_put_printable(stdout, out[k].text);
                printf("   (%.3f)\n", out[k].score);
            }
        }
        finish_standard_output();
        if (!problem) {
            free(last);
            free(last_translation);
            last = strdup(text);
            last_translation = strdup(out[0].text);
            if (!last || !last_translation) die("out of memory: keeping the last translation");
        }
        for (int k = 0; k < K; k++) translation_free(&out[k]);
        free(out);
        free(problem);
        free(line);
    }
    free(last);
    free(last_translation);
    if (piped) line_reader_free(&reader);
}

int translate_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"model", required_argument, 0, 'm'},  {"batch", required_argument, 0, 'b'},
        {"beam", required_argument, 0, 'k'},   {"length-penalty", required_argument, 0, 'l'},
        {"n-best", required_argument, 0, 'n'}, {"alignment", no_argument, 0, 'a'},
        {"verbose", no_argument, 0, 'v'},      {"interactive", no_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *model_path = NULL;
    Session s = {0};
    s.batch = 32;
    s.search = (SearchOptions){4, 1.0f, 1, false, 0, SEARCH_NO_DEADLINE};
    bool verbose = false, interactive = false, length_penalty_given = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'b': s.batch = (int)parse_integer_option("translate", "--batch", optarg, 1, 4096); break;
        case 'k': s.search.beam = (int)parse_integer_option("translate", "--beam", optarg, 1, 64); break;
        case 'l':
            s.search.length_penalty = (float)parse_real_option("translate", "--length-penalty", optarg, 0, 10);
            length_penalty_given = true;
            break;
        case 'n': s.search.n_best = (int)parse_integer_option("translate", "--n-best", optarg, 1, 64); s.n_best_format = true; break;
        case 'a': s.search.alignment = true; break;
        case 'v': verbose = true; break;
        case 'i': interactive = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("translate", argv, c);
        }
    }
    if (!model_path) die_usage("translate", "--model DIR|FILE is required");
    if (argc - optind > 1) die_usage("translate", "one input FILE at most (got '%s' too)", argv[optind + 1]);
    if (s.search.n_best > s.search.beam) s.search.beam = s.search.n_best;
    s.search.batch = s.batch;
    Error err;
    if (translator_load(&s.translator, model_path, &err) < 0) die("%s", err.message);
    if (!length_penalty_given) s.search.length_penalty = s.translator.length_penalty;
    double start = monotonic_seconds();
    if (optind < argc && !interactive) {
        int fd = open(argv[optind], O_RDONLY);
        if (fd < 0) die("cannot open %s: %s", argv[optind], strerror(errno));
        s.where = argv[optind];
        run_stream(&s, fd);
        close(fd);
    } else if (interactive || isatty(STDIN_FILENO)) {
        run_repl(&s);
    } else {
        s.where = "<stdin>";
        run_stream(&s, STDIN_FILENO);
    }
    // Some lines left untranslated is a warning each (their places kept);
    // none translated at all is the command failing.
    if (s.untranslated > 0 && s.sentences == 0) {
        finish_standard_output();
        die("%s: none of its %zu non-blank lines could be translated (see the warnings above)", s.where,
            s.untranslated);
    }
    if (verbose) {
        double took = monotonic_seconds() - start;
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        fprintf(stderr, "azul: translated %zu sentences (%zu target tokens) in %.2f s: %.1f sentences/s, %.0f tokens/s (beam %d, %s kernels); peak memory %.1f MiB\n",
                s.sentences, s.tokens, took, (double)s.sentences / fmax(took, 1e-9),
                (double)s.tokens / fmax(took, 1e-9), s.search.beam,
                kernel_path_name(kernel_path_current()), (double)usage.ru_maxrss / 1024.0);
    }
    translator_free(&s.translator);
    finish_standard_output();
    return 0;
}
