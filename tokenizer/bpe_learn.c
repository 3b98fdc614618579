// Learning BPE merges.
//
// The corpus is reduced to its distinct pieces with their counts ("words");
// each word is a sequence of symbols.  Every round merges the most frequent
// adjacent pair.  Recounting all pairs each round would cost
// merges × corpus size; instead we keep, for every pair, its count and the
// words it occurs in, and a max-heap of pairs by count.  A merge then touches
// only the words that contain the pair.  Heap entries are not updated in
// place: a popped entry whose count is out of date is pushed back with the
// current count ("lazy deletion"), and pairs whose count grew are pushed anew.
#include "tokenizer/bpe.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tokenizer/piece_counts.h"
#include "core/utf8.h"

typedef struct {
    int32_t *symbols;    // stb_ds array of token ids
    int64_t count;       // occurrences of this piece in the corpus
    int32_t last_round;  // the last merge round that rewrote this word
} Word;

typedef struct {
    int64_t count;
    int32_t *words;      // stb_ds array of indices into the words (may hold stale ones)
} PairStats;

typedef struct { uint64_t key; PairStats value; } PairMap;
typedef struct { int32_t key; int64_t value; } CharCount;

typedef struct {
    int64_t count;
    uint64_t pair;
} HeapEntry;

// ---------------------------------------------------------------- heap

// Most frequent first; equal counts by smaller ids, so learning is deterministic.
static int heap_before(HeapEntry a, HeapEntry b) {
    return a.count != b.count ? a.count > b.count : a.pair < b.pair;
}

static void heap_push(HeapEntry **heap, HeapEntry e) {
    arrput(*heap, e);
    ptrdiff_t i = arrlen(*heap) - 1;
    while (i > 0) {
        ptrdiff_t parent = (i - 1) / 2;
        if (!heap_before((*heap)[i], (*heap)[parent])) break;
        HeapEntry tmp = (*heap)[i]; (*heap)[i] = (*heap)[parent]; (*heap)[parent] = tmp;
        i = parent;
    }
}

static HeapEntry heap_pop(HeapEntry **heap) {
    HeapEntry top = (*heap)[0];
    (*heap)[0] = arrpop(*heap);
    ptrdiff_t n = arrlen(*heap), i = 0;
    for (;;) {
        ptrdiff_t best = i, l = 2 * i + 1, r = l + 1;
        if (l < n && heap_before((*heap)[l], (*heap)[best])) best = l;
        if (r < n && heap_before((*heap)[r], (*heap)[best])) best = r;
        if (best == i) break;
        HeapEntry tmp = (*heap)[i]; (*heap)[i] = (*heap)[best]; (*heap)[best] = tmp;
        i = best;
    }
    return top;
}

// ---------------------------------------------------------------- pair statistics

// Byte-fallback tokens stand for characters too rare to model; merging them
// would spend vocabulary on noise, so pairs involving them are never counted.
static int mergeable(const Tokenizer *t, int32_t a, int32_t b) {
    return !tokenizer_is_byte(t, a) && !tokenizer_is_byte(t, b);
}

// Adds sign × the word's count to each of its pairs; when adding, records the
// word in each pair's word list and, with `grown`, collects the pairs that
// contain `fresh` (their counts rose, so they need new heap entries).
static void count_word_pairs(const Tokenizer *t, PairMap **pairs, const Word *w, int32_t word_index,
                             int sign, int32_t fresh, uint64_t **grown) {
    for (ptrdiff_t i = 0; i + 1 < arrlen(w->symbols); i++) {
        int32_t a = w->symbols[i], b = w->symbols[i + 1];
        if (!mergeable(t, a, b)) continue;
        uint64_t key = bpe_pair_key(a, b);
        ptrdiff_t index = hmgeti(*pairs, key);
        if (index < 0) {
            PairStats empty = {0, NULL};
            hmput(*pairs, key, empty);
            index = hmgeti(*pairs, key);
        }
        PairStats *stats = &(*pairs)[index].value;
        stats->count += sign * w->count;
        if (sign > 0) {
            if (arrlen(stats->words) == 0 || arrlast(stats->words) != word_index) {
                arrput(stats->words, word_index);
            }
            if (grown && (a == fresh || b == fresh)) arrput(*grown, key);
        }
    }
}

