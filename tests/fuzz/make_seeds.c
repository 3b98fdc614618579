// Writes the fuzzers' seed files that must be made by azul itself: tiny
// model files and training states (real files, as `azul train` writes them,
// but with d_model 2 to 4 and small vocabularies, so each is a few KB), the
// tokenizers' saved forms, and the model the translate harness loads.
// Tokenizers are learned from the toy corpus; weights are the deterministic
// initial ones, which is all a loader or a search needs.
//
//   build/fuzz/make_seeds                 run from the repository root
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "model/model_file.h"
#include "model/optimizer.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/tokenizer_pair.h"
#include "train/checkpoint.h"
#include "train/corpus.h"

static const char CORPUS[] = "data/toy-en-es/train.tsv";
static const char SEEDS[] = "tests/fuzz/corpus";

static void check(int status, const Error *err) {
    if (status < 0) {
        fprintf(stderr, "make_seeds: %s\n", err->message);
        exit(1);
    }
}

static char *printed(cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) exit(1);
    return text;
}

static void write_json(const char *dir, const char *name, cJSON *json) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", SEEDS, dir, name);
    char *text = printed(json);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
    free(text);
}

static void learn(TokenizerPair *pair, const Corpus *c, TokenizerKind kind, int vocab, bool joint,
                  bool casefold) {
    const char **sources = NULL, **targets = NULL;
    for (size_t i = 0; i < corpus_size(c); i++) {
        arrput(sources, c->pairs[i].source);
        arrput(targets, c->pairs[i].target);
    }
    TokenizerConfig config = {kind, vocab, kind == TOKENIZER_BPE ? 2 : 1, {casefold}};
    Error err;
    check(tokenizer_pair_learn(pair, &config, joint, sources, targets, corpus_size(c), &err), &err);
    arrfree(sources);
    arrfree(targets);
}

// A model of the given width for these tokenizers, saved as a model file and,
// when state is set, as a training state too (moments filled with small
// values, so that they are not all zeros).
static void save_model(const TokenizerPair *pair, int d_model, int heads, bool pre_ln, bool tie,
                       const char *path, const char *state) {
    ModelConfig config = {(int)tokenizer_vocab_size(&pair->source),
                          (int)tokenizer_vocab_size(&pair->target), d_model, heads, 1, 1, 2 * d_model,
                          16, 0.1f, 0.1f, pre_ln, tie};
    Model m;
    Error err;
    check(model_build(&m, &config, 7, &err), &err);
    char *json = printed(tokenizer_pair_to_json(pair));
    check(model_save(&m, &(ModelMetadata){.tokenizers = json}, path, &err), &err);
    if (state) {
        AdamState adam;
        check(adam_state_build(&adam, &m, &err), &err);
        for (size_t i = 0; i < adam.n; i++) adam.m[i] = 0.001f * (float)(i % 7), adam.v[i] = 1e-6f;
        TrainingProgress progress = {5, 0, 5, 3.25, 5, 0, 1.5, 640};
        cJSON *options = cJSON_Parse("{\"preset\":\"toy\",\"steps\":5,\"seed\":1}");
        check(checkpoint_save(state, &m, &adam, json, &progress, options, &err), &err);
        cJSON_Delete(options);
        adam_state_free(&adam);
    }
    free(json);
    model_free(&m);
}

int main(void) {
    Corpus c;
    Error err;
    check(corpus_read(&c, CORPUS, NULL, 0, &err), &err);
    TokenizerPair word, bpe, folded;
    learn(&word, &c, TOKENIZER_WORD, 16, false, false);
    learn(&bpe, &c, TOKENIZER_BPE, 340, true, false);
    learn(&folded, &c, TOKENIZER_BPE, 300, false, true);

    save_model(&word, 2, 1, false, false, "tests/fuzz/corpus/model_file/word-postln.safetensors",
               "tests/fuzz/corpus/model_file/word-training-state.safetensors");
    save_model(&bpe, 2, 2, true, true, "tests/fuzz/corpus/model_file/bpe-preln-tied.safetensors", NULL);
    save_model(&bpe, 4, 2, false, true, "tests/fuzz/models/translate.safetensors", NULL);

    write_json("tokenizer_json", "word-pair.json", tokenizer_pair_to_json(&word));
    write_json("tokenizer_json", "bpe-joint-pair.json", tokenizer_pair_to_json(&bpe));
    write_json("tokenizer_json", "bpe-casefold.json", tokenizer_to_json(&folded.target));
    write_json("tokenizer_json", "word.json", tokenizer_to_json(&word.source));
    tokenizer_pair_free(&word);
    tokenizer_pair_free(&bpe);
    tokenizer_pair_free(&folded);
    corpus_free(&c);
    return 0;
}
