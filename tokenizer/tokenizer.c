#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/word_vocab.h"

static const char *const special_names[TOKEN_SPECIAL_COUNT] = {"<pad>", "<unk>", "<bos>", "<eos>"};
enum { CACHE_PIECE_MAX_BYTES = 64, CACHE_MAX_ENTRIES = 1 << 19 };

// A NUL-terminated copy, or NULL when memory runs out.
static char *copy_text(const char *text, size_t length) {
    char *s = malloc(length + 1);
    if (!s) return NULL;
    memcpy(s, text, length);
    s[length] = '\0';
    return s;
}

// ---------------------------------------------------------------- vocabulary

// Appends a token that no map knows (a special or a byte) with the given name.
static int add_named_token(Tokenizer *t, const char *name, Error *err) {
    Token token = {copy_text(name, strlen(name)), -1, -1};
    if (!token.text) return error_out_of_memory(err, "creating a tokenizer", strlen(name) + 1);
    arrput(t->tokens, token);
    return 0;
}

int tokenizer_init_specials(Tokenizer *t, TokenizerKind kind, NormalizeOptions normalize,
                            Error *err) {
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->normalize = normalize;
    sh_new_arena(t->id_of_text);
    sh_new_strdup(t->cache);
    for (int i = 0; i < TOKEN_SPECIAL_COUNT; i++) {
        if (add_named_token(t, special_names[i], err) < 0) goto fail;
    }
    if (kind == TOKENIZER_BPE) {
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            if (add_named_token(t, name, err) < 0) goto fail;
        }
    }
    return 0;
fail:
    tokenizer_free(t);
    return -1;
}

// Adds an ordinary token, or returns the id it already has.
int32_t tokenizer_add_token(Tokenizer *t, const char *text, size_t length, int32_t left,
                            int32_t right, Error *err) {
    char *copy = copy_text(text, length);  // the lookup wants a C string too
    if (!copy) return error_out_of_memory(err, "adding a token to the vocabulary", length + 1);
    int32_t existing = tokenizer_lookup(t, copy);
    if (existing >= 0) {
        free(copy);
        return existing;
    }
    int32_t id = (int32_t)arrlen(t->tokens);
    Token token = {copy, left, right};
    arrput(t->tokens, token);
    shput(t->id_of_text, token.text, id);
    return id;
}

int32_t tokenizer_lookup(const Tokenizer *t, const char *text) {
    TextToId *ids = t->id_of_text;  // stb_ds lookups assign to the map variable
    ptrdiff_t index = shgeti(ids, (char *)text);
    return index < 0 ? -1 : ids[index].value;
}

bool tokenizer_is_byte(const Tokenizer *t, int32_t id) {
    return t->kind == TOKENIZER_BPE && id >= TOKEN_FIRST_BYTE && id < TOKEN_FIRST_BYTE + 256;
}

size_t tokenizer_vocab_size(const Tokenizer *t) { return (size_t)arrlen(t->tokens); }

static void clear_cache(Tokenizer *t) {
    for (ptrdiff_t i = 0; i < shlen(t->cache); i++) arrfree(t->cache[i].value);
    shfree(t->cache);
    sh_new_strdup(t->cache);
}

void tokenizer_free(Tokenizer *t) {
    for (ptrdiff_t i = 0; i < arrlen(t->tokens); i++) free(t->tokens[i].text);
    arrfree(t->tokens);
    shfree(t->id_of_text);
    arrfree(t->merges);
    hmfree(t->merge_rank);
    for (ptrdiff_t i = 0; i < shlen(t->cache); i++) arrfree(t->cache[i].value);
    shfree(t->cache);
    memset(t, 0, sizeof *t);
}

int tokenizer_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences,
                    size_t n, Error *err) {
    return config->kind == TOKENIZER_BPE ? bpe_learn(t, config, sentences, n, err)
                                         : word_vocab_learn(t, config, sentences, n, err);
}

// ---------------------------------------------------------------- encode

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

