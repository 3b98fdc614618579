#include "infer/translator.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include <cjson/cJSON.h>

#include "core/json_tree.h"
#include "infer/alignment.h"
#include "model/model_file.h"
#include "model/safetensors.h"

// The length penalty the file's "decoding" entry holds ({"length_penalty":
// 1.2}), or the default when it has none; an entry that is there but not
// such an object is an error.
static int read_decoding(Translator *t, Error *err) {
    t->length_penalty = TRANSLATOR_DEFAULT_LENGTH_PENALTY;
    const char *text = t->model.file ? safetensors_metadata(t->model.file, "decoding") : NULL;
    if (!text) return 0;
    // bounded like every JSON a model file holds: the header's count of
    // values does not see inside this string
    Error unparsed;
    cJSON *j = json_parse_bounded(text, strlen(text), JSON_MAX_SETTINGS_VALUES, "metadata \"decoding\"",
                                  &unparsed);
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(j, "length_penalty");
    double x = cJSON_IsNumber(alpha) ? alpha->valuedouble : -1;
    cJSON_Delete(j);
    if (!(x >= 0 && x <= 10)) {
        return error_set(err, "metadata \"decoding\" must be an object with a \"length_penalty\" from 0 to 10");
    }
    t->length_penalty = (float)x;
    return 0;
}

int translator_load(Translator *t, const char *model_path, Error *err) {
    memset(t, 0, sizeof *t);
    char *json_text = NULL;
    if (model_load(&t->model, &json_text, model_path, err) < 0) return -1;
    const ModelConfig *c = &t->model.config;
    Error inner;
    // the config, already checked, says how many values the tokenizers can need
    int status = json_text ? tokenizer_pair_from_text(&t->tokenizers, json_text,
                                                      tokenizer_pair_max_json_values(c->src_vocab, c->tgt_vocab),
                                                      &inner)
                           : error_set(&inner, "metadata \"tokenizers\" is missing");
    free(json_text);
    if (status == 0 && read_decoding(t, &inner) < 0) {
        tokenizer_pair_free(&t->tokenizers);
        status = -1;
    }
    if (status == 0 && tokenizer_pair_check_sizes(&t->tokenizers, c->src_vocab, c->tgt_vocab, &inner) < 0) {
        tokenizer_pair_free(&t->tokenizers);
        status = -1;
    }
    if (status < 0) {
        model_free(&t->model);
        char *path = model_file_path(model_path);
        error_set(err, "%s: %s", path ? path : model_path, inner.message);
        free(path);
        return -1;
    }
    return 0;
}

void translator_free(Translator *t) {
    model_free(&t->model);
    tokenizer_pair_free(&t->tokenizers);
}

size_t sentence_max_bytes(int max_len) {
    return (size_t)max_len * SENTENCE_MAX_BYTES_PER_TOKEN;
}

int encode_source_sentence(Tokenizer *source, int max_len, const char *sentence, int32_t **ids,
                           Error *err) {
    arrsetlen(*ids, 0);
    const size_t bytes = strlen(sentence);
    if (bytes > sentence_max_bytes(max_len)) {
        return error_set(err, "too long: %zu bytes, the model takes at most %zu (%d tokens)", bytes,
                         sentence_max_bytes(max_len), max_len);
    }
    if (tokenizer_encode(source, sentence, strlen(sentence), ids, err) < 0) return -1;
    if (arrlen(*ids) == 0) return error_set(err, "nothing to translate (empty after normalisation)");
    if (arrlen(*ids) + 1 > max_len) {
        return error_set(err, "too long: %td tokens, the model takes at most %d", arrlen(*ids) + 1, max_len);
    }
    arrput(*ids, TOKEN_EOS);
    return 0;
}

int translator_encode_source(Translator *t, const char *sentence, int32_t **ids, Error *err) {
    return encode_source_sentence(&t->tokenizers.source, t->model.config.max_len, sentence, ids, err);
}

void translation_free(Translation *t) {
    free(t->text);
    free(t->alignment);
    free(t->ids);
    memset(t, 0, sizeof *t);
}

// Fills out[0 .. n_best) from the search's hypotheses of one sentence.
static int keep_translations(Translator *t, const SearchOptions *search, const int32_t *src_ids,
                             Hypothesis *hyps, int n_best, Translation *out, Error *err) {
    for (int k = 0; k < n_best; k++) {
        Hypothesis *h = &hyps[k];
        Translation *o = &out[k];
        o->text = tokenizer_decode(&t->tokenizers.target, h->tokens, (size_t)h->length);
        if (!o->text) return error_out_of_memory(err, "a translation", (size_t)h->length * 16);
        o->score = h->score;
        o->log_prob = h->log_prob;
        o->tokens = h->length + 1;
        o->ids = malloc(((size_t)h->length + 1) * sizeof *o->ids);
        if (!o->ids) return error_out_of_memory(err, "a translation", (size_t)h->length * sizeof *o->ids);
        memcpy(o->ids, h->tokens, (size_t)h->length * sizeof *o->ids);
        if (search->alignment && h->attention) {
            int *source_word;
            int words = align_words(&t->tokenizers.source, src_ids, (int)arrlen(src_ids) - 1,
                                    &t->tokenizers.target, h, &source_word, err);
            if (words < 0) return -1;
            o->alignment = alignment_pharaoh(source_word, words);
            free(source_word);
            if (!o->alignment) return error_out_of_memory(err, "an alignment", (size_t)words * 24);
        }
    }
    return 0;
}

