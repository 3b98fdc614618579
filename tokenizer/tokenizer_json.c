#include "tokenizer/tokenizer_json.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/json_tree.h"
#include "core/utf8.h"
#include "tokenizer/bpe.h"

static const char *kind_name(TokenizerKind kind) { return kind == TOKENIZER_BPE ? "bpe" : "word"; }

static int first_ordinary_id(TokenizerKind kind) {
    return kind == TOKENIZER_BPE ? TOKEN_SPECIAL_COUNT + 256 : TOKEN_SPECIAL_COUNT;
}

// The fields before the vocabulary: format, version, kind, normalisation,
// min_count, specials, byte_fallback; false when memory runs out.
static bool add_header(cJSON *root, const Tokenizer *t) {
    cJSON *normalization = NULL, *specials = NULL;
    bool ok = cJSON_AddStringToObject(root, "format", "azul-tokenizer") &&
              cJSON_AddNumberToObject(root, "version", TOKENIZER_FORMAT_VERSION) &&
              cJSON_AddStringToObject(root, "kind", kind_name(t->kind)) &&
              (normalization = cJSON_AddObjectToObject(root, "normalization")) != NULL &&
              cJSON_AddStringToObject(normalization, "form", "NFC") &&
              cJSON_AddBoolToObject(normalization, "casefold", t->normalize.casefold) &&
              cJSON_AddNumberToObject(root, "min_count", t->min_count) &&
              (specials = cJSON_AddArrayToObject(root, "specials")) != NULL;
    for (int i = 0; ok && i < TOKEN_SPECIAL_COUNT; i++) {
        ok = json_append(specials, cJSON_CreateString(t->tokens[i].text));
    }
    return ok && cJSON_AddBoolToObject(root, "byte_fallback", t->kind == TOKENIZER_BPE);
}

cJSON *tokenizer_to_json(const Tokenizer *t) {
    cJSON *root = cJSON_CreateObject(), *tokens = NULL, *merges = NULL;
    bool ok = root && add_header(root, t) && (tokens = cJSON_AddArrayToObject(root, "tokens")) != NULL;
    for (ptrdiff_t i = first_ordinary_id(t->kind); ok && i < arrlen(t->tokens); i++) {
        ok = json_append(tokens, cJSON_CreateString(t->tokens[i].text));
    }
    if (ok && t->kind == TOKENIZER_BPE) ok = (merges = cJSON_AddArrayToObject(root, "merges")) != NULL;
    for (ptrdiff_t i = 0; ok && merges && i < arrlen(t->merges); i++) {
        int pair[2] = {t->merges[i].left, t->merges[i].right};
        ok = json_append(merges, cJSON_CreateIntArray(pair, 2));
    }
    if (ok) return root;
    cJSON_Delete(root);
    return NULL;
}

static int fail(Tokenizer *t, Error *err, const char *message, long index) {
    tokenizer_free(t);
    if (index >= 0) return error_set(err, "tokenizer: %s (entry %ld)", message, index);
    return error_set(err, "tokenizer: %s", message);
}

// An id that a merge may use: an ordinary token or a byte, never a special.
static int valid_merge_id(const Tokenizer *t, double v, int32_t *id) {
    if (!(v >= TOKEN_SPECIAL_COUNT && v < (double)arrlen(t->tokens)) || v != (int32_t)v) return 0;
    *id = (int32_t)v;
    return 1;
}

