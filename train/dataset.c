#include "train/dataset.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

int dataset_encode(Dataset *d, const Corpus *corpus, TokenizerPair *tok, int max_len, Error *err) {
    memset(d, 0, sizeof *d);
    int32_t *src = NULL, *tgt = NULL;
    for (size_t i = 0; i < corpus_size(corpus); i++) {
        const SentencePair *p = &corpus->pairs[i];
        arrsetlen(src, 0);
        arrsetlen(tgt, 0);
        Error inner;
        if (tokenizer_encode(&tok->source, p->source, strlen(p->source), &src, &inner) < 0 ||
            tokenizer_encode(&tok->target, p->target, strlen(p->target), &tgt, &inner) < 0) {
            arrfree(src);
            arrfree(tgt);
            dataset_free(d);
            return error_set(err, "%s:%zu: %s", corpus->path, p->line, inner.message);
        }
        if (arrlen(src) == 0 || arrlen(tgt) == 0) {
            d->empty++;
            continue;
        }
        if (arrlen(src) + 1 > max_len || arrlen(tgt) + 1 > max_len) {
            d->too_long++;
            continue;
        }
        EncodedPair e = {(uint32_t)arrlen(d->ids), 0, (uint16_t)(arrlen(src) + 1),
                         (uint16_t)arrlen(tgt), (uint32_t)p->line, (uint32_t)i};
        memcpy(arraddnptr(d->ids, arrlen(src)), src, (size_t)arrlen(src) * sizeof *src);
        arrput(d->ids, TOKEN_EOS);
        e.tgt_offset = (uint32_t)arrlen(d->ids);
        memcpy(arraddnptr(d->ids, arrlen(tgt)), tgt, (size_t)arrlen(tgt) * sizeof *tgt);
        arrput(d->pairs, e);
        d->source_tokens += e.src_len;
        d->target_tokens += (size_t)e.tgt_len + 1;
    }
    arrfree(src);
    arrfree(tgt);
    return 0;
}

void dataset_free(Dataset *d) {
    arrfree(d->ids);
    arrfree(d->pairs);
    memset(d, 0, sizeof *d);
}

size_t dataset_size(const Dataset *d) { return (size_t)arrlen(d->pairs); }

int dataset_learn_tokenizers(TokenizerPair *tokenizers, const TokenizerConfig *config, bool joint,
                             const Corpus *corpus, Error *err) {
    const size_t n = corpus_size(corpus);
    const char **sides = malloc((2 * n + 1) * sizeof *sides);  // sources, then targets
    if (!sides) return error_out_of_memory(err, "learning the tokenizers", (2 * n + 1) * sizeof *sides);
    for (size_t i = 0; i < n; i++) {
        sides[i] = corpus->pairs[i].source;
        sides[n + i] = corpus->pairs[i].target;
    }
    int status = tokenizer_pair_learn(tokenizers, config, joint, sides, sides + n, n, err);
    free(sides);
    return status;
}
