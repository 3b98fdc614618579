#include "tokenizer/tokenizer_pair.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "core/json_tree.h"
#include "tokenizer/tokenizer_json.h"

int tokenizer_pair_learn(TokenizerPair *pair, const TokenizerConfig *config, bool joint,
                         const char *const *sources, const char *const *targets, size_t n,
                         Error *err) {
    memset(pair, 0, sizeof *pair);
    pair->joint = joint;
    const char **sentences = malloc((2 * n + 1) * sizeof *sentences);
    if (!sentences) return error_out_of_memory(err, "learning the tokenizers", (2 * n + 1) * sizeof *sentences);
    memcpy(sentences, sources, n * sizeof *sentences);
    memcpy(sentences + n, targets, n * sizeof *sentences);
    int status;
    if (joint) {
        status = tokenizer_learn(&pair->source, config, sentences, 2 * n, err);
        if (status == 0) {  // a second copy keeps ownership simple
            cJSON *json = tokenizer_to_json(&pair->source);
            status = json ? tokenizer_from_json(&pair->target, json, err)
                          : error_out_of_memory(err, "copying the joint tokenizer", 0);
            cJSON_Delete(json);
        }
    } else {
        status = tokenizer_learn(&pair->source, config, sentences, n, err);
        if (status == 0) status = tokenizer_learn(&pair->target, config, sentences + n, n, err);
    }
    free(sentences);
    if (status < 0) tokenizer_pair_free(pair);
    return status;
}

int tokenizer_pair_check_sizes(const TokenizerPair *pair, int src_vocab, int tgt_vocab,
                               Error *err) {
    if ((int)tokenizer_vocab_size(&pair->source) != src_vocab ||
        (int)tokenizer_vocab_size(&pair->target) != tgt_vocab) {
        return error_set(err, "the tokenizers' vocabulary sizes (%zu, %zu) differ from the config's "
                              "(%d, %d)", tokenizer_vocab_size(&pair->source),
                         tokenizer_vocab_size(&pair->target), src_vocab, tgt_vocab);
    }
    return 0;
}

void tokenizer_pair_free(TokenizerPair *pair) {
    tokenizer_free(&pair->source);
    tokenizer_free(&pair->target);
}

cJSON *tokenizer_pair_to_json(const TokenizerPair *pair) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root && cJSON_AddStringToObject(root, "format", "azul-tokenizers") &&
              cJSON_AddNumberToObject(root, "version", TOKENIZER_FORMAT_VERSION) &&
              cJSON_AddBoolToObject(root, "joint", pair->joint) &&
              json_attach(root, "source", tokenizer_to_json(&pair->source)) &&
              (pair->joint || json_attach(root, "target", tokenizer_to_json(&pair->target)));
    if (ok) return root;
    cJSON_Delete(root);
    return NULL;
}

int tokenizer_pair_from_json(TokenizerPair *pair, const cJSON *json, Error *err) {
    memset(pair, 0, sizeof *pair);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(json, "format");
    const cJSON *joint = cJSON_GetObjectItemCaseSensitive(json, "joint");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, "azul-tokenizers") != 0 ||
        !cJSON_IsBool(joint)) {
        return error_set(err, "not a pair of azul tokenizers (\"format\": \"azul-tokenizers\" "
                              "and \"joint\" expected)");
    }
    pair->joint = cJSON_IsTrue(joint);
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(json, "source");
    const cJSON *target = pair->joint ? source : cJSON_GetObjectItemCaseSensitive(json, "target");
    Error inner;
    if (tokenizer_from_json(&pair->source, source, &inner) < 0) {
        return error_set(err, "source %s", inner.message);
    }
    if (tokenizer_from_json(&pair->target, target, &inner) < 0) {
        tokenizer_free(&pair->source);
        return error_set(err, "target %s", inner.message);
    }
    return 0;
}

size_t tokenizer_pair_max_json_values(int src_vocab, int tgt_vocab) {
    return 8 * ((size_t)(src_vocab > 0 ? src_vocab : 0) + (size_t)(tgt_vocab > 0 ? tgt_vocab : 0)) + 1000;
}

int tokenizer_pair_from_text(TokenizerPair *pair, const char *text, size_t max_values, Error *err) {
    memset(pair, 0, sizeof *pair);
    cJSON *json = json_parse_bounded(text, strlen(text), max_values, "metadata \"tokenizers\"", err);
    if (!json) return -1;
    int status = tokenizer_pair_from_json(pair, json, err);
    cJSON_Delete(json);
    return status;
}

int tokenizer_pair_load(TokenizerPair *pair, const char *path, Error *err) {
    size_t length;
    char *text = read_whole_file(path, TOKENIZER_MAX_FILE_BYTES, &length, err);
    if (!text) return -1;
    cJSON *json = json_parse_bounded(text, length, TOKENIZER_PAIR_MAX_JSON_VALUES, path, err);
    free(text);
    if (!json) return -1;
    Error inner;
    int status = tokenizer_pair_from_json(pair, json, &inner);
    cJSON_Delete(json);
    if (status < 0) return error_set(err, "%s: %s", path, inner.message);
    return 0;
}

int tokenizer_pair_save(const TokenizerPair *pair, const char *path, Error *err) {
    cJSON *json = tokenizer_pair_to_json(pair);
    char *text = json ? cJSON_Print(json) : NULL;
    cJSON_Delete(json);
    if (!text) return error_set(err, "cannot write %s: out of memory formatting the tokenizers as JSON", path);
    int status = atomic_write_file(path, text, strlen(text), err);
    cJSON_free(text);
    return status;
}