// The merges of a bpe tokenizer, in the order they were learned: each a pair
// of token ids whose joined text must itself be a token.
static int read_merges(Tokenizer *t, const cJSON *merges, Error *err) {
    if (!cJSON_IsArray(merges)) return fail(t, err, "\"merges\" must be an array", -1);
    long index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, merges) {
        int32_t left, right;
        if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(item, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(item, 1)) ||
            !valid_merge_id(t, cJSON_GetArrayItem(item, 0)->valuedouble, &left) ||
            !valid_merge_id(t, cJSON_GetArrayItem(item, 1)->valuedouble, &right)) {
            return fail(t, err, "a merge is not a pair of token ids", index);
        }
        if (tokenizer_is_byte(t, left) || tokenizer_is_byte(t, right)) {
            return fail(t, err, "a merge involves a byte token", index);
        }
        const char *a = t->tokens[left].text, *b = t->tokens[right].text;
        size_t la = strlen(a), lb = strlen(b);
        char *joined = malloc(la + lb + 1);
        if (!joined) {
            tokenizer_free(t);
            return error_out_of_memory(err, "reading a tokenizer's merges", la + lb + 1);
        }
        memcpy(joined, a, la);
        memcpy(joined + la, b, lb + 1);
        int32_t result = tokenizer_lookup(t, joined);
        free(joined);
        uint64_t key = bpe_pair_key(left, right);
        if (result < 0) return fail(t, err, "a merge makes a token missing from \"tokens\"", index);
        if (hmgeti(t->merge_rank, key) >= 0) return fail(t, err, "a merge appears twice", index);
        if (t->tokens[result].left < 0) {
            t->tokens[result].left = left;
            t->tokens[result].right = right;
        }
        BpeMerge merge = {left, right, result};
        arrput(t->merges, merge);
        hmput(t->merge_rank, key, (int32_t)index);
        index++;
    }
    return 0;
}

int tokenizer_from_json(Tokenizer *t, const cJSON *json, Error *err) {
    return tokenizer_from_json_at_most(t, json, TOKENIZER_MAX_SAVED_TOKENS, err);
}

int tokenizer_from_json_at_most(Tokenizer *t, const cJSON *json, int max_tokens, Error *err) {
    memset(t, 0, sizeof *t);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(json, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(json, "version");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(json, "kind");
    if (!cJSON_IsObject(json) || !cJSON_IsString(format) ||
        strcmp(format->valuestring, "azul-tokenizer") != 0) {
        return error_set(err, "tokenizer: not an azul tokenizer (\"format\" is not \"azul-tokenizer\")");
    }
    if (!cJSON_IsNumber(version) || version->valuedouble != TOKENIZER_FORMAT_VERSION) {
        return error_set(err, "tokenizer: unsupported version (this azul reads version %d)",
                         TOKENIZER_FORMAT_VERSION);
    }
    TokenizerKind k;
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "bpe") == 0) k = TOKENIZER_BPE;
    else if (cJSON_IsString(kind) && strcmp(kind->valuestring, "word") == 0) k = TOKENIZER_WORD;
    else return error_set(err, "tokenizer: \"kind\" must be \"bpe\" or \"word\"");

    NormalizeOptions normalize = {false};
    const cJSON *normalization = cJSON_GetObjectItemCaseSensitive(json, "normalization");
    const cJSON *form = cJSON_GetObjectItemCaseSensitive(normalization, "form");
    const cJSON *casefold = cJSON_GetObjectItemCaseSensitive(normalization, "casefold");
    if (!cJSON_IsString(form) || strcmp(form->valuestring, "NFC") != 0 || !cJSON_IsBool(casefold)) {
        return error_set(err, "tokenizer: \"normalization\" must be {\"form\": \"NFC\", "
                              "\"casefold\": true|false}");
    }
    normalize.casefold = cJSON_IsTrue(casefold);

    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(json, "tokens");
    if (!cJSON_IsArray(tokens) || cJSON_GetArraySize(tokens) > max_tokens) {
        return error_set(err, "tokenizer: \"tokens\" must be an array of at most %d strings",
                         max_tokens);
    }
    if (tokenizer_init_specials(t, k, normalize, err) < 0) return -1;
    const cJSON *min_count = cJSON_GetObjectItemCaseSensitive(json, "min_count");
    t->min_count = 1;
    if (cJSON_IsNumber(min_count) && min_count->valuedouble >= 1 && min_count->valuedouble <= 1e9) {
        t->min_count = (int)min_count->valuedouble;
    }

    long index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, tokens) {
        if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
            return fail(t, err, "a token is not a non-empty string", index);
        }
        size_t length = strlen(item->valuestring);
        if (!utf8_validate(item->valuestring, length, NULL)) {
            return fail(t, err, "a token is not valid UTF-8", index);
        }
        if (tokenizer_lookup(t, item->valuestring) >= 0) {
            return fail(t, err, "a token appears twice", index);
        }
        if (tokenizer_add_token(t, item->valuestring, length, -1, -1, err) < 0) {
            tokenizer_free(t);
            return -1;
        }
        index++;
    }

    if (k == TOKENIZER_BPE) return read_merges(t, cJSON_GetObjectItemCaseSensitive(json, "merges"), err);
    return 0;
}
