#include "cli/train_options.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "cli/report.h"
#include "core/json_tree.h"

static const char COMMAND[] = "train";

// Choices are stored in their enum fields through an int.
_Static_assert(sizeof(TokenizerKind) == sizeof(int), "a choice field is int-sized");
_Static_assert(sizeof(ScheduleKind) == sizeof(int), "a choice field is int-sized");

static const OptionChoice tokenizer_kinds[] = {
    {"bpe", TOKENIZER_BPE}, {"word", TOKENIZER_WORD}, {NULL, 0},
};
static const OptionChoice schedule_kinds[] = {
    {"noam", SCHEDULE_NOAM}, {"inverse-sqrt", SCHEDULE_INVERSE_SQRT},
    {"cosine", SCHEDULE_COSINE}, {"constant", SCHEDULE_CONSTANT}, {NULL, 0},
};

#define AT(field) offsetof(TrainOptions, field)
#define NO_RANGE 0, 0

// In --help order within each section.  Columns: flag, kind, field, min, max,
// default, on --resume, section, metavar, help, choices, and why a new value
// on --resume deserves a warning.
const TrainOption train_option_table[] = {
    {"out", OPTION_STRING, AT(out), NO_RANGE, NULL, NOT_SAVED, SECTION_RUN, "DIR",
     "where the model, checkpoints and logs go (required)", NULL, NULL},
    {"watch", OPTION_TEXTS, AT(watch), NO_RANGE, NULL, NOT_SAVED, SECTION_REPORTING, "SENTENCE",
     "at each validation, keep this sentence's translation and attention in DIR/attention_history.json "
     "(up to 8 times; default: the first dev sentence; a resumed run watches what it watched)", NULL, NULL},
    {"resume", OPTION_FLAG, AT(resume), NO_RANGE, NULL, NOT_SAVED, SECTION_RUN, NULL,
     "go on from the last checkpoint in DIR (see below)", NULL, NULL},
    {"threads", OPTION_INT, AT(threads), 1, 1024, NULL, NOT_SAVED, SECTION_RUN, "N",
     "threads to use, not saved for --resume (default: all cores, shared among the MPI ranks on a machine); a model of d_model ≤ 128 "
     "gives each thread a shard of every batch, so its results change in the last bits with "
     "the number of threads", NULL, NULL},

    {"corpus", OPTION_STRING, AT(corpus), NO_RANGE, NULL, RESUME_TAKES_NEW, SECTION_DATA, "FILE.tsv",
     "source<TAB>target pairs (required, unless --resume)", NULL, "the data order will differ"},
    {"valid", OPTION_STRING, AT(valid), NO_RANGE, NULL, RESUME_TAKES_NEW, SECTION_DATA, "FILE.tsv",
     "dev pairs; without it, 5% of the corpus (at most 2,000 pairs) is held apart, chosen by --seed",
     NULL, "the best model so far was chosen on other dev pairs"},
    {"tokenizer", OPTION_CHOICE, AT(tokenizer.kind), NO_RANGE, "bpe", RESUME_KEEPS_RUN, SECTION_DATA,
     NULL, "byte-pair encoding or whole words", tokenizer_kinds, NULL},
    {"vocab-size", OPTION_INT, AT(tokenizer.vocab_size), 5, 1000000, NULL, RESUME_KEEPS_RUN,
     SECTION_DATA, "N", "ids per side, specials and bytes included (default: the recipe's for bpe, "
     "no limit for word)", NULL, NULL},
    {"min-count", OPTION_INT, AT(tokenizer.min_count), 1, 1e9, NULL, RESUME_KEEPS_RUN, SECTION_DATA,
     "N", "least count for a character (bpe) or a word (word) to get a token (default 2 for "
     "bpe, 1 for word)", NULL, NULL},
    {"joint", OPTION_FLAG, AT(joint), NO_RANGE, NULL, RESUME_KEEPS_RUN, SECTION_DATA, NULL,
     "one tokenizer for both sides instead of one per side", NULL, NULL},
    {"casefold", OPTION_FLAG, AT(tokenizer.normalize.casefold), NO_RANGE, NULL, RESUME_KEEPS_RUN,
     SECTION_DATA, NULL, "fold case before tokenising ('La' and 'la' become one token)", NULL, NULL},
    {"max-len", OPTION_INT, AT(max_len), 4, 4096, "128", RESUME_KEEPS_RUN, SECTION_DATA, "N",
     "longest sequence in tokens; longer pairs are left out, and counted", NULL, NULL},

    {"preset", OPTION_STRING, AT(preset), NO_RANGE, NULL, RESUME_KEEPS_RUN, SECTION_MODEL,
     "toy|small|base", "layers, heads and widths", NULL, NULL},
    {"pre-ln", OPTION_FLAG, AT(pre_ln), NO_RANGE, NULL, RESUME_KEEPS_RUN, SECTION_MODEL, NULL,
     "layer normalisation before each sublayer (default: the recipe's choice between the two)",
     NULL, NULL},
    {"post-ln", OPTION_FLAG, AT(post_ln), NO_RANGE, NULL, NOT_SAVED, SECTION_MODEL, NULL,
     "layer normalisation after each sublayer, as in the paper", NULL, NULL},
    {"tie", OPTION_FLAG, AT(tie), NO_RANGE, NULL, RESUME_KEEPS_RUN, SECTION_MODEL, NULL,
     "share the target embedding and the output layer (default: the recipe's choice between the "
     "two)", NULL, NULL},
    {"untie", OPTION_FLAG, AT(untie), NO_RANGE, NULL, NOT_SAVED, SECTION_MODEL, NULL,
     "a separate output layer", NULL, NULL},
    {"dropout", OPTION_REAL, AT(dropout), 0, 0.9, NULL, RESUME_KEEPS_RUN, SECTION_MODEL, "P",
     "dropout rate", NULL, NULL},
    {"label-smoothing", OPTION_REAL, AT(label_smoothing), 0, 0.9, NULL, RESUME_KEEPS_RUN,
     SECTION_MODEL, "E", "probability spread from the right token over all the others", NULL, NULL},

    {"steps", OPTION_LONG, AT(steps), 1, 0x1p40, NULL, RESUME_TAKES_NEW, SECTION_STOPPING, "N",
     "optimiser steps", NULL, NULL},
    {"epochs", OPTION_LONG, AT(epochs), 1, 1000000, NULL, RESUME_TAKES_NEW, SECTION_STOPPING, "N",
     "passes over the training pairs", NULL, NULL},
    {"time-budget", OPTION_DURATION, AT(time_budget), 0.001, 1e9, NULL, RESUME_TAKES_NEW,
     SECTION_STOPPING, "T", "the whole run's time, its end (averaging, the length penalty) included, e.g. 90s, "
     "30m, 1h30m", NULL, NULL},
    {"average", OPTION_INT, AT(average), 0, 1000, NULL, RESUME_TAKES_NEW, SECTION_STOPPING, "N",
     "when the run ends, average the checkpoints of the last N validations, and keep the mean as "
     "model.safetensors if its dev loss is the best; 0: none", NULL, NULL},
    {"patience", OPTION_INT, AT(patience), 0, 1000000, NULL, RESUME_TAKES_NEW, SECTION_STOPPING, "N",
     "stop after N validations without improvement; 0: never", NULL, NULL},

    {"batch-tokens", OPTION_INT, AT(batch_tokens), 16, 10000000, NULL, RESUME_KEEPS_RUN,
     SECTION_OPTIMISATION, "N", "tokens per batch, padding included", NULL, NULL},
    {"lr", OPTION_REAL, AT(lr), 1e-8, 10, NULL, RESUME_KEEPS_RUN, SECTION_OPTIMISATION, "X",
     "peak learning rate", NULL, NULL},
    {"warmup", OPTION_LONG, AT(warmup), 0, 0x1p40, NULL, RESUME_KEEPS_RUN, SECTION_OPTIMISATION,
     "N", "warm-up steps", NULL, NULL},
    {"schedule", OPTION_CHOICE, AT(schedule), NO_RANGE, NULL, RESUME_KEEPS_RUN,
     SECTION_OPTIMISATION, NULL, "the learning rate over the steps; noam is the paper's, with its "
     "peak at --lr; cosine ends at --steps", schedule_kinds, NULL},
    {"min-lr", OPTION_REAL, AT(min_lr), 0, 10, "0", RESUME_KEEPS_RUN, SECTION_OPTIMISATION, "X",
     "cosine: the learning rate it reaches at --steps", NULL, NULL},
    {"clip-norm", OPTION_REAL, AT(clip_norm), 0, 1e6, "1.0", RESUME_KEEPS_RUN, SECTION_OPTIMISATION,
     "X", "scale larger gradients down to this norm; 0: never", NULL, NULL},
    {"weight-decay", OPTION_REAL, AT(weight_decay), 0, 1, "0.01", RESUME_KEEPS_RUN,
     SECTION_OPTIMISATION, "X", "AdamW's decoupled weight decay", NULL, NULL},
    {"seed", OPTION_SEED, AT(seed), NO_RANGE, "1", RESUME_KEEPS_RUN, SECTION_OPTIMISATION, "N",
     "seeds the first weights, dropout, the batch order and the held-out pairs", NULL, NULL},

    {"log-every", OPTION_LONG, AT(log_every), 1, 0x1p40, "100", RESUME_KEEPS_RUN, SECTION_REPORTING,
     "N", "steps between log lines", NULL, NULL},
    {"valid-every", OPTION_LONG, AT(valid_every), 1, 0x1p40, NULL, RESUME_KEEPS_RUN,
     SECTION_REPORTING, "N", "steps between validations", NULL, NULL},
    {"valid-sentences", OPTION_INT, AT(valid_sentences), 0, 100000000, "500", RESUME_KEEPS_RUN,
     SECTION_REPORTING, "N", "dev pairs translated at each validation, for exact match and BLEU", NULL, NULL},
};
const size_t train_option_count = sizeof train_option_table / sizeof train_option_table[0];
_Static_assert(sizeof train_option_table / sizeof train_option_table[0] <= 64,
               "TrainOptions.given has a bit per option");

