#include "tokenizer/bpe.h"

#include <stdbool.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/utf8.h"

void bpe_split_characters(const Tokenizer *t, const char *piece, size_t length,
                          int32_t **symbols) {
    for (size_t i = 0; i < length;) {
        int32_t cp;
        int n = utf8_decode(piece + i, &cp);
        char character[5];
        memcpy(character, piece + i, (size_t)n);
        character[n] = '\0';
        int32_t id = tokenizer_lookup(t, character);
        if (id >= 0) {
            arrput(*symbols, id);
        } else {  // byte fallback
            for (int k = 0; k < n; k++) {
                arrput(*symbols, TOKEN_FIRST_BYTE + (int32_t)(unsigned char)piece[i + k]);
            }
        }
        i += (size_t)n;
    }
}

static int32_t rank_of(const Tokenizer *t, int32_t left, int32_t right) {
    PairToRank *ranks = t->merge_rank;  // stb_ds lookups assign to the map variable
    // A lookup in a map that was never made (a bpe vocabulary without merges)
    // would allocate a fresh one into `ranks` and lose it: a leak per pair.
    if (!ranks) return INT32_MAX;
    uint64_t key = bpe_pair_key(left, right);
    ptrdiff_t index = hmgeti(ranks, key);
    return index < 0 ? INT32_MAX : ranks[index].value;
}

// A pair of neighbouring symbols that a merge may join: the left one's
// position, and the pair as it was when this entry was made.
typedef struct {
    int32_t rank, position, left, right;
} Candidate;

static bool comes_first(Candidate a, Candidate b) {
    return a.rank != b.rank ? a.rank < b.rank : a.position < b.position;
}

static void push(Candidate **heap, const Tokenizer *t, const int32_t *symbols, int32_t i, int32_t j) {
    Candidate c = {rank_of(t, symbols[i], symbols[j]), i, symbols[i], symbols[j]};
    if (c.rank == INT32_MAX) return;  // no merge joins them
    arrput(*heap, c);
    for (ptrdiff_t k = arrlen(*heap) - 1; k > 0;) {
        ptrdiff_t parent = (k - 1) / 2;
        if (!comes_first((*heap)[k], (*heap)[parent])) break;
        Candidate swap = (*heap)[k]; (*heap)[k] = (*heap)[parent]; (*heap)[parent] = swap;
        k = parent;
    }
}

static Candidate pop(Candidate *heap) {
    Candidate top = heap[0];
    heap[0] = arrpop(heap);
    ptrdiff_t n = arrlen(heap);
    for (ptrdiff_t k = 0;;) {
        ptrdiff_t first = k, l = 2 * k + 1, r = l + 1;
        if (l < n && comes_first(heap[l], heap[first])) first = l;
        if (r < n && comes_first(heap[r], heap[first])) first = r;
        if (first == k) break;
        Candidate swap = heap[k]; heap[k] = heap[first]; heap[first] = swap;
        k = first;
    }
    return top;
}

// Merges the lowest-ranked adjacent pair first and, among equal ranks, the
// leftmost — the order learning used, since a pair containing a merge's
// result always ranks after that merge.  The symbols are a linked list and
// the candidate pairs a min-heap whose out-of-date entries are skipped when
// they come up, so a piece of n characters costs O(n log n): a huge piece
// (a megabyte without a space) is never quadratic.
void bpe_encode_piece(const Tokenizer *t, const char *piece, size_t length, int32_t **ids) {
    int32_t *symbols = NULL, *next = NULL, *prev = NULL;  // symbols[i] < 0: merged away
    Candidate *heap = NULL;
    bpe_split_characters(t, piece, length, &symbols);
    int32_t n = (int32_t)arrlen(symbols);
    arrsetlen(next, n);
    arrsetlen(prev, n);
    for (int32_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
        if (i + 1 < n) push(&heap, t, symbols, i, i + 1);
    }
    while (arrlen(heap) > 0) {
        Candidate c = pop(heap);
        int32_t i = c.position, j = next[i];
        if (symbols[i] != c.left || j < 0 || symbols[j] != c.right) continue;  // out of date
        symbols[i] = t->merges[c.rank].result;
        symbols[j] = -1;
        next[i] = next[j];
        if (next[i] >= 0) prev[next[i]] = i;
        if (prev[i] >= 0) push(&heap, t, symbols, prev[i], i);
        if (next[i] >= 0) push(&heap, t, symbols, i, next[i]);
    }
    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) arrput(*ids, symbols[i]);
    arrfree(symbols);
    arrfree(next);
    arrfree(prev);
    arrfree(heap);
}
