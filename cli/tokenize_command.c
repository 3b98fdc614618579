// `azul tokenize`: learn tokenizers from a corpus, and show how text is cut
// into tokens, so that a learner can see what the model will see.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <stb/stb_ds.h>

#include "core/clock.h"
#include "core/line_reader.h"
#include "cli/commands.h"
#include "cli/report.h"
#include "core/error.h"
#include "cli/options.h"
#include "core/utf8.h"
#include "infer/translator.h"
#include "train/dataset.h"

static const char usage[] =
    "usage: azul tokenize --model DIR|FILE [--side src|tgt] [--pieces|--ids] [TEXT ...]\n"
    "       azul tokenize --model DIR|FILE [--side src|tgt] --vocab\n"
    "       azul tokenize --model DIR|FILE --stats [--corpus FILE.tsv | TEXT ...]\n"
    "       azul tokenize --learn --corpus FILE.tsv -o FILE.json [--tokenizer bpe|word]\n"
    "                     [--vocab-size N] [--min-count N] [--joint] [--casefold]\n"
    "\n"
    "Shows how text is cut into tokens: each token as text (▁ marks the start of a\n"
    "word, <0xC3> a byte) and its id.  Without TEXT, reads one sentence per line\n"
    "from standard input.\n"
    "\n"
    "  --model DIR|FILE     a trained model (its tokenizers), or tokenizers saved by --learn\n"
    "  --side src|tgt       which side's tokenizer to use (default src)\n"
    "  --pieces             print only the tokens, one line per sentence\n"
    "  --ids                print only the ids, one line per sentence\n"
    "  --vocab              list the vocabulary: id, token, and how it was made\n"
    "  --stats              print totals only: sentences, tokens, tokens per sentence, time\n"
    "  --corpus FILE.tsv    a source<TAB>target corpus (for --learn and --stats)\n"
    "\n"
    "Learning:\n"
    "  --learn              learn tokenizers from --corpus and save them to -o FILE.json\n"
    "  --tokenizer bpe|word byte-pair encoding (default) or whole words\n"
    "  --vocab-size N       ids per side, specials and bytes included\n"
    "                       (default 8000 for bpe, unlimited for word)\n"
    "  --min-count N        word: least count for a word to get a token (default 1);\n"
    "                       bpe: least count for a character (default 2; rarer ones\n"
    "                       are spelled with byte tokens)\n"
    "  --joint              one tokenizer for both sides instead of one per side\n"
    "  --casefold           fold case before tokenising ('La' and 'la' become one token)\n";

typedef struct {
    const char *model;
    const char *corpus;
    const char *out;
    bool target_side;
    bool learn, vocab, stats, pieces_only, ids_only, joint;
    TokenizerConfig config;
    bool vocab_size_given, min_count_given;
} TokenizeOptions;

// ---------------------------------------------------------------- learning

static int run_learn(const TokenizeOptions *o) {
    if (!o->corpus) die_usage("tokenize", "--learn needs --corpus FILE.tsv");
    if (!o->out) die_usage("tokenize", "--learn needs -o FILE.json (where to save the tokenizers)");
    Error err;
    Corpus corpus;
    if (corpus_read(&corpus, o->corpus, stderr, 10, &err) < 0) die("%s", err.message);
    if (corpus_size(&corpus) == 0) die("%s holds no usable sentence pairs", o->corpus);

    double start = monotonic_seconds();
    TokenizerPair pair;
    if (dataset_learn_tokenizers(&pair, &o->config, o->joint, &corpus, &err) < 0) {
        die("%s: %s", o->corpus, err.message);
    }
    double elapsed = monotonic_seconds() - start;
    if (tokenizer_pair_save(&pair, o->out, &err) < 0) die("%s", err.message);

    const char *kind = o->config.kind == TOKENIZER_BPE ? "bpe" : "word";
    printf("learned %s%s tokenizer%s from %zu pairs in %.2f s\n", o->joint ? "a joint " : "", kind,
           o->joint ? "" : "s", corpus_size(&corpus), elapsed);
    printf("  source: %zu tokens", tokenizer_vocab_size(&pair.source));
    if (o->config.kind == TOKENIZER_BPE) printf(" (%td merges)", arrlen(pair.source.merges));
    if (!o->joint) {
        printf("\n  target: %zu tokens", tokenizer_vocab_size(&pair.target));
        if (o->config.kind == TOKENIZER_BPE) printf(" (%td merges)", arrlen(pair.target.merges));
    }
    printf("\nsaved to %s\n", o->out);
    finish_standard_output();
    tokenizer_pair_free(&pair);
    corpus_free(&corpus);
    return 0;
}

// ---------------------------------------------------------------- showing tokens

// A token as tokenizer_token_display shows it, made printable: a tokenizer
// file may hold a token made of a control character.
static void put_token(const Tokenizer *t, int32_t id) {
    char shown[1024];
    tokenizer_token_display(t, id, shown, sizeof shown);
    utf8_put_printable(stdout, shown);
}

