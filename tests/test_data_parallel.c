// Data parallelism (train/data_parallel.c): a batch split into shards gives
// the whole batch's loss and gradients, dropout included, up to rounding.
#include <math.h>
#include <stdlib.h>

#include "model/threads.h"
#include "tests/model_fixture.h"
#include "tests/test.h"
#include "train/data_parallel.h"

typedef struct {
    double loss, nll;
    int tokens;
    float *grads;  // (n_params), malloc'd
} StepResult;

// One forward and backward of the example batch (three pairs of different
// lengths, padded) with dropout on, split into n_shards.
static StepResult run_sharded(const Model *m, int n_shards) {
    ExampleBatch b = example_batch(17, m->config.src_vocab, m->config.tgt_vocab);
    DataParallel dp;
    Gradients g;
    Error err;
    assert_int_equal(data_parallel_init(&dp, m, n_shards, &err), 0);
    assert_int_equal(gradients_build(&g, m, &err), 0);
    assert_int_equal(data_parallel_forward(&dp, m, b.src, b.tgt_in, b.tgt_out, EXAMPLE_B, EXAMPLE_S,
                                           EXAMPLE_T, true, 99, &err), 0);
    data_parallel_backward(&dp, m, &g);
    StepResult r = {dp.loss, dp.nll, dp.loss_tokens, malloc(g.n * sizeof(float))};
    assert_non_null(r.grads);
    for (size_t i = 0; i < g.n; i++) r.grads[i] = g.grads[i];
    // the shards' own gradients are left zero for the next step
    for (int k = 1; k < dp.n_shards; k++) {
        for (size_t i = 0; i < g.n; i++) assert_true(dp.shard_gradients[k - 1].grads[i] == 0.0f);
    }
    gradients_free(&g);
    data_parallel_free(&dp);
    return r;
}

static void expect_same_step(const Model *m, const StepResult *whole, const StepResult *split,
                             int n_shards) {
    assert_int_equal(split->tokens, whole->tokens);
    if (fabs(split->loss - whole->loss) > 1e-6 * whole->loss ||
        fabs(split->nll - whole->nll) > 1e-6 * whole->nll) {
        fail_msg("%d shards: loss %.9g (nll %.9g), the whole batch %.9g (%.9g)", n_shards,
                 split->loss, split->nll, whole->loss, whole->nll);
    }
    double largest = 0.0;
    // (not fmax: GCC 12 for arm64 stops with an internal compiler error
    // vectorising an fmax reduction of floats widened to double)
    for (size_t i = 0; i < m->n_params; i++) {
        const double size = fabs(whole->grads[i]);
        if (size > largest) largest = size;
    }
    assert_true(largest > 0.0);
    for (size_t i = 0; i < m->n_params; i++) {
        // a wrong mask, row or token count moves gradients by their own size;
        // the order of additions moves them by a few float roundings
        double allowed = 1e-5 * largest + 1e-4 * fabs(whole->grads[i]);
        if (fabs(split->grads[i] - whole->grads[i]) > allowed) {
            fail_msg("%d shards: gradient %zu is %.9g, the whole batch's %.9g", n_shards, i,
                     split->grads[i], whole->grads[i]);
        }
    }
}

static void shards_add_up_to_the_whole_batch(void **state) {
    (void)state;
    const bool variants[2][2] = {{false, false}, {true, true}};  // post-LN; pre-LN with tied output
    for (int v = 0; v < 2; v++) {
        ModelConfig c = fixture_config(variants[v][0], variants[v][1], 0.2f);
        Model m;
        Error err;
        assert_int_equal(model_build(&m, &c, 5, &err), 0);
        StepResult whole = run_sharded(&m, 1);
        // 2 shards split the three rows 1 + 2; 4 shards leave the first empty
        for (int n = 2; n <= 4; n += 2) {
            StepResult split = run_sharded(&m, n);
            expect_same_step(&m, &whole, &split, n);
            free(split.grads);
        }
        free(whole.grads);
        model_free(&m);
    }
}

// One shard is exactly the plain forward and backward, bit for bit.
static void one_shard_is_the_plain_step(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.1f);
    Model m;
    Error err;
    assert_int_equal(model_build(&m, &c, 5, &err), 0);
    StepResult sharded = run_sharded(&m, 1);
    ExampleBatch b = example_batch(17, c.src_vocab, c.tgt_vocab);
    ModelRun run;
    model_run_start(&run, &m);
    assert_int_equal(model_forward(&m, &run.ws, b.src, b.tgt_in, b.tgt_out, EXAMPLE_B, EXAMPLE_S,
                                   EXAMPLE_T, true, 99, &err), 0);
    model_backward(&m, &run.ws, &run.g);
    assert_true(run.ws.loss == sharded.loss);
    for (size_t i = 0; i < m.n_params; i++) assert_true(run.g.grads[i] == sharded.grads[i]);
    model_run_free(&run);
    free(sharded.grads);
    model_free(&m);
}

// Only small models are split, and only when there are threads to split for.
static void small_models_are_split_over_the_threads(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.1f);
    assert_int_equal(data_parallel_shards_for(&c, 1), 1);
    assert_int_equal(data_parallel_shards_for(&c, 2), 2);
    c.d_model = 512;
    c.n_heads = 8;
    assert_int_equal(data_parallel_shards_for(&c, 2), 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(shards_add_up_to_the_whole_batch),
    cmocka_unit_test(one_shard_is_the_plain_step),
    cmocka_unit_test(small_models_are_split_over_the_threads),
};
TEST_GROUP(data_parallel_tests, tests);
