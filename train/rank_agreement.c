// Every rank's shape against rank 0's (rank_agreement.h).
#include "train/rank_agreement.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/world.h"

static bool same_shape(const RankShape *a, const RankShape *b) {
    return a->parameters == b->parameters && a->training_pairs == b->training_pairs &&
           a->batch_tokens == b->batch_tokens && a->seed == b->seed && a->time_budget == b->time_budget;
}

// "rank R has a model of N parameters and M training pairs", then each
// option in which it differs from the other rank's.
static void describe(int rank, const RankShape *s, const RankShape *other, char *text, size_t size) {
    int n = snprintf(text, size, "rank %d has a model of %zu parameters and %zu training pairs", rank,
                     s->parameters, s->training_pairs);
    if (s->batch_tokens != other->batch_tokens && n >= 0 && (size_t)n < size) {
        n += snprintf(text + n, size - (size_t)n, ", --batch-tokens %ld", s->batch_tokens);
    }
    if (s->seed != other->seed && n >= 0 && (size_t)n < size) {
        n += snprintf(text + n, size - (size_t)n, ", --seed %" PRIu64, s->seed);
    }
    if (s->time_budget != other->time_budget && n >= 0 && (size_t)n < size) {
        if (s->time_budget > 0) snprintf(text + n, size - (size_t)n, ", --time-budget %gs", s->time_budget);
        else snprintf(text + n, size - (size_t)n, ", no --time-budget");
    }
}

int ranks_agree(const RankShape *mine, Error *err) {
    const int size = world()->size;
    RankShape *all = malloc((size_t)size * sizeof *all);
    if (!all) return error_out_of_memory(err, "the ranks' shapes", (size_t)size * sizeof *all);
    if (world_gather(mine, sizeof *mine, all, err) < 0) {
        free(all);
        return -1;
    }
    int differs = 0;
    for (int rank = 1; rank < size && !differs; rank++) {
        if (!same_shape(&all[rank], &all[0])) differs = rank;
    }
    if (differs) {
        char first[256], other[256];
        describe(0, &all[0], &all[differs], first, sizeof first);
        describe(differs, &all[differs], &all[0], other, sizeof other);
        error_set(err, "the ranks differ: %s, %s; every rank must be started with the same corpus, "
                       "options and --out", first, other);
    }
    free(all);
    return differs ? 1 : 0;
}
