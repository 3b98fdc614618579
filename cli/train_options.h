// The options of `azul train`, as one table.  Each row says how its flag is
// parsed and checked, what --help says about it, and how a run saves it for
// --resume; adding an option is adding a row (and a field to TrainOptions).
#ifndef AZUL_TRAIN_OPTIONS_H
#define AZUL_TRAIN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/optimizer.h"
#include "tokenizer/tokenizer.h"

// A flag that may be given several times (--watch).
enum { TRAIN_MAX_WATCH = 8 };
typedef struct {
    const char *items[TRAIN_MAX_WATCH];
    int n;
} TextList;

typedef struct {
    const char *corpus, *valid, *out, *preset;
    TextList watch;            // sentences whose attention is recorded at each validation
    TokenizerConfig tokenizer;
    bool joint, pre_ln, post_ln, tie, untie, resume;
    int max_len, batch_tokens, average, patience, valid_sentences, threads;
    long steps, epochs, warmup, log_every, valid_every;
    double time_budget;        // seconds
    float lr, min_lr, dropout, label_smoothing, clip_norm, weight_decay;
    ScheduleKind schedule;
    uint64_t seed;
    uint64_t given;            // bit i: the command line set train_option_table[i]
    uint64_t unknown;          // bit i: a resumed run's saved options lack it (so it is not saved)
} TrainOptions;

typedef enum {
    OPTION_FLAG,      // bool, no value
    OPTION_INT,       // int
    OPTION_LONG,      // long
    OPTION_REAL,      // float
    OPTION_DURATION,  // double seconds, written 90s, 30m, 1h30m
    OPTION_CHOICE,    // an enum, one of the row's named choices; saved by name
    OPTION_STRING,    // const char *
    OPTION_SEED,      // uint64_t; saved as a string of digits, exactly
    OPTION_TEXTS,     // TextList: the flag repeated; never saved
} OptionKind;

typedef enum {
    RESUME_KEEPS_RUN,  // saved; a resumed run keeps the value it was started with
    RESUME_TAKES_NEW,  // saved; a value given with --resume replaces the run's
    NOT_SAVED,         // belongs to one invocation
} ResumeRule;

typedef enum {
    SECTION_RUN, SECTION_DATA, SECTION_MODEL, SECTION_STOPPING, SECTION_OPTIMISATION,
    SECTION_REPORTING,
} OptionSection;

typedef struct { const char *name; int value; } OptionChoice;

typedef struct {
    const char *name;              // the flag without "--"; saved with '_' for '-'
    OptionKind kind;
    size_t offset;                 // of the value in TrainOptions
    double min, max;               // int, long, real, duration: the accepted values
    const char *default_value;     // as it would be typed, or NULL for 0 / none / off
    ResumeRule resume;
    OptionSection section;
    const char *metavar;           // after the flag in --help; choices show their names
    const char *help;
    const OptionChoice *choices;   // choice: ended by {NULL}
    const char *on_change;         // resume-takes-new: why a new value deserves a warning
} TrainOption;

extern const TrainOption train_option_table[];
extern const size_t train_option_count;

void train_options_defaults(TrainOptions *o);

// Reads the command line into o (set to the defaults first); exits with a
// usage error naming the flag on a bad one.  Returns false after printing
// --help.
bool train_options_parse(TrainOptions *o, int argc, char **argv);

// Fills in the defaults that depend on other options: the least count for
// --tokenizer.  The others that were not given are the recipe's
// (cli/train_recipe.h).
void train_options_complete(TrainOptions *o);

void train_options_print_help(FILE *out);

// Sets one option from its text as typed, or exits with a usage error.
void train_option_set(TrainOptions *o, const TrainOption *option, const char *text);

// Whether the command line gave the named option ("time-budget").
bool train_option_given(const TrainOptions *o, const char *name);

bool train_option_equal(const TrainOption *option, const TrainOptions *a, const TrainOptions *b);

// The options a run saves, by name: {"batch_tokens": 4096, "schedule": "noam", "seed": "1", ...};
// NULL when memory runs out (never an object with an option missing).
cJSON *train_options_to_json(const TrainOptions *o);

// Takes a resumed run's saved options into o: each saved value replaces o's
// unless the row lets a value given on the command line win (warning when a
// given value is ignored or changes the run).  Every value is checked; a
// missing one keeps o's, and is not saved again if the run should have kept
// it.  o's strings then point into stored.  Fails, naming the option, on a
// value of the wrong type or out of range, leaving o as it was.
int train_options_resume(TrainOptions *o, const cJSON *stored, Error *err);

#endif
