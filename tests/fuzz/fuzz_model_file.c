// Fuzzes the loaders of whole files: the model file as `azul translate` loads
// it (safetensors header, config, weights read in place, tokenizers) and the
// training state as `azul train --resume` loads it.  A file either loads or
// is refused with a message; one that loads must also translate.
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "infer/translator.h"
#include "tests/fuzz/fuzz_common.h"
#include "train/checkpoint.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

// A model that loads was checked field by field, so it must be usable: a
// short sentence goes through the tokenizers and greedy search.
static void translate_one(Translator *t) {
    const char *sentence = "The ball is blue";
    SearchOptions search = {.beam = 1, .n_best = 1, .alignment = true, .batch = 1};
    Translation out;
    char *problem;
    Error err;
    FUZZ_CHECK(translator_translate(t, &search, &sentence, 1, &out, &problem, &err) == 0, "%s",
               err.message);
    FUZZ_CHECK(problem || (out.text && out.tokens >= 1 && out.tokens <= t->model.config.max_len),
               "a translation of %d tokens from a model of max_len %d", out.tokens,
               t->model.config.max_len);
    free(problem);
    translation_free(&out);
}

static void load_model(const char *path) {
    Translator t;
    Error err;
    err.message[0] = '\0';
    if (translator_load(&t, path, &err) < 0) {
        FUZZ_CHECK(err.message[0] != '\0', "a refused model file without a message");
        return;
    }
    translate_one(&t);
    translator_free(&t);
}

static void load_training_state(const char *path) {
    Model m;
    AdamState adam;
    TokenizerPair tokenizers;
    TrainingProgress progress;
    cJSON *options;
    Error err;
    err.message[0] = '\0';
    if (checkpoint_load(path, &m, &adam, &tokenizers, &progress, &options, &err) < 0) {
        FUZZ_CHECK(err.message[0] != '\0', "a refused training state without a message");
        FUZZ_CHECK(!options, "a refused training state left its options allocated");
        return;
    }
    FUZZ_CHECK(adam.n == m.n_params && cJSON_IsObject(options), "a half-loaded training state");
    cJSON_Delete(options);
    tokenizer_pair_free(&tokenizers);
    adam_state_free(&adam);
    model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    load_model(path);
    load_training_state(path);
    return 0;
}
