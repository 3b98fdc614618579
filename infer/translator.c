#include "infer/translator.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "infer/greedy.h"
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

void translator_translate(Translator *t, const char *const *sentences, size_t n, char **out,
                          char **problems) {
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *rows = calloc(n ? n : 1, sizeof *rows);
    int S = 1, B = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = problems[i] = NULL;
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
        int limit = translation_length_limit(&t->model, S);
        int32_t *hyp = malloc((size_t)B * limit * sizeof *hyp);
        int *lengths = malloc((size_t)B * sizeof *lengths);
        Error err;
        if (greedy_translate(&t->model, src, B, S, limit, hyp, lengths, &err) < 0) {
            for (int b = 0; b < B; b++) problems[rows[b]] = copy_message(err.message);
        } else {
            for (int b = 0; b < B; b++) {
                out[rows[b]] = tokenizer_decode(&t->tokenizers.target, hyp + (size_t)b * limit,
                                                (size_t)lengths[b]);
            }
        }
        free(src);
        free(hyp);
        free(lengths);
    }
    for (size_t i = 0; i < n; i++) arrfree(ids[i]);
    free(ids);
    free(rows);
}