// ---------------------------------------------------------------- values

// The options the recipe (train/recipe.h) chooses when they are not given.
static bool chosen_by_the_recipe(const TrainOption *option) {
    static const char *const names[] = {
        "preset", "dropout", "label-smoothing", "steps", "average", "patience", "batch-tokens", "lr",
        "warmup", "schedule", "valid-every",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(option->name, names[i]) == 0) return true;
    }
    return false;
}

static void *field(TrainOptions *o, const TrainOption *option) { return (char *)o + option->offset; }
static const void *field_of(const TrainOptions *o, const TrainOption *option) {
    return (const char *)o + option->offset;
}

static size_t field_size(OptionKind kind) {
    switch (kind) {
    case OPTION_FLAG: return sizeof(bool);
    case OPTION_INT: case OPTION_CHOICE: return sizeof(int);
    case OPTION_LONG: return sizeof(long);
    case OPTION_REAL: return sizeof(float);
    case OPTION_DURATION: return sizeof(double);
    case OPTION_STRING: return sizeof(const char *);
    case OPTION_SEED: return sizeof(uint64_t);
    case OPTION_TEXTS: return sizeof(TextList);
    }
    return 0;
}

// The value of a numeric option (int, long, real, duration) as a double.
static double field_number(const TrainOption *option, const TrainOptions *o) {
    const void *p = field_of(o, option);
    switch (option->kind) {
    case OPTION_INT: return *(const int *)p;
    case OPTION_LONG: return (double)*(const long *)p;
    case OPTION_REAL: return *(const float *)p;
    case OPTION_DURATION: return *(const double *)p;
    default: return 0;
    }
}

