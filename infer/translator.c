#include "infer/translator.h"
#include "cli/report.h"  // TODO(layers): die() goes

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "infer/alignment.h"
#include "model/model_file.h"

int translator_load(Translator *t, const char *model_path, Error *err) {
    return model_load(&t->model, &t->tokenizers, model_path, err);
}

void translator_free(Translator *t) {
    model_free(&t->model);
    tokenizer_pair_free(&t->tokenizers);
}

int translator_encode_source(Translator *t, const char *sentence, int32_t **ids, Error *err) {
    arrsetlen(*ids, 0);
    if (tokenizer_encode(&t->tokenizers.source, sentence, strlen(sentence), ids, err) < 0) return -1;
    if (arrlen(*ids) == 0) return error_set(err, "nothing to translate (empty after normalisation)");
    if (arrlen(*ids) + 1 > t->model.config.max_len) {
        return error_set(err, "too long: %td tokens, the model takes at most %d", arrlen(*ids) + 1,
                         t->model.config.max_len);
    }
    arrput(*ids, TOKEN_EOS);
    return 0;
}

static char *copy_message(const char *text) {
    char *s = strdup(text);
    if (!s) die("out of memory");
    return s;
}

void translation_free(Translation *t) {
    free(t->text);
    free(t->alignment);
    memset(t, 0, sizeof *t);
}

void translator_translate(Translator *t, const SearchOptions *search, const char *const *sentences,
                          size_t n, Translation *out, char **problems) {
    const int n_best = search->n_best < 1 ? 1 : search->n_best > search->beam ? search->beam : search->n_best;
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *rows = calloc(n ? n : 1, sizeof *rows);
    int S = 1, B = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < n_best; k++) memset(&out[i * (size_t)n_best + (size_t)k], 0, sizeof *out);
        problems[i] = NULL;
        Error err;
        if (translator_encode_source(t, sentences[i], &ids[i], &err) < 0) {
            problems[i] = copy_message(err.message);
            continue;
        }
        if (arrlen(ids[i]) > S) S = (int)arrlen(ids[i]);
        rows[B++] = i;
    }
    if (B > 0) {
        int32_t *src = calloc((size_t)B * S, sizeof *src);
        for (int b = 0; b < B; b++) {
            memcpy(src + (size_t)b * S, ids[rows[b]], (size_t)arrlen(ids[rows[b]]) * sizeof *src);
        }
        Hypothesis *hyps = calloc((size_t)B * n_best, sizeof *hyps);
        Error err;
        int status = search->beam <= 1
                         ? greedy_translate(&t->model, src, B, S, hyps, &err)
                         : beam_translate(&t->model, src, B, S, search->beam, search->length_penalty,
                                          n_best, hyps, &err);
        for (int b = 0; b < B; b++) {
            size_t i = rows[b];
            if (status < 0) {
                problems[i] = copy_message(err.message);
                continue;
            }
            for (int k = 0; k < n_best; k++) {
                Hypothesis *h = &hyps[(size_t)b * n_best + (size_t)k];
                Translation *o = &out[i * (size_t)n_best + (size_t)k];
                o->text = tokenizer_decode(&t->tokenizers.target, h->tokens, (size_t)h->length);
                o->score = h->score;
                o->log_prob = h->log_prob;
                o->tokens = h->length + 1;
                if (search->alignment && h->attention) {
                    int *source_word;
                    int words = align_words(&t->tokenizers.source, ids[i], (int)arrlen(ids[i]) - 1,
                                            &t->tokenizers.target, h, &source_word);
                    o->alignment = alignment_pharaoh(source_word, words);
                    free(source_word);
                }
                hypothesis_free(h);
            }
        }
        free(hyps);
        free(src);
    }
    for (size_t i = 0; i < n; i++) arrfree(ids[i]);
    free(ids);
    free(rows);
}
