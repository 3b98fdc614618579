#include "tokenizer/bpe.h"

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
    uint64_t key = bpe_pair_key(left, right);
    ptrdiff_t index = hmgeti(ranks, key);
    return index < 0 ? INT32_MAX : ranks[index].value;
}

// Repeatedly finds the lowest-ranked adjacent pair and merges every
// left-to-right occurrence of it, as learning did.  rank[i] caches the rank of
// (symbols[i], symbols[i+1]) so that each round is a scan of integers, and
// only pairs next to a new symbol are looked up again: a 10,000-character
// word costs milliseconds, not seconds.
void bpe_encode_piece(const Tokenizer *t, const char *piece, size_t length, int32_t **ids) {
    int32_t *symbols = NULL;
    bpe_split_characters(t, piece, length, &symbols);
    ptrdiff_t n = arrlen(symbols);
    int32_t *rank = NULL;
    unsigned char *fresh = NULL;  // fresh[i]: symbols[i] was made in this round
    arrsetlen(rank, n);
    arrsetlen(fresh, n);
    for (ptrdiff_t i = 0; i + 1 < n; i++) rank[i] = rank_of(t, symbols[i], symbols[i + 1]);

    while (n > 1) {
        int32_t best = INT32_MAX;
        for (ptrdiff_t i = 0; i + 1 < n; i++) if (rank[i] < best) best = rank[i];
        if (best == INT32_MAX) break;
        const int32_t merged = t->merges[best].result;
        // Merge in place.  out <= i throughout, so rank[i] is read before
        // anything is written over it.
        ptrdiff_t out = 0;
        for (ptrdiff_t i = 0; i < n; out++) {
            if (i + 1 < n && rank[i] == best) {
                symbols[out] = merged;
                fresh[out] = 1;
                i += 2;
            } else {
                symbols[out] = symbols[i];
                rank[out] = rank[i];  // still right unless the next symbol is fresh
                fresh[out] = 0;
                i += 1;
            }
        }
        n = out;
        for (ptrdiff_t i = 0; i + 1 < n; i++) {
            if (fresh[i] || fresh[i + 1]) rank[i] = rank_of(t, symbols[i], symbols[i + 1]);
        }
    }
    for (ptrdiff_t i = 0; i < n; i++) arrput(*ids, symbols[i]);
    arrfree(symbols);
    arrfree(rank);
    arrfree(fresh);
}
