#include "cli/train_recipe.h"

#include <stdio.h>
#include <string.h>

#include "cli/report.h"

static bool given(const TrainOptions *o, const char *name) { return train_option_given(o, name); }

void train_recipe_model(TrainOptions *o, Recipe *recipe, size_t pairs) {
    if (o->pre_ln && o->post_ln) die_usage("train", "--pre-ln and --post-ln contradict each other");
    if (o->tie && o->untie) die_usage("train", "--tie and --untie contradict each other");
    recipe_choose(recipe, pairs);
    if (!given(o, "preset")) o->preset = recipe->preset;
    if (!o->pre_ln && !o->post_ln) o->pre_ln = recipe->pre_ln;
    if (!o->tie && !o->untie) o->tie = recipe->tie;
    if (!given(o, "vocab-size") && o->tokenizer.kind == TOKENIZER_BPE) {
        o->tokenizer.vocab_size = recipe->vocab_size;
    }
    if (!given(o, "dropout")) o->dropout = recipe->dropout;
    if (!given(o, "label-smoothing")) o->label_smoothing = recipe->label_smoothing;
    if (!given(o, "lr")) o->lr = recipe->lr;
}

void train_recipe_batch(TrainOptions *o, const Recipe *recipe, size_t padded_tokens) {
    if (!given(o, "batch-tokens")) o->batch_tokens = recipe_batch_tokens(recipe, padded_tokens);
}

void train_recipe_plan(TrainOptions *o, const Recipe *recipe, const TrainPlan *plan) {
    if (!given(o, "steps")) o->steps = plan->steps;
    if (!given(o, "warmup")) o->warmup = recipe_warmup(recipe, plan->steps);
    if (!given(o, "schedule")) o->schedule = SCHEDULE_COSINE;
    if (!given(o, "valid-every")) o->valid_every = recipe_valid_every(recipe, plan->steps);
    // The plan's end is the stopping rule: a schedule that decays to zero
    // has its best model at its end, not at a plateau halfway.
    if (!given(o, "patience")) o->patience = 0;
    if (!given(o, "average")) o->average = recipe->average;
}

// ---------------------------------------------------------------- the block

static const char *mark(const TrainOptions *o, const char *name) {
    return given(o, name) ? " (given)" : "";
}

static const char *schedule_name(ScheduleKind kind) {
    switch (kind) {
    case SCHEDULE_NOAM: return "noam";
    case SCHEDULE_INVERSE_SQRT: return "inverse-sqrt";
    case SCHEDULE_COSINE: return "cosine";
    case SCHEDULE_CONSTANT: return "constant";
    }
    return "?";
}

// "1h30m", "30m", "90s": a time budget as it would be typed.
static void format_duration(double seconds, char *text, size_t size) {
    long s = (long)(seconds + 0.5);
    if (s % 60 || s < 60) snprintf(text, size, "%gs", seconds);
    else if (s % 3600 == 0) snprintf(text, size, "%ldh", s / 3600);
    else if (s >= 3600) snprintf(text, size, "%ldh%ldm", s / 3600, s % 3600 / 60);
    else snprintf(text, size, "%ldm", s / 60);
}

// Where a time budget goes beside the steps: start-up, and the end of the run.
static void print_budget(const TrainOptions *o, const TrainPlan *plan) {
    const EndReserve *end = &plan->end;
    char search[160] = "";
    if (plan->search_seconds > end->search) {
        snprintf(search, sizeof search, " (the whole would take about %.0f s: it takes the dev pairs that fit)",
                 plan->search_seconds);
    }
    printf("  budget      %.1f s went on start-up (data, tokenizers, timing); %.1f s kept for the end of the run: ",
           plan->budget_spent, end->total);
    if (o->average >= 2) printf("%.1f s to validate the checkpoints' mean, ", end->average);
    printf("%.1f s for the length penalty's search%s, %.1f s to save and end\n", end->search, search, end->end);
}

void train_recipe_print(const TrainOptions *o, const TrainPlan *plan) {
    const bool pre_ln_given = o->pre_ln ? given(o, "pre-ln") : given(o, "post-ln");
    const bool tie_given = o->tie ? given(o, "tie") : given(o, "untie");
    printf("recipe for %zu training pairs (a flag given on the command line wins):\n", plan->pairs);
    printf("  model       %s%s, %s%s, %s%s, dropout %g%s, label smoothing %g%s\n", o->preset,
           mark(o, "preset"), o->pre_ln ? "pre-LN" : "post-LN", pre_ln_given ? " (given)" : "",
           o->tie ? "output layer tied to the target embedding" : "separate output layer",
           tie_given ? " (given)" : "", (double)o->dropout, mark(o, "dropout"),
           (double)o->label_smoothing, mark(o, "label-smoothing"));
    if (o->tokenizer.kind == TOKENIZER_BPE) {
        printf("  vocabulary  bpe, %d ids %s%s\n", o->tokenizer.vocab_size, o->joint ? "shared" : "per side",
               mark(o, "vocab-size"));
    } else {
        printf("  vocabulary  whole words\n");
    }
    printf("  batches     %d tokens%s, %ld an epoch\n", o->batch_tokens, mark(o, "batch-tokens"),
           plan->batches_per_epoch);
    printf("  steps       %ld (%.1f epochs)", o->steps,
           (double)o->steps / (double)(plan->batches_per_epoch > 0 ? plan->batches_per_epoch : 1));
    if (given(o, "steps")) {
        printf(" (given)\n");
    } else if (plan->from_budget) {
        char budget[32];
        format_duration(o->time_budget, budget, sizeof budget);
        printf(", to fit --time-budget %s: %.3g s a step and %.3g s a validation, timed\n", budget,
               plan->step_seconds, plan->validation_seconds);
    } else {
        printf(", from %s\n", plan->planned_from);
    }
    printf("  lr          %g%s, %s%s", (double)o->lr, mark(o, "lr"), schedule_name(o->schedule),
           mark(o, "schedule"));
    if (o->schedule == SCHEDULE_COSINE) printf(" down to %g at step %ld", (double)o->min_lr, o->steps);
    printf(", after %ld warm-up steps%s\n", o->warmup, mark(o, "warmup"));
    size_t translated = plan->dev_pairs < (size_t)o->valid_sentences ? plan->dev_pairs : (size_t)o->valid_sentences;
    printf("  validation  every %ld steps%s, on %zu dev pairs, %zu of them translated\n", o->valid_every,
           mark(o, "valid-every"), plan->dev_pairs, translated);
    printf("  stopping    after %ld steps", o->steps);
    if (o->epochs > 0) printf(" or %ld epochs", o->epochs);
    if (o->time_budget > 0) {
        char budget[32];
        format_duration(o->time_budget, budget, sizeof budget);
        printf(" or %s", budget);
    }
    if (o->patience > 0) printf(", or %d validations without a better dev loss", o->patience);
    printf("%s", mark(o, "patience"));
    if (o->average >= 2) printf("; then the mean of the last %d checkpoints%s", o->average, mark(o, "average"));
    printf("\n");
    if (o->time_budget > 0) print_budget(o, plan);
    fflush(stdout);
}