static int choice_of(const TrainOptions *o, const TrainOption *option) {
    int value;
    memcpy(&value, field_of(o, option), sizeof value);
    return value;
}

static const char *choice_name(const TrainOption *option, int value) {
    for (const OptionChoice *c = option->choices; c->name; c++) {
        if (c->value == value) return c->name;
    }
    return "?";
}

static int choice_value(const TrainOption *option, const char *name, int *value) {
    for (const OptionChoice *c = option->choices; c->name; c++) {
        if (strcmp(c->name, name) == 0) return *value = c->value, 0;
    }
    return -1;
}

// "noam, inverse-sqrt, cosine or constant" (separator ", ") or "noam|...|constant" ("|").
static void choice_list(const TrainOption *option, const char *separator, char *text, size_t size) {
    size_t n = 0;
    text[0] = '\0';
    for (const OptionChoice *c = option->choices; c->name && n < size; c++) {
        const char *before = separator;
        if (c == option->choices) before = "";
        else if (!c[1].name && strcmp(separator, ", ") == 0) before = " or ";
        n += (size_t)snprintf(text + n, size - n, "%s%s", before, c->name);
    }
}

bool train_option_equal(const TrainOption *option, const TrainOptions *a, const TrainOptions *b) {
    if (option->kind == OPTION_STRING) {
        const char *x = *(const char *const *)field_of(a, option);
        const char *y = *(const char *const *)field_of(b, option);
        return x == y || (x && y && strcmp(x, y) == 0);
    }
    return memcmp(field_of(a, option), field_of(b, option), field_size(option->kind)) == 0;
}

