// Fuzzes the tokenizers' saved form: one tokenizer, or the pair a model file
// and `azul tokenize --learn` store.  A saved form either loads or is refused
// with a message.  One that loads must save and load again to the same
// JSON, and keep the round-trip contract (fuzz_roundtrip.h) on sample texts,
// on the text of its own tokens (so that its merges run) and on the input.
// And the count every reader of untrusted JSON makes before parsing
// (json_count_values) must never be below the values cJSON then builds.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "core/json_tree.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_roundtrip.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/tokenizer_pair.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

// The first tokens' texts run together: merges of this vocabulary must apply.
static char *own_tokens_text(const Tokenizer *t) {
    char *text = NULL;  // stb_ds array
    for (ptrdiff_t id = TOKEN_SPECIAL_COUNT; id < arrlen(t->tokens) && id < 600; id++) {
        if (tokenizer_is_byte(t, (int32_t)id)) continue;
        size_t n = strlen(t->tokens[id].text);
        memcpy(arraddnptr(text, n), t->tokens[id].text, n);
    }
    arrput(text, '\0');
    return text;
}

static void check_tokenizer(Tokenizer *t, const uint8_t *data, size_t size) {
    static const char *const samples[] = {
        "The ball is blue", "¿Dónde está la bola?", "naïve café — 東京 😀 ﬁ", "",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        fuzz_check_roundtrip(t, samples[i], strlen(samples[i]));
    }
    char *own = own_tokens_text(t);
    fuzz_check_roundtrip(t, own, strlen(own));
    arrfree(own);
    fuzz_check_roundtrip(t, (const char *)data, size);
}

// Saving what loaded and loading it again must give the same saved form.
static void check_saved_again(const TokenizerPair *pair) {
    cJSON *json = tokenizer_pair_to_json(pair);
    char *first = cJSON_PrintUnformatted(json);
    TokenizerPair again;
    Error err;
    FUZZ_CHECK(tokenizer_pair_from_json(&again, json, &err) == 0, "a saved pair does not load: %s",
               err.message);
    cJSON_Delete(json);
    json = tokenizer_pair_to_json(&again);
    char *second = cJSON_PrintUnformatted(json);
    FUZZ_CHECK(first && second && strcmp(first, second) == 0, "saving twice differs:\n%s\n%s",
               first, second);
    cJSON_Delete(json);
    cJSON_free(first);
    cJSON_free(second);
    tokenizer_pair_free(&again);
}

// The values cJSON built: the node itself and everything under it.
static size_t count_nodes(const cJSON *node) {
    size_t n = 1;
    for (const cJSON *child = node->child; child; child = child->next) n += count_nodes(child);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *json = cJSON_ParseWithLength((const char *)data, size);
    if (!json) return 0;
    int depth;
    size_t counted = json_count_values((const char *)data, size, SIZE_MAX - 1, &depth);
    size_t built = count_nodes(json);
    FUZZ_CHECK(counted >= built, "json_count_values counted %zu values, cJSON built %zu",
               counted, built);
    Error err;
    err.message[0] = '\0';
    TokenizerPair pair;
    if (tokenizer_pair_from_json(&pair, json, &err) == 0) {
        check_saved_again(&pair);
        check_tokenizer(&pair.source, data, size);
        check_tokenizer(&pair.target, data, size);
        tokenizer_pair_free(&pair);
    } else {
        FUZZ_CHECK(err.message[0] != '\0', "a refused pair without a message");
    }
    Tokenizer t;
    err.message[0] = '\0';
    if (tokenizer_from_json(&t, json, &err) == 0) {
        TokenizerPair one = {t, t, true};  // joint: saved with its source only
        check_saved_again(&one);
        check_tokenizer(&t, data, size);
        tokenizer_free(&t);
    } else {
        FUZZ_CHECK(err.message[0] != '\0', "a refused tokenizer without a message");
    }
    cJSON_Delete(json);
    return 0;
}
