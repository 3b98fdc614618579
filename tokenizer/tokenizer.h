// The tokenizer: text ⇄ token ids, for one side of a translation pair.
//
//   text ──normalize──▶ normal form ──pretokenize──▶ pieces ──vocabulary──▶ ids
//   ids ──token bytes──▶ " La bola es azul" ──drop the first space──▶ text
//
// Two vocabulary kinds, chosen when the tokenizer is learned:
//   word  every piece seen at least min_count times is a token; others are <unk>.
//   bpe   byte-pair encoding: start from characters and repeatedly merge the
//         most frequent adjacent pair (Sennrich et al. 2016).  A character that
//         was never seen is spelled with its UTF-8 bytes (<0xC3> <0xA1>), so BPE
//         needs no <unk> and decode(encode(x)) == normalize(x) always.
//
// Ids: 0 <pad>, 1 <unk>, 2 <bos>, 3 <eos>; for bpe 4..259 are the 256 bytes.
#ifndef AZUL_TOKENIZER_H
#define AZUL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/special_tokens.h"
#include "tokenizer/normalize.h"

enum {
    TOKEN_FIRST_BYTE = TOKEN_SPECIAL_COUNT,    // bpe only: byte b has id TOKEN_FIRST_BYTE + b
    TOKENIZER_FORMAT_VERSION = 1,
};

typedef enum { TOKENIZER_WORD, TOKENIZER_BPE } TokenizerKind;

typedef struct {
    char *text;      // the token's bytes; a leading space marks the start of a word
    int32_t left;    // bpe: the two tokens whose merge made this one, else -1
    int32_t right;
} Token;

typedef struct {
    int32_t left, right, result;  // merge rank = index in Tokenizer.merges
} BpeMerge;

typedef struct { char *key; int32_t value; } TextToId;
typedef struct { uint64_t key; int32_t value; } PairToRank;
typedef struct { char *key; int32_t *value; } PieceToIds;

typedef struct {
    TokenizerKind kind;
    NormalizeOptions normalize;
    int min_count;           // word: the least count that earns a token
    Token *tokens;           // stb_ds array, indexed by id
    TextToId *id_of_text;    // ordinary tokens (not specials, not bytes) by text
    BpeMerge *merges;        // bpe: stb_ds array in the order they were learned
    PairToRank *merge_rank;  // bpe: (left << 32 | right) -> rank
    PieceToIds *cache;       // encoded pieces, because words repeat (tokenizer_encode locks it)
} Tokenizer;

typedef struct {
    TokenizerKind kind;
    int vocab_size;          // total ids, specials and bytes included; 0 = no limit (word)
    int min_count;           // word: least piece count; bpe: least character count
    NormalizeOptions normalize;
} TokenizerConfig;

// Learns a vocabulary from n sentences (raw text; normalised here).  Fails,
// naming the sentence, on invalid UTF-8, an impossible configuration or when
// memory runs out; t then holds nothing (tokenizer_free on it is harmless).
int tokenizer_learn(Tokenizer *t, const TokenizerConfig *config, const char *const *sentences,
                    size_t n, Error *err);
void tokenizer_free(Tokenizer *t);

size_t tokenizer_vocab_size(const Tokenizer *t);

// Appends the ids of text's tokens (no <bos>/<eos>) to the stb_ds array *ids.
// Fails on invalid UTF-8, giving the byte offset, or when memory runs out.
// Safe to call from several threads at once (they take turns in the maps);
// nothing else that changes a tokenizer is.
int tokenizer_encode(Tokenizer *t, const char *text, size_t length, int32_t **ids, Error *err);

// The text of a sequence of ids: a malloc'd, NUL-terminated, valid UTF-8
// string, or NULL when memory runs out.  Specials other than <unk> are
// skipped; bytes that do not form valid UTF-8 (only a model can produce
// those) become U+FFFD.
char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n);

// How a token is shown to people: the leading space as ▁, bytes as <0xC3>,
// specials by name.  Writes at most size bytes (NUL included) to out.
void tokenizer_token_display(const Tokenizer *t, int32_t id, char *out, size_t size);

// Internal steps, exposed for the learning code and the tests.  These fail
// only when memory runs out: init then leaves t holding nothing, add_token
// returns -1 and leaves t as it was.
int tokenizer_init_specials(Tokenizer *t, TokenizerKind kind, NormalizeOptions normalize,
                            Error *err);
// The new token's id, or the id it already has.
int32_t tokenizer_add_token(Tokenizer *t, const char *text, size_t length, int32_t left,
                            int32_t right, Error *err);
// The id of the ordinary token whose text is the C string `text`, or -1.
int32_t tokenizer_lookup(const Tokenizer *t, const char *text);
bool tokenizer_is_byte(const Tokenizer *t, int32_t id);

#endif