static void copy_value(const TrainOption *option, TrainOptions *to, const TrainOptions *from) {
    memcpy(field(to, option), field_of(from, option), field_size(option->kind));
}

// The value as a user would read it, for warnings.
static void format_value(const TrainOption *option, const TrainOptions *o, char *text, size_t size) {
    const void *p = field_of(o, option);
    switch (option->kind) {
    case OPTION_FLAG: snprintf(text, size, "%s", *(const bool *)p ? "on" : "off"); break;
    case OPTION_INT: snprintf(text, size, "%d", *(const int *)p); break;
    case OPTION_LONG: snprintf(text, size, "%ld", *(const long *)p); break;
    case OPTION_REAL: snprintf(text, size, "%g", *(const float *)p); break;
    case OPTION_DURATION: snprintf(text, size, "%gs", *(const double *)p); break;
    case OPTION_CHOICE: snprintf(text, size, "%s", choice_name(option, choice_of(o, option))); break;
    case OPTION_STRING:
        snprintf(text, size, "%s", *(const char *const *)p ? *(const char *const *)p : "(none)");
        break;
    case OPTION_SEED: snprintf(text, size, "%" PRIu64, *(const uint64_t *)p); break;
    case OPTION_TEXTS: {
        const TextList *list = p;
        snprintf(text, size, "%s%s", list->n ? list->items[0] : "(none)", list->n > 1 ? ", ..." : "");
        break;
    }
    }
}

// ---------------------------------------------------------------- the command line

// "90", "90s", "30m", "2h", "1h30m" → seconds
static double parse_duration(const char *text) {
    double total = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double value = strtod(p, &end);
        if (end == p || value < 0) return -1;
        double unit = 1;
        if (*end == 'h') unit = 3600, end++;
        else if (*end == 'm') unit = 60, end++;
        else if (*end == 's') end++;
        else if (*end != '\0') return -1;
        total += value * unit;
        p = end;
    }
    return p == text ? -1 : total;
}

// Decimal digits only, the whole of uint64_t.
static int parse_seed(const char *text, uint64_t *seed) {
    uint64_t value = 0;
    if (!*text) return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) return -1;
        value = value * 10 + digit;
    }
    *seed = value;
    return 0;
}

void train_option_set(TrainOptions *o, const TrainOption *option, const char *text) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", option->name);
    void *p = field(o, option);
    switch (option->kind) {
    case OPTION_FLAG: *(bool *)p = true; break;
    case OPTION_INT:
        *(int *)p = (int)parse_integer_option(COMMAND, flag, text, (long)option->min, (long)option->max);
        break;
    case OPTION_LONG:
        *(long *)p = parse_integer_option(COMMAND, flag, text, (long)option->min, (long)option->max);
        break;
    case OPTION_REAL:
        *(float *)p = (float)parse_real_option(COMMAND, flag, text, option->min, option->max);
        break;
    case OPTION_DURATION: {
        double seconds = parse_duration(text);
        if (!(seconds >= option->min && seconds <= option->max)) {
            die_usage(COMMAND, "%s expects a duration such as 90s, 30m or 1h30m, got '%s'", flag, text);
        }
        *(double *)p = seconds;
        break;
    }
    case OPTION_CHOICE: {
        int value;
        if (choice_value(option, text, &value) < 0) {
            char names[256];
            choice_list(option, ", ", names, sizeof names);
            die_usage(COMMAND, "%s must be %s, got '%s'", flag, names, text);
        }
        memcpy(p, &value, sizeof value);
        break;
    }
    case OPTION_STRING: *(const char **)p = text; break;
    case OPTION_TEXTS: {
        TextList *list = p;
        if (list->n == TRAIN_MAX_WATCH) die_usage(COMMAND, "%s may be given at most %d times", flag, TRAIN_MAX_WATCH);
        list->items[list->n++] = text;
        break;
    }
    case OPTION_SEED:
        if (parse_seed(text, p) < 0) {
            die_usage(COMMAND, "%s expects an integer from 0 to %" PRIu64 ", got '%s'", flag, UINT64_MAX,
                      text);
        }
        break;
    }
}

