#include "tests/fuzz/fuzz_roundtrip.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "core/utf8.h"
#include "tests/fuzz/fuzz_common.h"

// How many ids are <unk>; aborts on an id that encoding must never give.
static size_t check_ids(const Tokenizer *t, const int32_t *ids) {
    size_t unknown = 0;
    for (ptrdiff_t i = 0; i < arrlen(ids); i++) {
        FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < tokenizer_vocab_size(t), "id %d of %zu",
                   ids[i], tokenizer_vocab_size(t));
        FUZZ_CHECK(ids[i] != TOKEN_PAD && ids[i] != TOKEN_BOS && ids[i] != TOKEN_EOS,
                   "encoding gave the special id %d", ids[i]);
        unknown += ids[i] == TOKEN_UNK;
    }
    FUZZ_CHECK(t->kind == TOKENIZER_WORD || unknown == 0, "bpe gave <unk>");
    return unknown;
}

// The normal form must not move when normalised again.
static void check_fixed_point(const Tokenizer *t, const char *normal, size_t length) {
    Error err;
    size_t again_length;
    char *again = normalize_text(normal, length, t->normalize, &again_length, &err);
    FUZZ_CHECK(again, "the normal form does not normalise: %s", err.message);
    FUZZ_CHECK(again_length == length && memcmp(again, normal, length) == 0,
               "normalising twice changes \"%s\" into \"%s\"", normal, again);
    free(again);
}

void fuzz_check_roundtrip(Tokenizer *t, const char *text, size_t length) {
    Error err;
    size_t normal_length;
    char *normal = normalize_text(text, length, t->normalize, &normal_length, &err);
    int32_t *ids = NULL;
    int encoded = tokenizer_encode(t, text, length, &ids, &err);
    bool valid = utf8_validate(text, length, NULL);
    FUZZ_CHECK((normal != NULL) == valid, "normalising %s valid UTF-8 %s",
               valid ? "" : "in", normal ? "succeeded" : "failed");
    FUZZ_CHECK((encoded == 0) == valid, "encoding %s valid UTF-8 %s", valid ? "" : "in",
               encoded == 0 ? "succeeded" : "failed");
    if (!valid) {
        arrfree(ids);
        return;
    }
    FUZZ_CHECK(strlen(normal) == normal_length && utf8_validate(normal, normal_length, NULL),
               "the normal form is not NUL-free valid UTF-8");
    check_fixed_point(t, normal, normal_length);
    size_t unknown = check_ids(t, ids);
    char *decoded = tokenizer_decode(t, ids, (size_t)arrlen(ids));
    FUZZ_CHECK(decoded && utf8_validate(decoded, strlen(decoded), NULL), "decoding gave no valid UTF-8");
    FUZZ_CHECK(unknown > 0 || strcmp(decoded, normal) == 0,
               "decode(encode(x)) is \"%s\" but normalize(x) is \"%s\"", decoded, normal);
    free(decoded);
    free(normal);
    arrfree(ids);
}
