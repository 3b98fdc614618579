// How often each pre-token piece occurs in a set of sentences: the statistic
// both vocabulary learners start from.
#ifndef AZUL_PIECE_COUNTS_H
#define AZUL_PIECE_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "tokenizer/normalize.h"

typedef struct { char *key; int64_t value; } PieceCount;  // stb_ds string map

// Normalises and pre-tokenises every sentence and counts the pieces into a
// new map *counts (free with shfree).  Fails on invalid UTF-8, naming the
// sentence (1-based) and byte, or when memory runs out; *counts is then NULL.
int count_pieces(const char *const *sentences, size_t n, NormalizeOptions normalize,
                 PieceCount **counts, Error *err);

// The map's entries sorted by count, most frequent first, ties by byte order,
// so that everything learned from them is deterministic.  Free with free();
// NULL with err set when memory runs out.
PieceCount *piece_counts_sorted(PieceCount *counts, Error *err);

#endif
