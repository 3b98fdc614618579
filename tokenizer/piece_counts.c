#include "tokenizer/piece_counts.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tokenizer/pretokenize.h"

int count_pieces(const char *const *sentences, size_t n, NormalizeOptions normalize,
                 PieceCount **counts, Error *err) {
    *counts = NULL;
    sh_new_arena(*counts);
    Piece *pieces = NULL;
    char *spaced = NULL;  // stb_ds array: " " + normal form + NUL
    for (size_t s = 0; s < n; s++) {
        size_t length;
        Error inner;
        char *normal = normalize_text(sentences[s], strlen(sentences[s]), normalize, &length,
                                      &inner);
        if (!normal) {
            arrfree(pieces);
            arrfree(spaced);
            shfree(*counts);
            return error_set(err, "sentence %zu: %s", s + 1, inner.message);
        }
        arrsetlen(spaced, length + 2);
        spaced[0] = ' ';
        memcpy(spaced + 1, normal, length + 1);
        free(normal);
        arrsetlen(pieces, 0);
        if (length > 0) pretokenize(spaced, length + 1, &pieces);
        for (ptrdiff_t i = 0; i < arrlen(pieces); i++) {
            char *piece = spaced + pieces[i].start;
            char saved = piece[pieces[i].length];
            piece[pieces[i].length] = '\0';  // the map wants a C string key
            ptrdiff_t index = shgeti(*counts, piece);
            if (index >= 0) (*counts)[index].value++;
            else shput(*counts, piece, 1);
            piece[pieces[i].length] = saved;
        }
    }
    arrfree(pieces);
    arrfree(spaced);
    return 0;
}

static int by_count_then_text(const void *a, const void *b) {
    const PieceCount *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return strcmp(x->key, y->key);
}

PieceCount *piece_counts_sorted(PieceCount *counts, Error *err) {
    size_t n = (size_t)shlen(counts);
    PieceCount *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        error_out_of_memory(err, "sorting the pieces of the corpus", (n ? n : 1) * sizeof *sorted);
        return NULL;
    }
    memcpy(sorted, counts, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_count_then_text);
    return sorted;
}
