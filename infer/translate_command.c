// `azul translate`: one sentence per line in, one translation per line out;
// an interactive prompt when standard input is a terminal.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <stb/stb_ds.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "infer/translator.h"

static const char usage[] =
    "usage: azul translate --model DIR|FILE [FILE]\n"
    "\n"
    "Translates one sentence per line from FILE (or standard input) and writes one\n"
    "translation per line, in order: line N of the output belongs to line N of the\n"
    "input.  A line that cannot be translated (invalid UTF-8, too long) gets a\n"
    "warning on stderr and an empty line out; blank lines stay blank.\n"
    "On a terminal it is interactive: type a sentence, get its translation.\n"
    "\n"
    "  --model DIR|FILE   a trained model (DIR/model.safetensors or the file itself)\n"
    "  --batch N          sentences translated together (default 64)\n"
    "  --verbose          report sentences and tokens per second on stderr\n";

enum { MAX_LINE_BYTES = 1 << 20 };

typedef struct {
    Translator translator;
    const char *where;
    size_t line;
    int batch;
} Session;

// Translates a batch of lines and prints the results in order.
static void translate_lines(Session *s, char **lines, size_t n, size_t first_line) {
    const char **sentences = calloc(n ? n : 1, sizeof *sentences);
    char **out = calloc(n ? n : 1, sizeof *out), **problems = calloc(n ? n : 1, sizeof *problems);
    size_t *which = malloc((n ? n : 1) * sizeof *which), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][strspn(lines[i], " \t\r")] == '\0') continue;  // blank stays blank
        which[k] = i;
        sentences[k++] = lines[i];
    }
    char **translated = calloc(k ? k : 1, sizeof *translated), **why = calloc(k ? k : 1, sizeof *why);
    translator_translate(&s->translator, sentences, k, translated, why);
    for (size_t j = 0; j < k; j++) {
        out[which[j]] = translated[j];
        problems[which[j]] = why[j];
    }
    for (size_t i = 0; i < n; i++) {
        if (problems[i]) report_warning("%s:%zu: %s", s->where, first_line + i, problems[i]);
        printf("%s\n", out[i] ? out[i] : "");
        free(out[i]);
        free(problems[i]);
    }
    fflush(stdout);
    free(sentences);
    free(out);
    free(problems);
    free(which);
    free(translated);
    free(why);
}

static void run_stream(Session *s, FILE *in) {
    char **lines = NULL;  // stb_ds
    char *line = NULL;
    size_t capacity = 0, first = 1;
    ssize_t length;
    while ((length = getline(&line, &capacity, in)) >= 0) {
        s->line++;
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) line[--length] = '\0';
        if ((size_t)length > MAX_LINE_BYTES) line[0] = '\0', report_warning("%s:%zu: line longer than %d bytes", s->where, s->line, MAX_LINE_BYTES);
        arrput(lines, strdup(line));
        if (arrlen(lines) == s->batch) {
            translate_lines(s, lines, (size_t)arrlen(lines), first);
            for (ptrdiff_t i = 0; i < arrlen(lines); i++) free(lines[i]);
            arrsetlen(lines, 0);
            first = s->line + 1;
        }
    }
    if (arrlen(lines) > 0) translate_lines(s, lines, (size_t)arrlen(lines), first);
    for (ptrdiff_t i = 0; i < arrlen(lines); i++) free(lines[i]);
    arrfree(lines);
    free(line);
}

static const char repl_help[] =
    "Type a sentence and press Enter to translate it.  Commands:\n"
    "  :tokens   show how the last sentence and its translation were tokenized\n"
    "  :help     this text\n"
    "  :quit     leave (so does Ctrl-D)\n";

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
            printf(" %s(%d)", shown, ids[i]);
        }
        printf("\n");
        arrfree(ids);
    }
}

static void run_repl(Session *s) {
    printf("azul: translating with %s-side vocabulary of %zu tokens; :help for commands, Ctrl-D to quit\n",
           "source", tokenizer_vocab_size(&s->translator.tokenizers.source));
    char *last = NULL, *last_translation = NULL;
    char *line;
    while ((line = readline("azul> ")) != NULL) {
        char *text = line + strspn(line, " \t");
        if (*text == '\0') { free(line); continue; }
        add_history(text);
        if (text[0] == ':') {
            if (strcmp(text, ":quit") == 0 || strcmp(text, ":q") == 0) { free(line); break; }
            else if (strcmp(text, ":help") == 0) fputs(repl_help, stdout);
            else if (strcmp(text, ":tokens") == 0) {
                if (last) show_tokens(s, last, last_translation);
                else printf("nothing translated yet\n");
            } else printf("unknown command %s (:help lists them)\n", text);
            free(line);
            continue;
        }
        const char *sentences[1] = {text};
        char *out = NULL, *problem = NULL;
        translator_translate(&s->translator, sentences, 1, &out, &problem);
        if (problem) printf("cannot translate this: %s\n", problem);
        else printf("%s\n", out);
        if (out) {
            free(last);
            free(last_translation);
            last = strdup(text);
            last_translation = out;
        }
        free(problem);
        free(line);
    }
    free(last);
    free(last_translation);
}

int translate_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"model", required_argument, 0, 'm'}, {"batch", required_argument, 0, 'b'},
        {"verbose", no_argument, 0, 'v'},     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model_path = NULL;
    Session s = {0};
    s.batch = 64;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'b': s.batch = (int)parse_integer_option("translate", "--batch", optarg, 1, 4096); break;
        case 'v': break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("translate", argv, c);
        }
    }
    if (!model_path) die_usage("translate", "--model DIR|FILE is required");
    if (argc - optind > 1) die_usage("translate", "one input FILE at most (got '%s' too)", argv[optind + 1]);
    Error err;
    if (translator_load(&s.translator, model_path, &err) < 0) die("%s", err.message);
    if (optind < argc) {
        FILE *in = fopen(argv[optind], "rb");
        if (!in) die("cannot open %s: %s", argv[optind], strerror(errno));
        s.where = argv[optind];
        run_stream(&s, in);
        fclose(in);
    } else if (isatty(STDIN_FILENO)) {
        run_repl(&s);
    } else {
        s.where = "<stdin>";
        run_stream(&s, stdin);
    }
    translator_free(&s.translator);
    return 0;
}
