// Learning: the toy-sized network must be able to memorise a batch and to
// learn a simple task, with nothing but its own backward pass and AdamW.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/gradcheck.h"
#include "model/optimizer.h"
#include "tests/model_fixture.h"
#include "tests/test.h"
#include "train/dataset.h"

static void overfits_one_fixed_batch(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.0f);
    c.label_smoothing = 0.0f;  // so that "near zero" is reachable
    Model m;
    Error err;
    assert_int_equal(model_build(&m, &c, 1, &err), 0);
    ExampleBatch b = example_batch(21, c.src_vocab, c.tgt_vocab);
    AdamWConfig adam = adamw_defaults();
    ModelRun run;
    model_run_start(&run, &m);
    AdamState moments;
    assert_int_equal(adam_state_build(&moments, &m, &err), 0);
    double first = 0, last = 0;
    for (int step = 1; step <= 150; step++) {
        assert_int_equal(model_forward(&m, &run.ws, b.src, b.tgt_in, b.tgt_out, EXAMPLE_B, EXAMPLE_S,
                                       EXAMPLE_T, true, (uint64_t)step, &err),
                         0);
        if (step == 1) first = run.ws.loss;
        last = run.ws.loss;
        gradients_zero(&run.g);
        model_backward(&m, &run.ws, &run.g);
        adamw_step(&m, &run.g, &moments, &adam, 1e-3f, step, 1.0, NULL);
    }
    printf("  one batch: loss %.4f → %.4f in 150 steps\n", first, last);
    assert_true(first > 2.0);
    assert_true(last < 0.02);
    model_run_free(&run);
    adam_state_free(&moments);
    model_free(&m);
}

// ---------------------------------------------------------------- a task: reverse a sequence

typedef struct {
    int32_t **src, **tgt;  // stb_ds arrays of token ids (no <bos>/<eos>)
    size_t n;
} Pairs;

static Pairs encode_pairs(TokenizerPair *tok, const Corpus *corpus) {
    Pairs p = {calloc(corpus_size(corpus), sizeof(int32_t *)),
               calloc(corpus_size(corpus), sizeof(int32_t *)), corpus_size(corpus)};
    Error err;
    for (size_t i = 0; i < p.n; i++) {
        const SentencePair *sp = &corpus->pairs[i];
        assert_int_equal(tokenizer_encode(&tok->source, sp->source, strlen(sp->source), &p.src[i], &err), 0);
        assert_int_equal(tokenizer_encode(&tok->target, sp->target, strlen(sp->target), &p.tgt[i], &err), 0);
    }
    return p;
}

static void free_pairs(Pairs *p) {
    for (size_t i = 0; i < p->n; i++) {
        arrfree(p->src[i]);
        arrfree(p->tgt[i]);
    }
    free(p->src);
    free(p->tgt);
}

// Pads pairs [first, first + B) into src (B, S), tgt_in (B, T), tgt_out (B, T).
static void make_batch(const Pairs *p, const size_t *order, size_t first, int B, int S, int T,
                       int32_t *src, int32_t *tgt_in, int32_t *tgt_out) {
    memset(src, 0, (size_t)B * S * sizeof *src);
    memset(tgt_in, 0, (size_t)B * T * sizeof *tgt_in);
    memset(tgt_out, 0, (size_t)B * T * sizeof *tgt_out);
    for (int b = 0; b < B; b++) {
        size_t i = order[(first + (size_t)b) % p->n];
        for (ptrdiff_t s = 0; s < arrlen(p->src[i]); s++) src[b * S + s] = p->src[i][s];
        ptrdiff_t n = arrlen(p->tgt[i]);
        tgt_in[b * T] = TOKEN_BOS;
        for (ptrdiff_t t = 0; t < n; t++) {
            tgt_in[b * T + t + 1] = p->tgt[i][t];
            tgt_out[b * T + t] = p->tgt[i][t];
        }
        tgt_out[b * T + n] = TOKEN_EOS;
    }
}

static void learns_to_reverse_sequences(void **state) {
    (void)state;
    Corpus train, dev;
    Error err;
    assert_int_equal(corpus_read(&train, "data/reverse/train.tsv", stderr, 5, &err), 0);
    assert_int_equal(corpus_read(&dev, "data/reverse/dev.tsv", stderr, 5, &err), 0);
    TokenizerConfig word = {TOKENIZER_WORD, 0, 1, {false}};
    TokenizerPair tok;
    assert_int_equal(dataset_learn_tokenizers(&tok, &word, false, &train, &err), 0);
    Pairs p = encode_pairs(&tok, &train), d = encode_pairs(&tok, &dev);

    ModelConfig c = fixture_config(false, false, 0.0f);
    c.src_vocab = (int)tokenizer_vocab_size(&tok.source);
    c.tgt_vocab = (int)tokenizer_vocab_size(&tok.target);
    Model m;
    assert_int_equal(model_build(&m, &c, 3, &err), 0);

    enum { B = 32, S = 8, T = 9, STEPS = 1000 };
    int32_t src[B * S], tgt_in[B * T], tgt_out[B * T];
    size_t *order = malloc(p.n * sizeof *order);
    for (size_t i = 0; i < p.n; i++) order[i] = i;
    AdamWConfig adam = adamw_defaults();
    ModelRun run;
    model_run_start(&run, &m);
    AdamState moments;
    assert_int_equal(adam_state_build(&moments, &m, &err), 0);
    Schedule schedule = {SCHEDULE_INVERSE_SQRT, 2e-3f, 100, STEPS, 0, c.d_model};
    double loss = 0;
    for (int step = 1; step <= STEPS; step++) {
        make_batch(&p, order, (size_t)(step - 1) * B, B, S, T, src, tgt_in, tgt_out);
        assert_int_equal(model_forward(&m, &run.ws, src, tgt_in, tgt_out, B, S, T, true, (uint64_t)step, &err), 0);
        loss = run.ws.loss;
        gradients_zero(&run.g);
        model_backward(&m, &run.ws, &run.g);
        adamw_step(&m, &run.g, &moments, &adam, schedule_lr(&schedule, step), step, 1.0, NULL);
    }
    size_t exact = 0;
    for (size_t i = 0; i < d.n; i++) {
        int32_t one_src[S] = {0};
        for (ptrdiff_t s = 0; s < arrlen(d.src[i]); s++) one_src[s] = d.src[i][s];
        int32_t *hyp = NULL;
        reference_greedy(&m, one_src, S, &hyp);
        exact += arrlen(hyp) == arrlen(d.tgt[i]) &&
                 memcmp(hyp, d.tgt[i], (size_t)arrlen(hyp) * sizeof *hyp) == 0;
        arrfree(hyp);
    }
    printf("  reverse: final training loss %.3f; %zu of %zu held-out sequences reversed exactly\n",
           loss, exact, d.n);
    assert_true(exact * 10 >= d.n * 9);  // at least 90% of unseen sequences

    free(order);
    free_pairs(&p);
    free_pairs(&d);
    model_run_free(&run);
    adam_state_free(&moments);
    model_free(&m);
    tokenizer_pair_free(&tok);
    corpus_free(&train);
    corpus_free(&dev);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(overfits_one_fixed_batch),
    cmocka_unit_test(learns_to_reverse_sequences),
};
TEST_GROUP(learning_tests, tests);