static void print_vocab(const Tokenizer *t) {
    for (size_t id = 0; id < tokenizer_vocab_size(t); id++) {
        const Token *token = &t->tokens[id];
        printf("%zu\t", id);
        put_token(t, (int32_t)id);
        if (id < TOKEN_SPECIAL_COUNT) {
            printf("\tspecial\n");
        } else if (tokenizer_is_byte(t, (int32_t)id)) {
            printf("\tbyte\n");
        } else if (token->left >= 0) {
            printf("\tmerge ");
            put_token(t, token->left);
            printf(" + ");
            put_token(t, token->right);
            printf("\n");
        } else {
            printf("\t%s\n", t->kind == TOKENIZER_BPE ? "character" : "word");
        }
    }
}

// The text as given, made printable (it may come from any file: an ESC in
// it must not reach the terminal), then its tokens and ids.
static void print_tokens(const TokenizeOptions *o, const Tokenizer *t, const char *text,
                         const int32_t *ids) {
    if (!o->ids_only && !o->pieces_only) {
        printf("text:   ");
        utf8_put_printable(stdout, text);
        printf("\ntokens:");
    }
    if (!o->ids_only) {
        for (ptrdiff_t i = 0; i < arrlen(ids); i++) {
            if (i > 0 || !o->pieces_only) putchar(' ');
            put_token(t, ids[i]);
        }
        printf("\n");
    }
    if (!o->ids_only && !o->pieces_only) printf("ids:   ");
    if (!o->pieces_only) {
        for (ptrdiff_t i = 0; i < arrlen(ids); i++) {
            printf(i == 0 && o->ids_only ? "%d" : " %d", ids[i]);
        }
        printf("\n");
    }
}

typedef struct {
    size_t sentences, tokens, unknown, failed;
} Totals;

// Encodes one sentence; a bad one is a warning, so that line N of the output
// still belongs to line N of the input (it prints as an empty line).
static void tokenize_one(const TokenizeOptions *o, Tokenizer *t, const char *where, size_t line,
                         const char *text, size_t length, Totals *totals) {
    int32_t *ids = NULL;
    Error err;
    if (tokenizer_encode(t, text, length, &ids, &err) < 0) {
        if (line) report_warning("%s:%zu: %s", where, line, err.message);
        else report_warning("%s: %s", where, err.message);
        totals->failed++;
        if (!o->stats && (o->ids_only || o->pieces_only)) printf("\n");
        return;
    }
    totals->sentences++;
    totals->tokens += (size_t)arrlen(ids);
    for (ptrdiff_t i = 0; i < arrlen(ids); i++) totals->unknown += ids[i] == TOKEN_UNK;
    if (!o->stats) print_tokens(o, t, text, ids);
    arrfree(ids);
}

static void print_totals(const char *side, const Totals *totals) {
    printf("%s: %zu sentences, %zu tokens, %.3f tokens/sentence, %zu <unk>", side,
           totals->sentences, totals->tokens,
           totals->sentences ? (double)totals->tokens / (double)totals->sentences : 0.0,
           totals->unknown);
    if (totals->failed) printf(", %zu refused", totals->failed);
    printf("\n");
}

static int run_stats_on_corpus(const TokenizeOptions *o, TokenizerPair *pair) {
    Error err;
    Corpus corpus;
    if (corpus_read(&corpus, o->corpus, stderr, 10, &err) < 0) die("%s", err.message);
    Totals source = {0}, target = {0};
    double start = monotonic_seconds();
    for (size_t i = 0; i < corpus_size(&corpus); i++) {
        const SentencePair *p = &corpus.pairs[i];
        tokenize_one(o, &pair->source, corpus.path, p->line, p->source, strlen(p->source), &source);
        tokenize_one(o, &pair->target, corpus.path, p->line, p->target, strlen(p->target), &target);
    }
    double elapsed = monotonic_seconds() - start;
    print_totals("source", &source);
    print_totals("target", &target);
    printf("encoded %zu sentences in %.3f s (%.0f sentences/s)\n", source.sentences + target.sentences,
           elapsed, (double)(source.sentences + target.sentences) / (elapsed > 0 ? elapsed : 1e-9));
    corpus_free(&corpus);
    return 0;
}

// The tokenizers of a trained model (DIR or its .safetensors file), or of a
// JSON file saved by --learn.
static int load_tokenizers(TokenizerPair *pair, const char *path, Error *err) {
    struct stat st;
    size_t n = strlen(path);
    bool model = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ||
                 (n > 12 && strcmp(path + n - 12, ".safetensors") == 0);
    if (!model) return tokenizer_pair_load(pair, path, err);
    Translator t;
    if (translator_load(&t, path, err) < 0) return -1;
    *pair = t.tokenizers;  // kept; only the network goes
    model_free(&t.model);
    return 0;
}

