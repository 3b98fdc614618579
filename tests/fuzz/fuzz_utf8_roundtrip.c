// Fuzzes UTF-8 validation, normalisation, encoding and decoding together,
// checking the tokenizer's contract (fuzz_roundtrip.h) on every input with
// three tokenizers learned once: bpe, bpe with case folding, and words.
#include <stdlib.h>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_roundtrip.h"

// A little text in several scripts, so that the vocabularies hold multi-byte
// characters and merges, yet leave most of Unicode to the byte fallback.
static const char *const sentences[] = {
    "The ball is blue.",          "La bola es azul.",
    "The black cat drank the milk.", "El gato negro bebió la leche.",
    "¿Dónde está la niña?",      "Où est l'élève ? « Très bien »",
    "Straße, Ärger, Öl — über",  "Я вижу кота. Это мой дом.",
    "東京は大きい。",              "Το σπίτι είναι μεγάλο.",
    "👍🏽 family: 👨‍👩‍👧 done",       "CO₂ ﬁ 1,000.5 -- x²",
};

static Tokenizer tokenizers[3];

static void learn(Tokenizer *t, TokenizerKind kind, bool casefold) {
    TokenizerConfig config = {kind, kind == TOKENIZER_BPE ? 330 : 0, 1, {casefold}};
    Error err;
    if (tokenizer_learn(t, &config, sentences, sizeof sentences / sizeof sentences[0], &err) < 0) {
        fuzz_fail(__FILE__, __LINE__, "tokenizer_learn", "%s", err.message);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    learn(&tokenizers[0], TOKENIZER_BPE, false);
    learn(&tokenizers[1], TOKENIZER_BPE, true);
    learn(&tokenizers[2], TOKENIZER_WORD, false);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int i = 0; i < 3; i++) fuzz_check_roundtrip(&tokenizers[i], (const char *)data, size);
    return 0;
}
