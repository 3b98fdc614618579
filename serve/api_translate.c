// POST /api/translate: {"text", "beam"?, "n_best"?} →
//   {"source", "source_tokens": [{"id", "piece", "byte"}], "source_words",
//    "beam", "length_penalty",
//    "translations": [{"text", "score", "log_prob", "tokens", "words",
//                      "alignment": [[source word, target word], ...]}]}
// The tokens are what the model read and wrote (pieces as the tokenizer
// shows them, byte fallbacks marked); the alignment links whitespace-split
// words, as `azul translate --alignment` does.
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/json_tree.h"
#include "core/utf8.h"
#include "serve/api_requests.h"

// [{"id", "piece", "byte"}] for n ids; NULL when memory runs out.
static cJSON *tokens_json(const Tokenizer *t, const int32_t *ids, int n) {
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < n; i++) {
        // as the attention labels its tokens: a long piece cut by the display
        // may end inside a character, which becomes U+FFFD
        char shown[256];
        tokenizer_token_display(t, ids[i], shown, sizeof shown);
        char *piece = utf8_printable(shown);
        cJSON *token = piece ? cJSON_CreateObject() : NULL;
        bool ok = token && cJSON_AddNumberToObject(token, "id", ids[i]) &&
                  cJSON_AddStringToObject(token, "piece", piece) &&
                  cJSON_AddBoolToObject(token, "byte", tokenizer_is_byte(t, ids[i]));
        free(piece);
        if (!ok) cJSON_Delete(token);
        if (!ok || !json_append(list, token)) {
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}

// The text's words, split at spaces as the alignment counts them.
static cJSON *words_json(const char *text) {
    cJSON *list = cJSON_CreateArray();
    for (const char *p = text; list && *p;) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, " ");
        if (n == 0) break;
        cJSON *word = NULL;
        char *copy = malloc(n + 1);
        if (copy) {
            memcpy(copy, p, n);
            copy[n] = '\0';
            word = cJSON_CreateString(copy);
            free(copy);
        }
        if (!json_append(list, word)) {
            cJSON_Delete(list);
            return NULL;
        }
        p += n;
    }
    return list;
}

// "0-0 1-2" → [[0,0],[1,2]]; NULL when memory runs out.
static cJSON *alignment_json(const char *pharaoh) {
    cJSON *list = cJSON_CreateArray();
    for (const char *p = pharaoh ? pharaoh : ""; list && *p;) {
        char *end;
        long s = strtol(p, &end, 10);
        if (*end != '-') break;
        long t = strtol(end + 1, &end, 10);
        const int pair[2] = {(int)s, (int)t};
        if (!json_append(list, cJSON_CreateIntArray(pair, 2))) {
            cJSON_Delete(list);
            return NULL;
        }
        p = end + strspn(end, " ");
    }
    return list;
}

static cJSON *translation_json(const Translator *t, const Translation *tr) {
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "text", tr->text) &&
              cJSON_AddNumberToObject(o, "score", tr->score) &&
              cJSON_AddNumberToObject(o, "log_prob", tr->log_prob) &&
              json_attach(o, "tokens", tokens_json(&t->tokenizers.target, tr->ids, tr->tokens - 1)) &&
              json_attach(o, "words", words_json(tr->text)) &&
              json_attach(o, "alignment", alignment_json(tr->alignment));
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}

// The reply for a sentence translated n_best ways.
static cJSON *translations_reply(Translator *t, const char *text, const int32_t *source_ids,
                                 const SearchOptions *search, const Translation *out) {
    cJSON *o = cJSON_CreateObject(), *list = NULL;
    bool ok = o && cJSON_AddStringToObject(o, "source", text) &&
              json_attach(o, "source_tokens", tokens_json(&t->tokenizers.source, source_ids,
                                                          (int)arrlen(source_ids))) &&
              json_attach(o, "source_words", words_json(text)) &&
              cJSON_AddNumberToObject(o, "beam", search->beam) &&
              cJSON_AddNumberToObject(o, "length_penalty", search->length_penalty) &&
              (list = cJSON_AddArrayToObject(o, "translations")) != NULL;
    for (int k = 0; ok && k < search->n_best; k++) ok = json_append(list, translation_json(t, &out[k]));
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}

void answer_translate(const Api *api, const char *body, size_t length, Reply *reply) {
    cJSON *request = request_parse(body, length, reply);
    if (!request) return;
    Translator *t = api->translator;
    const char *text = NULL;
    SearchOptions search = {.beam = 1, .length_penalty = t->length_penalty, .n_best = 1,
                            .alignment = true, .batch = 1, .deadline = request_deadline(api)};
    if (!request_string(request, "text", true, &text, reply) ||
        !request_int(request, "beam", 1, API_MAX_BEAM, &search.beam, reply) ||
        !request_int(request, "n_best", 1, API_MAX_BEAM, &search.n_best, reply)) {
        cJSON_Delete(request);
        return;
    }
    if (search.n_best > search.beam) {
        cJSON_Delete(request);
        reply_error(reply, 400, "\"n_best\" (%d) must not exceed \"beam\" (%d)", search.n_best, search.beam);
        return;
    }
    Translation out[API_MAX_BEAM] = {{0}};
    char *problem = NULL;
    int32_t *source_ids = NULL;
    Error err;
    if (translator_translate(t, &search, &text, 1, out, &problem, &err) < 0) {
        reply_error(reply, 500, "%s", err.message);
    } else if (problem) {
        reply_search_failed(reply, api, search.deadline, 400, problem);
    } else if (translator_encode_source(t, text, &source_ids, &err) < 0) {
        reply_error(reply, 400, "%s", err.message);
    } else {
        reply_json(reply, 200, translations_reply(t, text, source_ids, &search, out));
    }
    arrfree(source_ids);
    for (int k = 0; k < search.n_best; k++) translation_free(&out[k]);
    free(problem);
    cJSON_Delete(request);
}
