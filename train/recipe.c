#include "train/recipe.h"

#include <math.h>

#include "train/length_penalty.h"

// One row per preset the recipe can choose.
static const Recipe recipes[] = {
    // a few hundred to a few thousand pairs: narrow, and big batches would
    // leave an epoch with a step or two
    {.preset = "toy", .pre_ln = true, .tie = false, .vocab_size = 8000, .dropout = 0.1f,
     .label_smoothing = 0.1f, .lr = 2e-3f, .batch_tokens = 1024, .warmup_share = 0.06,
     .validations = 20, .average = 5},
    // tens of thousands of pairs and more; batches of 2,048 tokens won the
    // recipe search (tools/recipe_search.sh) and a 30-minute spa-eng run
    // confirmed them: 6,872 steps, dev loss 1.186 and greedy BLEU 46.76,
    // against 3,198 steps, 1.239 and 45.47 with 4,096
    {.preset = "small", .pre_ln = true, .tie = true, .vocab_size = 8000, .dropout = 0.1f,
     .label_smoothing = 0.1f, .lr = 2e-3f, .batch_tokens = 2048, .warmup_share = 0.06,
     .validations = 20, .average = 5},
};

void recipe_choose(Recipe *r, size_t pairs) {
    *r = recipes[pairs < RECIPE_SMALL_FROM_PAIRS ? 0 : 1];
}

int recipe_batch_tokens(const Recipe *r, size_t padded_tokens) {
    int tokens = r->batch_tokens;
    while (tokens > 256 && padded_tokens / (size_t)tokens < RECIPE_MIN_BATCHES_PER_EPOCH) tokens /= 2;
    return tokens;
}

long recipe_epochs(size_t pairs) {
    size_t epochs = pairs ? (RECIPE_EXAMPLES + pairs - 1) / pairs : RECIPE_MAX_EPOCHS;
    if (epochs < RECIPE_MIN_EPOCHS) epochs = RECIPE_MIN_EPOCHS;
    if (epochs > RECIPE_MAX_EPOCHS) epochs = RECIPE_MAX_EPOCHS;
    return (long)epochs;
}

long recipe_warmup(const Recipe *r, long planned_steps) {
    long warmup = lround(r->warmup_share * (double)planned_steps);
    return warmup > 1 ? warmup : 1;
}

long recipe_valid_every(const Recipe *r, long planned_steps) {
    long every = planned_steps / (r->validations > 0 ? r->validations : 1);
    return every > 1 ? every : 1;
}

// The seconds a plan of `steps` takes: the steps and their validations.
static double plan_seconds(const Recipe *r, long steps, double step_seconds, double validation_seconds,
                           long valid_every) {
    const long every = valid_every > 0 ? valid_every : recipe_valid_every(r, steps);
    const long validations = steps / every + (steps % every != 0);
    return (double)steps * step_seconds + (double)validations * validation_seconds;
}

long recipe_steps_for_budget(const Recipe *r, double seconds, double step_seconds,
                             double validation_seconds, long valid_every) {
    const double left = 0.97 * seconds;
    if (!(step_seconds > 0)) return 1;
    // first as if the recipe's validations were all (or, in a plan shorter
    // than they are, one after every step), then fewer steps while the
    // plan's own validations (up to twice as many in a short plan) do not fit
    const long validations = valid_every > 0 ? 0 : r->validations;
    double guess = fmax(floor((left - validations * validation_seconds) / step_seconds),
                        floor(left / (step_seconds + validation_seconds)));
    if (guess > 1e12) guess = 1e12;
    long steps = guess >= 1 ? (long)guess : 1;
    while (steps > 1) {
        const double over = plan_seconds(r, steps, step_seconds, validation_seconds, valid_every) - left;
        if (over <= 0) break;
        const long fewer = (long)ceil(over / (step_seconds + validation_seconds));
        steps -= fewer > 1 ? fewer : 1;
    }
    return steps > 1 ? steps : 1;
}

EndReserve recipe_end_reserve(double budget, double validation_seconds, bool averaging, double search_seconds) {
    EndReserve r = {averaging ? validation_seconds : 0, fmin(search_seconds, RECIPE_SEARCH_SHARE * budget),
                    LENGTH_PENALTY_END_SECONDS, 0};
    r.total = r.average + r.search + r.end;
    return r;
}
