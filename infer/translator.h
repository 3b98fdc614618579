// A loaded model ready to translate text: tokenize, decode, detokenize.
#ifndef AZUL_TRANSLATOR_H
#define AZUL_TRANSLATOR_H

#include "model/transformer.h"
#include "tokenizer/tokenizer_pair.h"

typedef struct {
    Model model;
    TokenizerPair tokenizers;
} Translator;

int translator_load(Translator *t, const char *model_path, Error *err);
void translator_free(Translator *t);

// Translates n sentences at once.  out[i] receives a malloc'd translation,
// or NULL with problems[i] set (malloc'd) when sentence i cannot be
// translated (invalid UTF-8, empty, too long); the others still are.
void translator_translate(Translator *t, const char *const *sentences, size_t n, char **out,
                          char **problems);

// The source ids a sentence becomes (with <eos>), as the model sees them;
// -1 with err for invalid UTF-8, an empty sentence or one over max_len.
int translator_encode_source(Translator *t, const char *sentence, int32_t **ids, Error *err);

#endif
