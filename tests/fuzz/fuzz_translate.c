// Fuzzes one line through `azul translate`'s path: normalise, encode, greedy
// search with a word alignment, decode, with a tiny model loaded once (its
// weights mapped from the file, as the command does).  The input is the line
// as a C string (up to a NUL, which the line reader never hands on).  A line
// is either translated into valid UTF-8 within the model's length limit or
// refused with a reason.
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "infer/translator.h"
#include "tests/fuzz/fuzz_common.h"

// Run from the repository root, or point AZUL_FUZZ_MODEL at the file.
static const char DEFAULT_MODEL[] = "tests/fuzz/models/translate.safetensors";

static Translator translator;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("AZUL_FUZZ_MODEL");
    Error err;
    if (translator_load(&translator, path ? path : DEFAULT_MODEL, &err) < 0) {
        fuzz_fail(__FILE__, __LINE__, "translator_load", "%s", err.message);
    }
    return 0;
}

// Pharaoh pairs "s-t s-t ...": digits, dashes and single spaces only.
static void check_alignment(const char *alignment) {
    FUZZ_CHECK(alignment, "no alignment");
    FUZZ_CHECK(strspn(alignment, "0123456789- ") == strlen(alignment), "alignment \"%s\"", alignment);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *line = fuzz_text(data, size);
    const char *sentence = line;
    SearchOptions search = {.beam = 1, .n_best = 1, .alignment = true, .batch = 1};
    Translation out;
    char *problem;
    Error err;
    FUZZ_CHECK(translator_translate(&translator, &search, &sentence, 1, &out, &problem, &err) == 0,
               "%s", err.message);
    if (problem) {
        FUZZ_CHECK(problem[0] != '\0' && !out.text, "a refused line with a translation or no reason");
    } else {
        FUZZ_CHECK(out.text && utf8_validate(out.text, strlen(out.text), NULL), "no valid UTF-8 out");
        FUZZ_CHECK(out.tokens >= 1 && out.tokens <= translator.model.config.max_len,
                   "%d tokens from a model of max_len %d", out.tokens, translator.model.config.max_len);
        check_alignment(out.alignment);
    }
    free(problem);
    translation_free(&out);
    free(line);
    return 0;
}
