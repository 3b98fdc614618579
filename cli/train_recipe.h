// What `azul train` takes from the recipe (train/recipe.h): every option the
// command line did not give, filled in twice, since the choices build on
// each other, and printed as one block.
#ifndef AZUL_CLI_TRAIN_RECIPE_H
#define AZUL_CLI_TRAIN_RECIPE_H

#include "cli/train_options.h"
#include "train/recipe.h"

// Before the tokenizers are learned: the preset, the layer normalisation,
// the output layer, the vocabulary size, dropout, label smoothing and the
// learning rate, from the number of training pairs.  Exits with a usage
// error on contradicting flags (--pre-ln with --post-ln).
void train_recipe_model(TrainOptions *o, Recipe *recipe, size_t pairs);

// What the plan was made from.
typedef struct {
    size_t pairs, dev_pairs;
    long batches_per_epoch;
    long steps;                // the plan
    char planned_from[64];     // "--epochs 20", "the corpus size (538 epochs)"
    bool from_budget;          // the steps are what fits the time budget
    // with a time budget, else 0
    double step_seconds, validation_seconds, search_seconds;  // timed (trainer.h)
    double budget_spent;       // seconds of it gone before the plan was made
    EndReserve end;            // seconds of it kept for the end of the run
} TrainPlan;

// The batch size, before the plan: the recipe's, unless the epoch would
// then have too few batches.  padded_tokens: the pairs' longer sides added up.
void train_recipe_batch(TrainOptions *o, const Recipe *recipe, size_t padded_tokens);

// Once the plan's steps are known: --steps becomes the plan, and the
// warm-up, schedule, validation interval and patience follow from it.
void train_recipe_plan(TrainOptions *o, const Recipe *recipe, const TrainPlan *plan);

// The block that says what the run will do, and which of it the command
// line chose ("given").
void train_recipe_print(const TrainOptions *o, const TrainPlan *plan);

#endif