void train_options_defaults(TrainOptions *o) {
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < train_option_count; i++) {
        const TrainOption *option = &train_option_table[i];
        if (option->default_value) train_option_set(o, option, option->default_value);
    }
}

bool train_options_parse(TrainOptions *o, int argc, char **argv) {
    enum { FIRST_CODE = 256 };  // getopt_long's code for row i: FIRST_CODE + i
    struct option long_options[64 + 2];
    size_t n = 0;
    for (; n < train_option_count; n++) {
        int argument = train_option_table[n].kind == OPTION_FLAG ? no_argument : required_argument;
        long_options[n] = (struct option){train_option_table[n].name, argument, NULL, FIRST_CODE + (int)n};
    }
    long_options[n++] = (struct option){"help", no_argument, NULL, 'h'};
    long_options[n] = (struct option){NULL, 0, NULL, 0};
    train_options_defaults(o);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (c == 'h') {
            train_options_print_help(stdout);
            return false;
        }
        if (c < FIRST_CODE || c >= FIRST_CODE + (int)train_option_count) die_bad_option(COMMAND, argv, c);
        train_option_set(o, &train_option_table[c - FIRST_CODE], optarg);
        o->given |= UINT64_C(1) << (c - FIRST_CODE);
    }
    if (optind < argc) die_usage(COMMAND, "unexpected argument '%s'", argv[optind]);
    return true;
}

bool train_option_given(const TrainOptions *o, const char *name) {
    for (size_t i = 0; i < train_option_count; i++) {
        if (strcmp(train_option_table[i].name, name) == 0) return (o->given >> i) & 1;
    }
    fprintf(stderr, "train_option_given: no option --%s\n", name);
    abort();
}

void train_options_complete(TrainOptions *o) {
    TokenizerConfig *t = &o->tokenizer;
    if (!t->min_count) t->min_count = t->kind == TOKENIZER_BPE ? 2 : 1;
}

// ---------------------------------------------------------------- --help

enum { HELP_INDENT = 27, HELP_WIDTH = 80 };

static const char intro[] =
    "usage: azul train --corpus FILE.tsv --out DIR [OPTION]...\n"
    "       azul train --out DIR --resume [OPTION]...\n"
    "\n"
    "Learns the tokenizers from the corpus, then trains an encoder-decoder\n"
    "Transformer on it.  DIR receives model.safetensors (the best model by dev\n"
    "loss), last.safetensors, training_state.safetensors (for --resume),\n"
    "train.log (JSON lines) and curves.svg.  Ctrl-C saves a checkpoint and stops.\n";

static const char recipe_help[] =
    "The recipe fills in what is not given, from the corpus size, and prints it "
    "before training: the toy preset under 10,000 pairs, small from there; "
    "pre-LN; batches of 2,048 tokens (1,024 for toy), halved until an epoch has "
    "4 of them; the steps that fit "
    "--time-budget (timed on a few real steps before training) once start-up "
    "and the end of the run have their share, or with no "
    "stopping rule enough epochs to see 100,000 pairs (10 to 1,000); a warm-up "
    "of 6% of the steps, then a cosine decay to --min-lr at the last step; 20 "
    "validations; no patience, since the plan's end is where the model is best; "
    "then the mean of the last 5 checkpoints, and the length penalty chosen on "
    "the dev pairs (as many as its time allows; none for a model whose greedy "
    "dev BLEU is below 1).";

