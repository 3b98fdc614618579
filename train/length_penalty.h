// Choosing the length penalty on dev.  Beam search ranks translations by
// log p / (length + 1)^alpha: with alpha too small its translations come out
// short (log p only falls as a translation grows), with alpha too large,
// long.  Which alpha fits depends on the model and the language pair, so
// when a run ends, the best model translates the dev pairs with beam 4 at
// each alpha of TRANSLATOR_LENGTH_PENALTIES, and the one with the best BLEU
// is saved in model.safetensors ("decoding"), where azul translate finds it.
//
// The search takes the time it is given, not more: the dev pairs go in
// chunks of 64, each translated at every alpha, until they or the time run
// out, and the alphas are compared on the chunks done.  A model that has
// learnt next to nothing is not searched at all: every alpha would score
// the same nothing after translating every sentence to its length limit.
#ifndef AZUL_LENGTH_PENALTY_H
#define AZUL_LENGTH_PENALTY_H

#include "train/trainer.h"
#include "train/training_log.h"

enum { LENGTH_PENALTY_BEAM = 4 };

// The search's time: what a time budget leaves of itself, less
// LENGTH_PENALTY_END_SECONDS to save the model and end the run; without a
// budget, a quarter of the time trained, and at least
// LENGTH_PENALTY_MIN_SECONDS.
#define LENGTH_PENALTY_END_SECONDS 0.5
#define LENGTH_PENALTY_MIN_SECONDS 60.0
// Below this greedy dev BLEU (of the best model's validation) the search is
// skipped.
#define LENGTH_PENALTY_MIN_BLEU 1.0

// Does the above for DIR/model.safetensors; nothing without dev pairs.
// Every chunk and search step checks for an interrupt (trainer_interrupted):
// interrupted, it saves nothing.  What it skipped or cut short, and why, is
// a note in the training output and log.  0, or -1 with err.
int length_penalty_choose(Trainer *t, TrainingLog *log, Error *err);

// The seconds the whole search (every alpha, all the dev pairs) should
// take once the model translates about as long as the references: timed
// on LENGTH_PENALTY_SAMPLE pairs spread over the dev set, and scaled from
// the tokens the trainer's model gave them (an untrained model's run to the
// length limit) to their references'.  What a time budget reserves for it.
enum { LENGTH_PENALTY_SAMPLE = 16 };
int length_penalty_time(const Trainer *t, double *seconds, Error *err);

#endif