// Replaces every left-to-right occurrence of (a, b) in the word by merged.
static void merge_in_word(Word *w, int32_t a, int32_t b, int32_t merged) {
    ptrdiff_t n = arrlen(w->symbols), out = 0;
    for (ptrdiff_t i = 0; i < n; out++) {
        if (i + 1 < n && w->symbols[i] == a && w->symbols[i + 1] == b) {
            w->symbols[out] = merged;
            i += 2;
        } else {
            w->symbols[out] = w->symbols[i++];
        }
    }
    arrsetlen(w->symbols, out);
}

// ---------------------------------------------------------------- alphabet

static int by_count_then_codepoint(const void *x, const void *y) {
    const CharCount *a = x, *b = y;
    if (a->value != b->value) return a->value > b->value ? -1 : 1;
    return (a->key > b->key) - (a->key < b->key);
}

// Gives a token to each character seen at least min_count times, most
// frequent first, as many as max_chars allows.  Fails only when memory runs out.
static int add_alphabet(Tokenizer *t, const PieceCount *sorted, size_t n_pieces, int64_t min_count,
                        size_t max_chars, Error *err) {
    CharCount *chars = NULL;
    for (size_t p = 0; p < n_pieces; p++) {
        for (const char *s = sorted[p].key; *s;) {
            int32_t cp;
            s += utf8_decode(s, &cp);
            ptrdiff_t index = hmgeti(chars, cp);
            if (index >= 0) chars[index].value += sorted[p].value;
            else hmput(chars, cp, sorted[p].value);
        }
    }
    size_t n_chars = (size_t)hmlen(chars);
    qsort(chars, n_chars, sizeof *chars, by_count_then_codepoint);  // the map is discarded after
    int status = 0;
    for (size_t i = 0; i < n_chars && i < max_chars && chars[i].value >= min_count; i++) {
        char text[4];
        int length = utf8_encode(chars[i].key, text);
        if (tokenizer_add_token(t, text, (size_t)length, -1, -1, err) < 0) {
            status = -1;
            break;
        }
    }
    hmfree(chars);
    return status;
}

// One round of learning: the pair becomes a new token, every word that holds
// it is rewritten, and the pairs those words gained go onto the heap.
static int merge_most_frequent(Tokenizer *t, Word *words, PairMap **pairs, HeapEntry **heap,
                               uint64_t **grown, char **text, uint64_t pair, Error *err) {
    int32_t a = (int32_t)(pair >> 32), b = (int32_t)(uint32_t)pair;
    size_t la = strlen(t->tokens[a].text), lb = strlen(t->tokens[b].text);
    arrsetlen(*text, la + lb);
    memcpy(*text, t->tokens[a].text, la);
    memcpy(*text + la, t->tokens[b].text, lb);
    int32_t merged = tokenizer_add_token(t, *text, la + lb, a, b, err);
    if (merged < 0) return -1;
    int32_t round = (int32_t)arrlen(t->merges);
    BpeMerge merge = {a, b, merged};
    arrput(t->merges, merge);
    hmput(t->merge_rank, pair, round);

    // Take the word list: after this round the pair no longer occurs.
    PairStats *stats = &hmgetp(*pairs, pair)->value;
    int32_t *affected = stats->words;
    stats->words = NULL;
    arrsetlen(*grown, 0);
    for (ptrdiff_t k = 0; k < arrlen(affected); k++) {
        int32_t wi = affected[k];
        Word *w = &words[wi];
        if (w->last_round == round) continue;
        w->last_round = round;
        count_word_pairs(t, pairs, w, wi, -1, -1, NULL);
        merge_in_word(w, a, b, merged);
        count_word_pairs(t, pairs, w, wi, +1, merged, grown);
    }
    arrfree(affected);
    for (ptrdiff_t k = 0; k < arrlen(*grown); k++) {
        PairStats *g = &hmgetp(*pairs, (*grown)[k])->value;
        if (g->count > 0) heap_push(heap, (HeapEntry){g->count, (*grown)[k]});
    }
    return 0;
}

