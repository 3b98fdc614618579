#include "train/length_penalty.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "infer/search.h"
#include "infer/translator.h"
#include "model/model_file.h"
#include "train/batcher.h"

enum { ROWS = 64 };

// Beam-4 translations of the first n dev pairs with m at alpha, scored.
static int score_alpha(const Trainer *t, const Model *m, size_t n, float alpha, BleuScore *score,
                       Error *err) {
    const size_t ids = (size_t)ROWS * m->config.max_len;
    int32_t *src = malloc(ids * sizeof *src), *tgt_in = malloc(ids * sizeof *tgt_in);
    int32_t *tgt_out = malloc(ids * sizeof *tgt_out);
    DevTexts texts = {0};
    int status = src && tgt_in && tgt_out ? 0 : error_out_of_memory(err, "choosing the length penalty", ids);
    for (size_t first = 0; first < n && status == 0; first += ROWS) {
        int count = n - first < ROWS ? (int)(n - first) : ROWS, S, T;
        uint32_t rows[ROWS];
        for (int i = 0; i < count; i++) rows[i] = (uint32_t)(first + (size_t)i);
        batch_fill_pairs(t->valid, rows, count, src, tgt_in, tgt_out, &S, &T);
        Hypothesis out[ROWS];
        status = beam_translate(m, src, count, S, LENGTH_PENALTY_BEAM, alpha, 1, out, err);
        if (status < 0) break;
        status = dev_texts_add(&texts, t, out, rows, count, err);
        for (int i = 0; i < count; i++) hypothesis_free(&out[i]);
    }
    if (status == 0) status = dev_texts_score(&texts, score, NULL, err);
    dev_texts_free(&texts);
    free(src);
    free(tgt_in);
    free(tgt_out);
    return status;
}

int length_penalty_choose(Trainer *t, TrainingLog *log, Error *err) {
    // All the dev pairs: on spa-eng's first 500, the differences between
    // alphas were noise (the best there was the worst on all 2,000).
    const size_t n = dataset_size(t->valid);
    if (n == 0 || !t->valid_corpus) return 0;
    char path[TRAINER_PATH_BYTES];
    if (trainer_path(t, "model.safetensors", path, err) < 0) return -1;
    Model best;
    if (model_load(&best, NULL, path, err) < 0) return -1;
    static const float alphas[] = TRANSLATOR_LENGTH_PENALTIES;
    enum { N_ALPHAS = sizeof alphas / sizeof alphas[0] };
    BleuScore scores[N_ALPHAS];
    int chosen = -1, status = 0;
    for (int a = 0; a < N_ALPHAS && status == 0; a++) {
        status = score_alpha(t, &best, n, alphas[a], &scores[a], err);
        if (status < 0) break;
        // of equal scores, the alpha nearest the default wins: no reason to move from it
        const float from_default = fabsf(alphas[a] - TRANSLATOR_DEFAULT_LENGTH_PENALTY);
        if (chosen < 0 || scores[a].score > scores[chosen].score ||
            (scores[a].score == scores[chosen].score &&
             from_default < fabsf(alphas[chosen] - TRANSLATOR_DEFAULT_LENGTH_PENALTY))) {
            chosen = a;
        }
    }
    if (status == 0) {
        char decoding[160];
        snprintf(decoding, sizeof decoding,
                 "{\"length_penalty\": %g, \"chosen_by\": \"dev BLEU, beam %d, %zu pairs\"}",
                 (double)alphas[chosen], LENGTH_PENALTY_BEAM, n);
        status = trainer_save_model(t, &best, "model.safetensors", decoding, err);
    }
    model_free(&best);
    if (status < 0) return -1;
    return training_log_length_penalty(log, &t->progress, alphas, scores, N_ALPHAS, chosen, n, LENGTH_PENALTY_BEAM, err);
}
