// Corpus BLEU and chrF, computed as sacreBLEU 2.x computes them with its
// defaults, so that azul's numbers can be compared with published ones:
//   BLEU: the 13a tokenizer, n-grams up to 4, "exp" smoothing, case-sensitive,
//         closest reference length for the brevity penalty (Papineni et al. 2002)
//   chrF2: character n-grams up to 6, no word n-grams, β = 2, whitespace
//         ignored (Popović 2015)
// Several references are allowed: BLEU clips n-gram counts by the largest
// count in any reference; chrF takes, per sentence, the best reference.
// Every line given to these functions must be valid UTF-8 (check with
// utf8_validate first, as `azul bleu` does): they step over characters by
// their lead bytes and would read past the end of a truncated sequence.
#ifndef AZUL_BLEU_H
#define AZUL_BLEU_H

#include <stddef.h>

typedef struct {
    double score;            // 0..100
    double precisions[4];    // in percent, as sacreBLEU reports them
    double bp, ratio;
    long sys_len, ref_len;
    long matches[4], totals[4];
} BleuScore;

typedef struct {
    double score;            // 0..100
    long hyp[6], ref[6], match[6];
} ChrfScore;

// refs[r][i] is reference r of sentence i.  Each returns 0, or -1 when
// memory runs out: out then holds no counts and a NaN score, so that a
// caller which does not check cannot take it for a real one.
int bleu_corpus_score(const char *const *hyps, size_t n, const char *const *const *refs,
                      size_t n_refs, BleuScore *out);
int chrf_corpus_score(const char *const *hyps, size_t n, const char *const *const *refs,
                      size_t n_refs, ChrfScore *out);

// The 13a tokenization of a line, tokens separated by single spaces
// (malloc'd; NULL when memory runs out).
char *bleu_tokenize_13a(const char *line);

// Strips trailing white space as Python's str.rstrip() does (in place).
void strip_trailing_space(char *line);

// The sentences of a text as sacreBLEU reads a file: split on '\n' only (a
// final newline ends the last line), trailing white space removed.  Cuts
// text in place; returns an stb_ds array of pointers into it.
char **sentence_lines(char *text, size_t length);

#endif
