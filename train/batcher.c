#include "train/batcher.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/rng.h"
#include "tokenizer/tokenizer.h"

static const Dataset *sort_dataset;  // qsort has no context argument


static int by_length(const void *x, const void *y) {
    const EncodedPair *a = &sort_dataset->pairs[*(const uint32_t *)x];
    const EncodedPair *b = &sort_dataset->pairs[*(const uint32_t *)y];
    if (a->tgt_len != b->tgt_len) return a->tgt_len - b->tgt_len;
    return a->src_len - b->src_len;
}

// qsort is not stable; ties keep the shuffled order by comparing positions.
typedef struct { uint32_t pair, position; } Keyed;
static int by_length_then_position(const void *x, const void *y) {
    const Keyed *a = x, *b = y;
    int c = by_length(&a->pair, &b->pair);
    return c ? c : (a->position > b->position) - (a->position < b->position);
}

static void shuffle(uint32_t *items, size_t n, Rng *rng) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(rng) % i);
        uint32_t t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
}

int batcher_plan_epoch(Batcher *b, const Dataset *d, uint64_t seed, long epoch, int max_tokens,
                       Error *err) {
    size_t n = dataset_size(d);
    size_t bytes = (n ? n : 1) * sizeof(Keyed);
    Keyed *keyed = malloc(bytes);
    if (!keyed) return error_out_of_memory(err, "planning the batches of an epoch", bytes);
    arrsetlen(b->order, n);
    arrsetlen(b->batches, 0);
    b->max_rows = b->max_src = b->max_tgt = 0;
    for (size_t i = 0; i < n; i++) b->order[i] = (uint32_t)i;
    Rng rng;
    rng_seed(&rng, seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch);
    shuffle(b->order, n, &rng);

    for (size_t i = 0; i < n; i++) keyed[i] = (Keyed){b->order[i], (uint32_t)i};
    sort_dataset = d;
    qsort(keyed, n, sizeof *keyed, by_length_then_position);
    for (size_t i = 0; i < n; i++) b->order[i] = keyed[i].pair;
    free(keyed);

    // Cut: grow a batch while rows × its longest side stays within max_tokens.
    size_t first = 0;
    while (first < n) {
        int src = 0, tgt = 0;
        size_t count = 0;
        while (first + count < n) {
            const EncodedPair *p = &d->pairs[b->order[first + count]];
            int s = p->src_len > src ? p->src_len : src;
            int t = p->tgt_len + 1 > tgt ? p->tgt_len + 1 : tgt;
            int side = s > t ? s : t;
            if (count > 0 && (long)(count + 1) * side > max_tokens) break;
            src = s;
            tgt = t;
            count++;
        }
        BatchSpan span = {(uint32_t)first, (uint32_t)count};
        arrput(b->batches, span);
        if ((int)count > b->max_rows) b->max_rows = (int)count;
        if (src > b->max_src) b->max_src = src;
        if (tgt > b->max_tgt) b->max_tgt = tgt;
        first += count;
    }
    // Shuffle the batches so that an epoch does not run from short to long.
    size_t nb = (size_t)arrlen(b->batches);
    for (size_t i = nb; i > 1; i--) {
        size_t j = (size_t)(rng_next(&rng) % i);
        BatchSpan t = b->batches[i - 1];
        b->batches[i - 1] = b->batches[j];
        b->batches[j] = t;
    }
    return 0;
}

size_t batcher_count(const Batcher *b) { return (size_t)arrlen(b->batches); }

void batcher_free(Batcher *b) {
    arrfree(b->order);
    arrfree(b->batches);
    memset(b, 0, sizeof *b);
}

int batch_fill_pairs(const Dataset *d, const uint32_t *pairs, int count, int32_t *src,
                     int32_t *tgt_in, int32_t *tgt_out, int *S, int *T) {
    int s_max = 1, t_max = 1;
    for (int i = 0; i < count; i++) {
        const EncodedPair *p = &d->pairs[pairs[i]];
        if (p->src_len > s_max) s_max = p->src_len;
        if (p->tgt_len + 1 > t_max) t_max = p->tgt_len + 1;
    }
    memset(src, 0, (size_t)count * s_max * sizeof *src);  // TOKEN_PAD is 0
    memset(tgt_in, 0, (size_t)count * t_max * sizeof *tgt_in);
    memset(tgt_out, 0, (size_t)count * t_max * sizeof *tgt_out);
    for (int i = 0; i < count; i++) {
        const EncodedPair *p = &d->pairs[pairs[i]];
        memcpy(src + (size_t)i * s_max, d->ids + p->src_offset, p->src_len * sizeof *src);
        const int32_t *y = d->ids + p->tgt_offset;
        int32_t *in = tgt_in + (size_t)i * t_max, *out = tgt_out + (size_t)i * t_max;
        in[0] = TOKEN_BOS;
        memcpy(in + 1, y, p->tgt_len * sizeof *y);
        memcpy(out, y, p->tgt_len * sizeof *y);
        out[p->tgt_len] = TOKEN_EOS;
    }
    *S = s_max;
    *T = t_max;
    return count;
}

int batcher_fill(const Batcher *b, const Dataset *d, size_t k, int32_t *src, int32_t *tgt_in,
                 int32_t *tgt_out, int *S, int *T) {
    const BatchSpan *span = &b->batches[k];
    return batch_fill_pairs(d, b->order + span->first, (int)span->count, src, tgt_in, tgt_out, S, T);
}