// Searches the B encodable sentences (rows[b] is sentence b's index) together.
static int search_batch(Translator *t, const SearchOptions *search, int32_t **ids,
                        const size_t *rows, int B, int S, int n_best, Translation *out,
                        char **problems, Error *err) {
    int32_t *src = calloc((size_t)B * S, sizeof *src);
    Hypothesis *hyps = calloc((size_t)B * n_best, sizeof *hyps);
    if (!src || !hyps) {
        free(src);
        free(hyps);
        return error_out_of_memory(err, "a batch of sentences", (size_t)B * S * sizeof *src);
    }
    for (int b = 0; b < B; b++) {
        memcpy(src + (size_t)b * S, ids[rows[b]], (size_t)arrlen(ids[rows[b]]) * sizeof *src);
    }
    Error search_err;
    int status = search->beam <= 1
                     ? greedy_translate_until(&t->model, src, B, S, search->deadline, hyps, &search_err)
                     : beam_translate_until(&t->model, src, B, S, search->beam, search->length_penalty,
                                            n_best, search->deadline, hyps, &search_err);
    int result = 0;
    for (int b = 0; b < B && result == 0; b++) {
        size_t i = rows[b];
        if (status < 0) {  // the search failed for the batch: say so for each of its sentences
            if (!(problems[i] = strdup(search_err.message))) result = error_out_of_memory(err, "a message", 1024);
            continue;
        }
        result = keep_translations(t, search, ids[i], hyps + (size_t)b * n_best, n_best,
                                   out + i * (size_t)n_best, err);
    }
    for (size_t k = 0; status == 0 && k < (size_t)B * n_best; k++) hypothesis_free(&hyps[k]);
    free(hyps);
    free(src);
    return result;
}

typedef struct {
    ptrdiff_t length;  // source tokens
    size_t index;      // the sentence
} SourceLength;

// Shortest first; in input order on ties.
static int by_length(const void *x, const void *y) {
    const SourceLength *a = x, *b = y;
    if (a->length != b->length) return a->length < b->length ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

// Searches the B encodable sentences rows[0 .. B) in batches of
// search->batch, sorted by length.
static int search_sorted(Translator *t, const SearchOptions *search, int32_t **ids, size_t *rows,
                         int B, int n_best, Translation *out, char **problems, Error *err) {
    SourceLength *order = malloc((size_t)B * sizeof *order);
    if (!order) return error_out_of_memory(err, "sorting sentences", (size_t)B * sizeof *order);
    for (int b = 0; b < B; b++) order[b] = (SourceLength){arrlen(ids[rows[b]]), rows[b]};
    qsort(order, (size_t)B, sizeof *order, by_length);
    for (int b = 0; b < B; b++) rows[b] = order[b].index;
    free(order);
    const int batch = search->batch > 0 ? search->batch : B;
    int status = 0;
    for (int first = 0; first < B && status == 0; first += batch) {
        const int n = B - first < batch ? B - first : batch;
        const int S = (int)arrlen(ids[rows[first + n - 1]]);  // the batch's longest
        status = search_batch(t, search, ids, rows + first, n, S, n_best, out, problems, err);
    }
    return status;
}

int translator_translate(Translator *t, const SearchOptions *search, const char *const *sentences,
                         size_t n, Translation *out, char **problems, Error *err) {
    const int n_best = search->n_best < 1 ? 1 : search->n_best > search->beam ? search->beam : search->n_best;
    memset(out, 0, n * (size_t)n_best * sizeof *out);
    memset(problems, 0, n * sizeof *problems);
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *rows = calloc(n ? n : 1, sizeof *rows);
    int B = 0, status = 0;
    if (!ids || !rows) status = error_out_of_memory(err, "a batch of sentences", n * sizeof *ids);
    for (size_t i = 0; i < n && status == 0; i++) {
        Error why;
        if (translator_encode_source(t, sentences[i], &ids[i], &why) < 0) {
            if (!(problems[i] = strdup(why.message))) status = error_out_of_memory(err, "a message", 1024);
            continue;
        }
        rows[B++] = i;
    }
    if (status == 0 && B > 0) status = search_sorted(t, search, ids, rows, B, n_best, out, problems, err);
    for (size_t i = 0; ids && i < n; i++) arrfree(ids[i]);
    free(ids);
    free(rows);
    if (status < 0) {
        for (size_t i = 0; i < n * (size_t)n_best; i++) translation_free(&out[i]);
        for (size_t i = 0; i < n; i++) free(problems[i]), problems[i] = NULL;
    }
    return status;
}