// Writes text from column `column`, breaking lines at spaces before
// HELP_WIDTH and indenting the next ones by `indent`.
static void write_wrapped(FILE *out, const char *text, int column, int indent) {
    bool line_start = true;
    while (*text) {
        int word = (int)strcspn(text, " ");
        if (!line_start && column + 1 + word >= HELP_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            column = indent;
            line_start = true;
        }
        if (!line_start) fputc(' ', out), column++;
        fwrite(text, 1, (size_t)word, out);
        column += word;
        line_start = false;
        text += word;
        while (*text == ' ') text++;
    }
    fputc('\n', out);
}

static void print_option_help(FILE *out, const TrainOption *option) {
    char left[256], text[1024], names[256];
    const char *metavar = option->metavar;
    if (option->kind == OPTION_CHOICE) {
        choice_list(option, "|", names, sizeof names);
        metavar = names;
    }
    int column = snprintf(left, sizeof left, "  --%s%s%s", option->name, metavar ? " " : "",
                          metavar ? metavar : "");
    fputs(left, out);
    if (column > HELP_INDENT - 2) {  // too wide: the text starts on the next line
        fputc('\n', out);
        column = 0;
    }
    fprintf(out, "%*s", HELP_INDENT - column, "");
    int n = snprintf(text, sizeof text, "%s", option->help);
    if (option->default_value) {
        snprintf(text + n, sizeof text - (size_t)n, " (default %s)", option->default_value);
    } else if (chosen_by_the_recipe(option)) {
        snprintf(text + n, sizeof text - (size_t)n, " (default: the recipe's)");
    }
    write_wrapped(out, text, HELP_INDENT, HELP_INDENT);
}

static void print_section_title(FILE *out, OptionSection section) {
    static const char *const titles[] = {
        [SECTION_RUN] = "Run", [SECTION_DATA] = "Data", [SECTION_MODEL] = "Model",
        [SECTION_STOPPING] = "Stopping", [SECTION_OPTIMISATION] = "Optimisation",
        [SECTION_REPORTING] = "Reporting",
    };
    fputs(titles[section], out);
    if (section == SECTION_STOPPING) fputs(" (the first that comes)", out);
    fputs(":\n", out);
}

// "A resumed run keeps ..., except --corpus, ... and --patience, which ...", from the rows.
static void print_resume_rule(FILE *out) {
    char text[1024] = "A resumed run keeps the options it was started with, except";
    size_t n = strlen(text), count = 0, total = 0;
    for (size_t i = 0; i < train_option_count; i++) total += train_option_table[i].resume == RESUME_TAKES_NEW;
    for (size_t i = 0; i < train_option_count && n < sizeof text; i++) {
        if (train_option_table[i].resume != RESUME_TAKES_NEW) continue;
        const char *before = count == 0 ? " " : count + 1 == total ? " and " : ", ";
        n += (size_t)snprintf(text + n, sizeof text - n, "%s--%s", before, train_option_table[i].name);
        count++;
    }
    if (n < sizeof text) snprintf(text + n, sizeof text - n, ", which may be given again to change them.");
    write_wrapped(out, text, 0, 0);
}

void train_options_print_help(FILE *out) {
    fputs(intro, out);
    for (OptionSection section = SECTION_RUN; section <= SECTION_REPORTING; section++) {
        fputc('\n', out);
        print_section_title(out, section);
        for (size_t i = 0; i < train_option_count; i++) {
            if (train_option_table[i].section == section) print_option_help(out, &train_option_table[i]);
        }
    }
    fputc('\n', out);
    write_wrapped(out, recipe_help, 0, 0);
    fputc('\n', out);
    print_resume_rule(out);
}

// ---------------------------------------------------------------- saved form

// The key a row is saved under: its flag with '_' for '-' ("batch_tokens").
static void json_key(const TrainOption *option, char *key, size_t size) {
    snprintf(key, size, "%s", option->name);
    for (char *p = key; *p; p++) {
        if (*p == '-') *p = '_';
    }
}

// The shortest decimal that reads back as f: 0.1f saves as 0.1, not 0.10000000149011612.
static double shortest_double(float f) {
    char text[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if (strtof(text, NULL) == f) return strtod(text, NULL);
    }
    return f;
}

