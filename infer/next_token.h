// From the decoder's logits to the next token.
//
// A translation may contain <eos> and every ordinary token, never <pad>,
// <unk> or <bos>: since <eos> is the last special token, the allowed ids are
// the one range [TOKEN_EOS, V).  log p(v) = logit(v) − log Σ exp(logits) over
// that range.  Greedy search needs only the most probable token and its
// log-probability, beam search the normaliser and a few of the best tokens:
// neither needs the whole row of log-probabilities written out.
#ifndef AZUL_NEXT_TOKEN_H
#define AZUL_NEXT_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/special_tokens.h"

// The first id a translation may contain.
enum { TOKEN_FIRST_ALLOWED = TOKEN_EOS };

// log Σ_{v ∈ [TOKEN_EOS, V)} exp(logits[v]): one row (V) of logits.  The sum
// runs in float, 16 lanes in a fixed order, so the result depends neither on
// the number of threads nor on the batch.
float next_token_log_normaliser(const float *logits, int V);

// The allowed token with the largest logit, the lowest id on ties.
int32_t next_token_argmax(const float *logits, int V);

// Whether every allowed logit of one row (V) is a finite number.  Finite but
// huge weights (a damaged or hostile model file loads) can overflow the
// logits to ±inf and from there to NaN: the argmax of such a row is
// meaningless (NaN compares false, so a search would pick an arbitrary
// token), and every score built from it NaN.  The searches refuse such a row.
bool next_token_logits_finite(const float *logits, int V);

// The error for such a row, at decoding step `step`.
int next_token_not_finite(Error *err, int step);

#endif
