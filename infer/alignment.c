#include "infer/alignment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Word index of each token: a token that begins with a space starts a word.
// NULL when memory runs out.
static int *word_of_tokens(const Tokenizer *t, const int32_t *ids, int n, int *n_words) {
    int *word = malloc(((size_t)n + 1) * sizeof *word);
    if (!word) return NULL;
    int w = -1;
    for (int i = 0; i < n; i++) {
        const char *text = t->tokens[ids[i]].text;
        if (w < 0 || (ids[i] >= TOKEN_SPECIAL_COUNT && !tokenizer_is_byte(t, ids[i]) && text[0] == ' ')) w++;
        word[i] = w;
    }
    *n_words = w + 1;
    return word;
}

int align_words(const Tokenizer *source, const int32_t *src_ids, int src_len,
                const Tokenizer *target, const Hypothesis *h, int **source_word, Error *err) {
    *source_word = NULL;
    int n_src_words = 0, n_tgt_words = 0;
    int *src_word = word_of_tokens(source, src_ids, src_len, &n_src_words);
    int *tgt_word = word_of_tokens(target, h->tokens, h->length, &n_tgt_words);
    const size_t cells = (size_t)n_tgt_words * (n_src_words ? n_src_words : 1);
    double *mass = src_word && tgt_word ? calloc(cells ? cells : 1, sizeof *mass) : NULL;
    *source_word = mass ? malloc(((size_t)n_tgt_words + 1) * sizeof **source_word) : NULL;
    if (!*source_word) {
        free(mass);
        free(src_word);
        free(tgt_word);
        return error_out_of_memory(err, "a word alignment", cells * sizeof *mass);
    }
    // Sum each target word's attention over the tokens of each source word.
    for (int t = 0; t < h->length; t++) {
        const float *row = h->attention + (size_t)t * h->S;
        for (int s = 0; s < src_len; s++) mass[(size_t)tgt_word[t] * n_src_words + src_word[s]] += row[s];
    }
    for (int t = 0; t < n_tgt_words; t++) {
        int best = 0;
        for (int s = 1; s < n_src_words; s++) {
            if (mass[(size_t)t * n_src_words + s] > mass[(size_t)t * n_src_words + best]) best = s;
        }
        (*source_word)[t] = best;
    }
    free(mass);
    free(src_word);
    free(tgt_word);
    return n_tgt_words;
}

char *alignment_pharaoh(const int *source_word, int n_target_words) {
    char *out = malloc((size_t)n_target_words * 24 + 1);
    if (!out) return NULL;
    size_t n = 0;
    out[0] = '\0';
    for (int t = 0; t < n_target_words; t++) {
        n += (size_t)sprintf(out + n, "%s%d-%d", t ? " " : "", source_word[t], t);
    }
    return out;
}