// One row's saved value, or NULL when memory runs out.
static cJSON *saved_value(const TrainOptions *o, const TrainOption *option) {
    const void *p = field_of(o, option);
    char text[32];
    switch (option->kind) {
    case OPTION_FLAG: return cJSON_CreateBool(*(const bool *)p);
    case OPTION_INT: case OPTION_LONG: case OPTION_DURATION:
        return cJSON_CreateNumber(field_number(option, o));
    case OPTION_REAL: return cJSON_CreateNumber(shortest_double(*(const float *)p));
    case OPTION_CHOICE: return cJSON_CreateString(choice_name(option, choice_of(o, option)));
    case OPTION_STRING: return cJSON_CreateString(*(const char *const *)p);
    case OPTION_SEED:
        // a string: JSON numbers are doubles, exact only up to 2^53
        snprintf(text, sizeof text, "%" PRIu64, *(const uint64_t *)p);
        return cJSON_CreateString(text);
    case OPTION_TEXTS: return NULL;  // never saved
    }
    return NULL;
}

cJSON *train_options_to_json(const TrainOptions *o) {
    // Every row is checked: options saved with one missing (a failed node)
    // would let a resumed run take that option's default without a word.
    cJSON *j = cJSON_CreateObject();
    for (size_t i = 0; j && i < train_option_count; i++) {
        const TrainOption *option = &train_option_table[i];
        if (option->resume == NOT_SAVED || ((o->unknown >> i) & 1)) continue;
        if (option->kind == OPTION_STRING && !*(const char *const *)field_of(o, option)) continue;
        char key[64];
        json_key(option, key, sizeof key);
        if (!json_attach(j, key, saved_value(o, option))) {
            cJSON_Delete(j);
            j = NULL;
        }
    }
    return j;
}

static int saved_value_error(Error *err, const char *key, const char *expected, const cJSON *item) {
    char *got = cJSON_PrintUnformatted(item);
    error_set(err, "the saved option \"%s\" must be %s, got %.200s", key, expected, got ? got : "?");
    cJSON_free(got);
    return -1;
}

// An int, long, real or duration: a finite number (whole for int and long)
// in the row's range, or the row's default (0 when it has none).
static int number_from_json(TrainOptions *o, const TrainOption *option, const cJSON *item,
                            const TrainOptions *defaults, const char *key, Error *err) {
    bool whole = option->kind == OPTION_INT || option->kind == OPTION_LONG;
    double x = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    bool in_range = x >= option->min && x <= option->max;
    if (option->kind == OPTION_REAL) {  // the range of the floats the command line can give
        in_range = fabs(x) <= FLT_MAX && (float)x >= (float)option->min && (float)x <= (float)option->max;
    }
    // A row without a default may be saved as 0 ("none": no --epochs), unless
    // the recipe always chooses it: a run never saves batch_tokens 0.
    bool unset_allowed = option->default_value || !chosen_by_the_recipe(option) ||
                         strcmp(option->name, "steps") == 0;  // 0: no step limit, in older runs
    double fallback = field_number(option, defaults);
    if (!isfinite(x) || (whole && x != floor(x)) || !(in_range || (unset_allowed && x == fallback))) {
        char expected[160];
        int n = snprintf(expected, sizeof expected, "%s from %.15g to %.15g",
                         whole ? "an integer" : "a number", option->min, option->max);
        if (unset_allowed && (fallback < option->min || fallback > option->max)) {
            snprintf(expected + n, sizeof expected - (size_t)n, ", or %g", fallback);
        }
        return saved_value_error(err, key, expected, item);
    }
    void *p = field(o, option);
    switch (option->kind) {
    case OPTION_INT: *(int *)p = (int)x; break;
    case OPTION_LONG: *(long *)p = (long)x; break;
    case OPTION_REAL: *(float *)p = (float)x; break;
    default: *(double *)p = x; break;
    }
    return 0;
}