// piece[length] is written to and restored: the map wants a C string key.
static void encode_piece(Tokenizer *t, char *piece, size_t length, int32_t **ids) {
    if (t->kind == TOKENIZER_WORD) {
        char saved = piece[length];
        piece[length] = '\0';
        int32_t id = tokenizer_lookup(t, piece);
        piece[length] = saved;
        arrput(*ids, id >= 0 ? id : TOKEN_UNK);
        return;
    }
    if (length > CACHE_PIECE_MAX_BYTES) {  // rare and long: not worth remembering
        bpe_encode_piece(t, piece, length, ids);
        return;
    }
    char key[CACHE_PIECE_MAX_BYTES + 1];
    memcpy(key, piece, length);
    key[length] = '\0';
    ptrdiff_t index = shgeti(t->cache, key);
    if (index < 0) {
        if (shlen(t->cache) >= CACHE_MAX_ENTRIES) clear_cache(t);
        int32_t *encoded = NULL;
        bpe_encode_piece(t, piece, length, &encoded);
        shput(t->cache, key, encoded);
        index = shgeti(t->cache, key);
    }
    int32_t *encoded = t->cache[index].value;
    for (ptrdiff_t i = 0; i < arrlen(encoded); i++) arrput(*ids, encoded[i]);
}

int tokenizer_encode(Tokenizer *t, const char *text, size_t length, int32_t **ids, Error *err) {
    size_t normal_length;
    char *normal = normalize_text(text, length, t->normalize, &normal_length, err);
    if (!normal) return -1;
    // One space in front, so that the first word is marked like every other.
    char *spaced = malloc(normal_length + 2);
    if (!spaced) {
        free(normal);
        return error_out_of_memory(err, "encoding text", normal_length + 2);
    }
    spaced[0] = ' ';
    memcpy(spaced + 1, normal, normal_length + 1);
    free(normal);

    Piece *pieces = NULL;
    if (normal_length > 0) pretokenize(spaced, normal_length + 1, &pieces);
    // Every stb_ds lookup writes to the map it reads (its header remembers the
    // index found), and the cache grows: one thread at a time in the maps.
    // Encoding a sentence takes microseconds, so a server's threads barely wait.
    pthread_mutex_lock(&maps_lock);
    for (ptrdiff_t i = 0; i < arrlen(pieces); i++) {
        encode_piece(t, spaced + pieces[i].start, pieces[i].length, ids);
    }
    pthread_mutex_unlock(&maps_lock);
    arrfree(pieces);
    free(spaced);
    return 0;
}

// ---------------------------------------------------------------- decode

char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n) {
    char *bytes = NULL;  // stb_ds array
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= (int32_t)arrlen(t->tokens)) continue;
        if (id == TOKEN_PAD || id == TOKEN_BOS || id == TOKEN_EOS) continue;
        if (tokenizer_is_byte(t, id)) {
            arrput(bytes, (char)(id - TOKEN_FIRST_BYTE));
            continue;
        }
        const char *text = id == TOKEN_UNK ? " <unk>" : t->tokens[id].text;
        size_t length = strlen(text);
        memcpy(arraddnptr(bytes, length), text, length);
    }
    // Repair what is not UTF-8 (a model may emit a lone byte token) and drop
    // the space that marks the first word.
    size_t length = (size_t)arrlen(bytes);
    char *out = malloc(length * 3 + 1);
    if (!out) {
        arrfree(bytes);
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < length;) {
        Utf8Problem problem;
        size_t run = length - i;
        if (utf8_validate(bytes + i, run, &problem)) {
            memcpy(out + m, bytes + i, run);
            m += run;
            break;
        }
        memcpy(out + m, bytes + i, problem.offset);
        m += problem.offset;
        m += (size_t)utf8_encode(0xFFFD, out + m);
        i += problem.offset + 1;
    }
    out[m] = '\0';
    arrfree(bytes);
    if (out[0] == ' ') memmove(out, out + 1, m);
    return out;
}

void tokenizer_token_display(const Tokenizer *t, int32_t id, char *out, size_t size) {
    if (size == 0) return;
    if (id < 0 || id >= (int32_t)arrlen(t->tokens)) {
        snprintf(out, size, "<id %d?>", id);
        return;
    }
    const char *text = t->tokens[id].text;
    size_t m = 0;
    for (const char *p = text; *p && m + 4 < size; p++) {
        if (*p == ' ' && id >= TOKEN_SPECIAL_COUNT) {
            memcpy(out + m, "\xE2\x96\x81", 3);  // U+2581 LOWER ONE EIGHTH BLOCK, as SentencePiece
            m += 3;
        } else {
            out[m++] = *p;
        }
    }
    out[m] = '\0';
}