// One sentence per line of standard input, read with the line length limit:
// an over-long line or one holding a NUL byte stops the command (the line
// reader names the line), as does a read error (never taken for the end).
static void tokenize_stdin(const TokenizeOptions *o, Tokenizer *t, Totals *totals) {
    LineReader reader;
    Error err;
    if (line_reader_init(&reader, 0, "<stdin>", &err) < 0) die("%s", err.message);
    char *line;
    bool refused;
    int status;
    while ((status = line_reader_next(&reader, LINE_READER_MAX_BYTES, &line, &refused, &err)) > 0) {
        if (refused) {
            free(line);
            line_reader_free(&reader);
            die("%s", err.message);
        }
        tokenize_one(o, t, "<stdin>", reader.lines, line, strlen(line), totals);
        free(line);
    }
    line_reader_free(&reader);
    if (status < 0) die("%s", err.message);
}

static int run_show(const TokenizeOptions *o, int n_texts, char **texts) {
    Error err;
    TokenizerPair pair;
    if (load_tokenizers(&pair, o->model, &err) < 0) die("%s", err.message);
    Tokenizer *t = o->target_side ? &pair.target : &pair.source;
    int status = 0;
    if (o->vocab) {
        print_vocab(t);
    } else if (o->stats && o->corpus) {
        status = run_stats_on_corpus(o, &pair);
    } else {
        Totals totals = {0};
        double start = monotonic_seconds();
        if (n_texts > 0) {
            for (int i = 0; i < n_texts; i++) {
                tokenize_one(o, t, "argument", 0, texts[i], strlen(texts[i]), &totals);
            }
        } else {
            tokenize_stdin(o, t, &totals);
        }
        if (o->stats) {
            print_totals(o->target_side ? "target" : "source", &totals);
            printf("encoded in %.3f s\n", monotonic_seconds() - start);
        }
        if (n_texts > 0 && totals.failed) status = EXIT_FAILURE_AZUL;
    }
    tokenizer_pair_free(&pair);
    finish_standard_output();
    return status;
}

// ---------------------------------------------------------------- command line

int tokenize_command(int argc, char **argv) {
    enum { OPT_VOCAB_SIZE = 256, OPT_MIN_COUNT, OPT_TOKENIZER, OPT_SIDE };
    static const struct option long_options[] = {
        {"model", required_argument, 0, 'm'},      {"corpus", required_argument, 0, 'c'},
        {"out", required_argument, 0, 'o'},        {"side", required_argument, 0, OPT_SIDE},
        {"learn", no_argument, 0, 'l'},            {"vocab", no_argument, 0, 'v'},
        {"stats", no_argument, 0, 's'},            {"pieces", no_argument, 0, 'p'},
        {"ids", no_argument, 0, 'i'},              {"joint", no_argument, 0, 'j'},
        {"casefold", no_argument, 0, 'f'},         {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"vocab-size", required_argument, 0, OPT_VOCAB_SIZE},
        {"min-count", required_argument, 0, OPT_MIN_COUNT},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0},
    };
    TokenizeOptions o = {0};
    o.config.kind = TOKENIZER_BPE;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:c:o:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'c': o.corpus = optarg; break;
        case 'o': o.out = optarg; break;
        case 'l': o.learn = true; break;
        case 'v': o.vocab = true; break;
        case 's': o.stats = true; break;
        case 'p': o.pieces_only = true; break;
        case 'i': o.ids_only = true; break;
        case 'j': o.joint = true; break;
        case 'f': o.config.normalize.casefold = true; break;
        case OPT_SIDE:
            if (strcmp(optarg, "src") == 0) o.target_side = false;
            else if (strcmp(optarg, "tgt") == 0) o.target_side = true;
            else die_usage("tokenize", "--side must be src or tgt, got '%s'", optarg);
            break;
        case OPT_TOKENIZER:
            if (strcmp(optarg, "bpe") == 0) o.config.kind = TOKENIZER_BPE;
            else if (strcmp(optarg, "word") == 0) o.config.kind = TOKENIZER_WORD;
            else die_usage("tokenize", "--tokenizer must be bpe or word, got '%s'", optarg);
            break;
        case OPT_VOCAB_SIZE:
            o.config.vocab_size =
                (int)parse_integer_option("tokenize", "--vocab-size", optarg, 5, 1000000);
            o.vocab_size_given = true;
            break;
        case OPT_MIN_COUNT:
            o.config.min_count =
                (int)parse_integer_option("tokenize", "--min-count", optarg, 1, 1000000000);
            o.min_count_given = true;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("tokenize", argv, c);
        }
    }
    if (!o.vocab_size_given) o.config.vocab_size = o.config.kind == TOKENIZER_BPE ? 8000 : 0;
    if (!o.min_count_given) o.config.min_count = o.config.kind == TOKENIZER_BPE ? 2 : 1;
    if (o.pieces_only && o.ids_only) die_usage("tokenize", "--pieces and --ids exclude each other");

    if (o.learn) {
        if (optind < argc) die_usage("tokenize", "--learn takes no TEXT (got '%s')", argv[optind]);
        return run_learn(&o);
    }
    if (!o.model) die_usage("tokenize", "--model FILE is required (or --learn to make one)");
    if (o.corpus && !o.stats) die_usage("tokenize", "--corpus is for --learn or --stats");
    return run_show(&o, argc - optind, argv + optind);
}