// ---------------------------------------------------------------- learning

int bpe_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences, size_t n,
              Error *err) {
    memset(t, 0, sizeof *t);  // so that a failure leaves nothing to free
    const int first_free_id = TOKEN_SPECIAL_COUNT + 256;
    if (config->vocab_size <= first_free_id) {
        return error_set(err, "vocabulary size %d is too small for bpe: it needs more than %d ids "
                              "(4 specials and 256 byte tokens)", config->vocab_size, first_free_id);
    }
    PieceCount *counts;
    if (count_pieces(sentences, n, config->normalize, &counts, err) < 0) return -1;
    size_t n_pieces = (size_t)shlen(counts);
    PieceCount *sorted = NULL;
    Word *words = NULL;
    PairMap *pairs = NULL;
    HeapEntry *heap = NULL;
    uint64_t *grown = NULL;
    char *text = NULL;  // stb_ds array: the merged token's text
    int status = -1;

    sorted = piece_counts_sorted(counts, err);
    if (!sorted) goto done;
    if (tokenizer_init_specials(t, TOKENIZER_BPE, config->normalize, err) < 0) goto done;
    if (add_alphabet(t, sorted, n_pieces, config->min_count > 0 ? config->min_count : 1,
                     (size_t)(config->vocab_size - first_free_id), err) < 0) {
        goto done;
    }

    words = calloc(n_pieces ? n_pieces : 1, sizeof *words);
    if (!words) {
        error_out_of_memory(err, "learning bpe merges", (n_pieces ? n_pieces : 1) * sizeof *words);
        goto done;
    }
    for (size_t i = 0; i < n_pieces; i++) {
        bpe_split_characters(t, sorted[i].key, strlen(sorted[i].key), &words[i].symbols);
        words[i].count = sorted[i].value;
        words[i].last_round = -1;
        count_word_pairs(t, &pairs, &words[i], (int32_t)i, +1, -1, NULL);
    }
    free(sorted);  // the words hold all that is needed from here on
    sorted = NULL;
    shfree(counts);

    for (ptrdiff_t i = 0; i < hmlen(pairs); i++) {
        if (pairs[i].value.count > 0) {
            heap_push(&heap, (HeapEntry){pairs[i].value.count, pairs[i].key});
        }
    }

    while (tokenizer_vocab_size(t) < (size_t)config->vocab_size && arrlen(heap) > 0) {
        HeapEntry top = heap_pop(&heap);
        PairStats *stats = &hmgetp(pairs, top.pair)->value;
        if (stats->count != top.count) {  // out of date: requeue with the true count
            if (stats->count > 0) heap_push(&heap, (HeapEntry){stats->count, top.pair});
            continue;
        }
        if (top.count < 2) break;  // a pair seen once teaches nothing

        if (merge_most_frequent(t, words, &pairs, &heap, &grown, &text, top.pair, err) < 0) goto done;
    }
    status = 0;

done:
    arrfree(text);
    arrfree(grown);
    arrfree(heap);
    for (ptrdiff_t i = 0; i < hmlen(pairs); i++) arrfree(pairs[i].value.words);
    hmfree(pairs);
    for (size_t i = 0; words && i < n_pieces; i++) arrfree(words[i].symbols);
    free(words);
    free(sorted);
    shfree(counts);
    if (status < 0) tokenizer_free(t);
    return status;
}