static int choice_from_json(TrainOptions *o, const TrainOption *option, const cJSON *item,
                            const char *key, Error *err) {
    int value;
    bool ok = cJSON_IsString(item) && choice_value(option, item->valuestring, &value) == 0;
    // State files from before choices were saved by name hold the ScheduleKind
    // number: 0..3 for noam, inverse-sqrt, cosine, constant (model/optimizer.h).
    if (!ok && strcmp(option->name, "schedule") == 0 && cJSON_IsNumber(item)) {
        double x = item->valuedouble;
        if (x >= SCHEDULE_NOAM && x <= SCHEDULE_CONSTANT && x == floor(x)) value = (int)x, ok = true;
    }
    if (!ok) {
        char names[256];
        choice_list(option, ", ", names, sizeof names);
        return saved_value_error(err, key, names, item);
    }
    memcpy(field(o, option), &value, sizeof value);
    return 0;
}

static int seed_from_json(TrainOptions *o, const TrainOption *option, const cJSON *item,
                          const char *key, Error *err) {
    uint64_t *seed = field(o, option);
    if (cJSON_IsString(item) && parse_seed(item->valuestring, seed) == 0) return 0;
    // older state files saved the seed as a JSON number
    double x = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (x >= 0 && x < 0x1p64 && x == floor(x)) return *seed = (uint64_t)x, 0;
    return saved_value_error(err, key, "a string of digits from 0 to 18446744073709551615", item);
}

// Reads one saved value into o, checking its type and range.
static int option_from_json(TrainOptions *o, const TrainOption *option, const cJSON *item,
                            const TrainOptions *defaults, Error *err) {
    char key[64];
    json_key(option, key, sizeof key);
    switch (option->kind) {
    case OPTION_FLAG:
        if (!cJSON_IsBool(item)) return saved_value_error(err, key, "true or false", item);
        *(bool *)field(o, option) = cJSON_IsTrue(item);
        return 0;
    case OPTION_INT: case OPTION_LONG: case OPTION_REAL: case OPTION_DURATION:
        return number_from_json(o, option, item, defaults, key, err);
    case OPTION_CHOICE: return choice_from_json(o, option, item, key, err);
    case OPTION_STRING:
        if (!cJSON_IsString(item)) return saved_value_error(err, key, "a string", item);
        *(const char **)field(o, option) = item->valuestring;
        return 0;
    case OPTION_SEED: return seed_from_json(o, option, item, key, err);
    case OPTION_TEXTS: return 0;  // never saved
    }
    return 0;
}

// A value given on the command line that differs from the resumed run's.
static void take_given_value(TrainOptions *run, const TrainOptions *given, const TrainOption *option) {
    char mine[512], theirs[512];
    format_value(option, given, mine, sizeof mine);
    format_value(option, run, theirs, sizeof theirs);
    if (option->resume == RESUME_TAKES_NEW) {
        if (option->on_change) {
            report_warning("--%s %s differs from the run's %s: %s", option->name, mine, theirs,
                           option->on_change);
        }
        copy_value(option, run, given);
    } else if (option->kind == OPTION_FLAG) {
        report_warning("--%s is ignored: the run being resumed was started without it", option->name);
    } else {
        report_warning("--%s %s is ignored: the run being resumed has --%s %s", option->name, mine,
                       option->name, theirs);
    }
}

int train_options_resume(TrainOptions *o, const cJSON *stored, Error *err) {
    if (!cJSON_IsObject(stored)) return error_set(err, "the saved options are not a JSON object");
    TrainOptions run = *o, defaults;
    train_options_defaults(&defaults);
    for (size_t i = 0; i < train_option_count; i++) {
        const TrainOption *option = &train_option_table[i];
        if (option->resume == NOT_SAVED) continue;
        char key[64];
        json_key(option, key, sizeof key);
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(stored, key);
        if (item && option_from_json(&run, option, item, &defaults, err) < 0) return -1;
        // older state files lack some; rather no value than a wrong one
        if (!item && option->resume == RESUME_KEEPS_RUN) run.unknown |= UINT64_C(1) << i;
    }
    for (size_t i = 0; i < train_option_count; i++) {
        const TrainOption *option = &train_option_table[i];
        bool given = (o->given >> i) & 1;
        if (option->resume == NOT_SAVED || !given || train_option_equal(option, o, &run)) continue;
        take_given_value(&run, o, option);
    }
    *o = run;
    return 0;
}
