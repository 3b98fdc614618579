// A loaded model ready to translate text: tokenize, search, detokenize.
#ifndef AZUL_TRANSLATOR_H
#define AZUL_TRANSLATOR_H

#include "infer/search.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer_pair.h"

typedef struct {
    Model model;
    TokenizerPair tokenizers;
    float length_penalty;   // the model's own (its file's "decoding"), else 1
} Translator;

// The length penalties azul train tries on dev, and the one a model without
// its own uses.
#define TRANSLATOR_LENGTH_PENALTIES {0.6f, 0.8f, 1.0f, 1.2f, 1.4f, 1.7f, 2.0f}
#define TRANSLATOR_DEFAULT_LENGTH_PENALTY 1.0f

typedef struct {
    int beam;               // 1: greedy decoding
    float length_penalty;   // α in score = log p / length^α
    int n_best;             // translations kept per sentence (≤ beam)
    bool alignment;         // compute word alignments
    int batch;              // sentences searched together (0: all)
    double deadline;        // when the search gives up (infer/search.h), or SEARCH_NO_DEADLINE
} SearchOptions;

typedef struct {
    char *text;             // the translation (malloc'd)
    double score, log_prob;
    char *alignment;        // Pharaoh pairs, when asked for (malloc'd)
    int tokens;             // target tokens, <eos> included
    int32_t *ids;           // the tokens before <eos> (tokens - 1 of them; malloc'd)
} Translation;

int translator_load(Translator *t, const char *model_path, Error *err);
void translator_free(Translator *t);

// Translates n sentences, search->batch at a time: sorted by length, so that
// sentences searched together need about as many steps and little padding.
// out[i * n_best + k] receives sentence i's k-th best translation, or
// problems[i] (malloc'd) says why sentence i cannot be translated (invalid
// UTF-8, empty, too long); the others still are.  Returns -1 with err (and
// nothing in out) only when memory runs out.
int translator_translate(Translator *t, const SearchOptions *search, const char *const *sentences,
                         size_t n, Translation *out, char **problems, Error *err);
void translation_free(Translation *t);

// The most bytes a sentence may have for a model of max_len tokens: 32 a
// token is more than any text needs, and the limit is checked before
// Unicode normalisation, whose cost can grow faster than the text.
#define SENTENCE_MAX_BYTES_PER_TOKEN 32
size_t sentence_max_bytes(int max_len);

// The source ids a sentence becomes (with <eos>), as the model sees them;
// -1 with err for invalid UTF-8, an empty sentence or one over max_len
// tokens (or sentence_max_bytes).
int translator_encode_source(Translator *t, const char *sentence, int32_t **ids, Error *err);
// The same for any model's source tokenizer and length limit (a model in
// training has no Translator).
int encode_source_sentence(Tokenizer *source, int max_len, const char *sentence, int32_t **ids,
                           Error *err);

#endif
