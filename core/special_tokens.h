// The token ids every vocabulary starts with.  The tokenizer hands them out,
// the model pads with one and starts and ends target sentences with others,
// and search stops at <eos>: they live here, below both, so that neither the
// tokenizer nor the model needs the other to know them.
#ifndef AZUL_SPECIAL_TOKENS_H
#define AZUL_SPECIAL_TOKENS_H

enum {
    TOKEN_PAD = 0,           // fills a batch's shorter sentences; attends and is attended to by nothing
    TOKEN_UNK = 1,           // a word vocabulary's stand-in for words it does not know
    TOKEN_BOS = 2,           // starts every target sentence the decoder reads
    TOKEN_EOS = 3,           // ends every source sentence and every translation
    TOKEN_SPECIAL_COUNT = 4,
};

#endif
