// The recipe: how to train when the command line does not say.
//
// From the size of the corpus, and the time budget when there is one, it
// chooses the model's size, the vocabulary, the batch size and a plan: a
// number of steps, a warm-up that is a fixed share of them, and a learning
// rate that then falls along a cosine to zero at the plan's end.  A schedule
// that ends where the run ends leaves a settled model however short the run;
// one that decays by the step number alone (the paper's) is still high when
// a short run stops, and one that warms up over a fixed 4,000 steps never
// finishes warming up on a small corpus.
//
// A time budget is turned into steps by timing a few real steps and one
// validation before training (trainer_time_steps).  Every choice yields to a
// flag given on the command line; the choices are printed in one block and
// saved with the run (its options) and in every model file it writes.
//
// The numbers are the winners of tools/recipe_search.sh's trials, which
// compare equal-time runs by their dev BLEU (the README has the table).
#ifndef AZUL_RECIPE_H
#define AZUL_RECIPE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    // chosen from the number of pairs, before the tokenizers are learned
    const char *preset;
    bool pre_ln, tie;
    int vocab_size;            // per side (bpe)
    float dropout, label_smoothing;
    float lr;                  // the peak, reached at the end of the warm-up
    // chosen once the pairs are tokenised
    int batch_tokens;
    // the plan
    double warmup_share;       // of the planned steps
    int validations;           // over the plan
    int average;               // checkpoints averaged at the end (train/averaging.h)
} Recipe;

// Corpora smaller than this train the toy preset.
enum { RECIPE_SMALL_FROM_PAIRS = 10000 };

void recipe_choose(Recipe *r, size_t pairs);

// The batch size: the recipe's largest (2,048 tokens for small, ...) unless
// the epoch would then have fewer than RECIPE_MIN_BATCHES_PER_EPOCH batches,
// halving down to 256 tokens.  padded_tokens: the epoch's pairs × their
// longer side, roughly what its batches hold.
enum { RECIPE_MIN_BATCHES_PER_EPOCH = 4 };
int recipe_batch_tokens(const Recipe *r, size_t padded_tokens);

// Without any stopping rule: enough epochs to see RECIPE_EXAMPLES pairs,
// from 10 to 1,000 epochs (a tiny corpus needs many passes, a large one
// learns most of what it can in ten).
enum { RECIPE_EXAMPLES = 100000, RECIPE_MIN_EPOCHS = 10, RECIPE_MAX_EPOCHS = 1000 };
long recipe_epochs(size_t pairs);

// The steps that fit in `seconds` of training: what is left of them after a
// margin of 3% for saving and noise, at step_seconds a step and
// validation_seconds a validation, for the validations the plan then holds
// (one every valid_every steps, or every recipe_valid_every steps when
// valid_every is 0, and one more at the end unless the last step has one);
// at least 1.
long recipe_steps_for_budget(const Recipe *r, double seconds, double step_seconds,
                             double validation_seconds, long valid_every);

// The seconds of a time budget kept for the end of a run: a validation of
// the mean of the last checkpoints (when averaging), the length penalty's
// search (train/length_penalty.h), whose estimate counts at most
// RECIPE_SEARCH_SHARE of the budget (the search then takes the dev pairs
// that fit), and LENGTH_PENALTY_END_SECONDS to save the model after it and
// end.
#define RECIPE_SEARCH_SHARE 0.08
typedef struct {
    double average, search, end;  // seconds kept for each
    double total;
} EndReserve;
EndReserve recipe_end_reserve(double budget, double validation_seconds, bool averaging, double search_seconds);

// The warm-up steps of a plan (at least 1), and the steps between
// validations (at least 1).
long recipe_warmup(const Recipe *r, long planned_steps);
long recipe_valid_every(const Recipe *r, long planned_steps);

#endif
