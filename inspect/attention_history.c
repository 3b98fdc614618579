#include "inspect/attention_history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/json_tree.h"
#include "inspect/attention_render.h"

static const char history_format[] = "azul-attention-history";

cJSON *attention_history_load(const char *path, Error *err) {
    size_t length;
    char *text = read_whole_file(path, ATTENTION_HISTORY_MAX_BYTES, &length, err);
    if (!text) return NULL;
    cJSON *h = attention_history_parse(text, length, path, err);
    free(text);
    return h;
}

cJSON *attention_history_parse(const char *text, size_t length, const char *path, Error *err) {
    Error inner;
    cJSON *h = json_parse_bounded(text, length, ATTENTION_HISTORY_MAX_VALUES, "the history", &inner);
    if (!h) {
        error_set(err, "%s: %s", path, inner.message);
        return NULL;
    }
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(h, "format");
    const cJSON *sentences = cJSON_GetObjectItemCaseSensitive(h, "sentences");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(h, "steps"), *s;
    bool ok = cJSON_IsString(format) && strcmp(format->valuestring, history_format) == 0 &&
              cJSON_IsArray(sentences) && cJSON_GetArraySize(sentences) >= 1 &&
              cJSON_GetArraySize(sentences) <= ATTENTION_HISTORY_MAX_SENTENCES && cJSON_IsArray(steps);
    cJSON_ArrayForEach(s, sentences) ok = ok && cJSON_IsString(s);
    cJSON_ArrayForEach(s, steps) {
        const cJSON *maps = cJSON_GetObjectItemCaseSensitive(s, "maps");
        ok = ok && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "step")) &&
             cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "dev_loss")) &&
             cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "bleu")) && cJSON_IsArray(maps) &&
             cJSON_GetArraySize(maps) == cJSON_GetArraySize(sentences);
    }
    if (!ok) {
        cJSON_Delete(h);
        error_set(err, "%s: not an attention history (it needs \"format\": \"%s\", 1 to %d \"sentences\" "
                       "and \"steps\" with one \"maps\" entry per sentence)", path, history_format,
                  ATTENTION_HISTORY_MAX_SENTENCES);
        return NULL;
    }
    return h;
}

// A new, empty history of the sentences; NULL when memory runs out.
static cJSON *new_history(const char *const *sentences, int n) {
    cJSON *h = cJSON_CreateObject(), *list = NULL;
    bool ok = h && cJSON_AddStringToObject(h, "format", history_format) &&
              cJSON_AddNumberToObject(h, "format_version", 1) &&
              (list = cJSON_AddArrayToObject(h, "sentences")) != NULL && cJSON_AddArrayToObject(h, "steps");
    for (int i = 0; ok && i < n; i++) ok = json_append(list, cJSON_CreateString(sentences[i]));
    if (ok) return h;
    cJSON_Delete(h);
    return NULL;
}

// The history to extend: the file's (without its steps from `step` on), or
// a new one when there is no file.
static cJSON *history_to_extend(const char *path, const char *const *sentences, int n, long step, Error *err) {
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        cJSON *h = new_history(sentences, n);
        if (!h) error_out_of_memory(err, "the attention history", 4096);
        return h;
    }
    cJSON *h = attention_history_load(path, err);
    if (!h) return NULL;
    cJSON *steps = cJSON_GetObjectItemCaseSensitive(h, "steps");
    for (int i = cJSON_GetArraySize(steps) - 1; i >= 0; i--) {
        if (cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, i), "step")->valuedouble >= (double)step) {
            cJSON_DeleteItemFromArray(steps, i);
        }
    }
    return h;
}

// One step's entry: its numbers and each sentence's maps; -1 with err.
static int step_entry(cJSON *h, const Model *m, TokenizerPair *tokenizers, long step, double dev_loss,
                      double bleu, Error *err) {
    cJSON *entry = cJSON_CreateObject(), *maps = NULL, *s;
    bool ok = entry && cJSON_AddNumberToObject(entry, "step", (double)step) &&
              cJSON_AddNumberToObject(entry, "dev_loss", dev_loss) && cJSON_AddNumberToObject(entry, "bleu", bleu) &&
              (maps = cJSON_AddArrayToObject(entry, "maps")) != NULL;
    const AttentionSelection every = {7u, LAYER_ALL, HEAD_ALL};
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(h, "sentences")) {
        if (!ok) break;
        AttentionMaps a;
        Error inner;
        if (attention_maps_of(&a, m, tokenizers, s->valuestring, NULL, &inner) < 0) {
            cJSON_Delete(entry);
            return error_set(err, "watching \"%.80s\": %s", s->valuestring, inner.message);
        }
        ok = json_append(maps, attention_json(&a, &every, s->valuestring));
        attention_maps_free(&a);
    }
    if (!ok || !json_append(cJSON_GetObjectItemCaseSensitive(h, "steps"), entry)) {
        if (!ok) cJSON_Delete(entry);
        return error_out_of_memory(err, "the attention history", 1 << 16);
    }
    return 0;
}

// Every second step dropped, the first and the last kept (the slider still
// runs from the untrained model to the latest), when the history has grown
// past half its limit.
static void thin_out(cJSON *h) {
    cJSON *steps = cJSON_GetObjectItemCaseSensitive(h, "steps");
    for (int i = cJSON_GetArraySize(steps) - 2; i >= 1; i -= 2) cJSON_DeleteItemFromArray(steps, i);
}

int attention_history_record(const char *path, const Model *m, TokenizerPair *tokenizers,
                             const char *const *sentences, int n_sentences, long step, double dev_loss,
                             double bleu, Error *err) {
    cJSON *h = history_to_extend(path, sentences, n_sentences, step, err);
    if (!h) return -1;
    if (step_entry(h, m, tokenizers, step, dev_loss, bleu, err) < 0) {
        cJSON_Delete(h);
        return -1;
    }
    char *text = cJSON_PrintUnformatted(h);
    while (text && strlen(text) > ATTENTION_HISTORY_MAX_BYTES / 2 &&
           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(h, "steps")) > 2) {
        cJSON_free(text);
        thin_out(h);
        text = cJSON_PrintUnformatted(h);
    }
    cJSON_Delete(h);
    if (!text) return error_out_of_memory(err, "the attention history", 1 << 20);
    // never a file the loader would refuse: steps this large (long
    // sentences, a large model) are not kept, and the file stays as it was
    int status = strlen(text) > ATTENTION_HISTORY_MAX_BYTES ? 1 : atomic_write_file(path, text, strlen(text), err);
    cJSON_free(text);
    return status;
}
