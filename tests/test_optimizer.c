// AdamW, the learning-rate schedules and gradient clipping, by their definitions.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/optimizer.h"
#include "model/rng.h"
#include "tests/model_fixture.h"
#include "tests/test.h"

static void noam_rises_then_decays_as_in_the_paper(void **state) {
    (void)state;
    Schedule s = {SCHEDULE_NOAM, 1.0f, 4000, 0, 0, 512};
    // lr = d^-0.5 · min(step^-0.5, step · warmup^-1.5); the peak is at step = warmup
    assert_float_equal(schedule_lr(&s, 1), pow(512, -0.5) * pow(4000, -1.5), 1e-10);
    assert_float_equal(schedule_lr(&s, 4000), pow(512, -0.5) * pow(4000, -0.5), 1e-8);
    assert_float_equal(schedule_lr(&s, 16000), pow(512, -0.5) * pow(16000, -0.5), 1e-8);
    assert_true(schedule_lr(&s, 3999) < schedule_lr(&s, 4000));
    assert_true(schedule_lr(&s, 4001) < schedule_lr(&s, 4000));
}

static void inverse_sqrt_and_cosine_schedules(void **state) {
    (void)state;
    Schedule inv = {SCHEDULE_INVERSE_SQRT, 1e-3f, 100, 0, 0, 0};
    assert_float_equal(schedule_lr(&inv, 50), 5e-4, 1e-9);
    assert_float_equal(schedule_lr(&inv, 100), 1e-3, 1e-9);
    assert_float_equal(schedule_lr(&inv, 400), 5e-4, 1e-9);
    Schedule cosine = {SCHEDULE_COSINE, 1e-3f, 100, 1100, 1e-5f, 0};
    assert_float_equal(schedule_lr(&cosine, 100), 1e-3, 1e-9);
    assert_float_equal(schedule_lr(&cosine, 600), (1e-3 + 1e-5) / 2, 1e-8);  // half way down
    assert_float_equal(schedule_lr(&cosine, 1100), 1e-5, 1e-9);
    assert_float_equal(schedule_lr(&cosine, 5000), 1e-5, 1e-9);
    ScheduleKind kind;
    assert_int_equal(schedule_parse_kind("cosine", &kind), 0);
    assert_int_equal(kind, SCHEDULE_COSINE);
    assert_int_equal(schedule_parse_kind("linear", &kind), -1);
}

static void clipping_scales_to_the_norm(void **state) {
    (void)state;
    float g[4] = {3, 0, 0, 4};  // norm 5
    assert_float_equal(clip_gradient_norm(g, 4, 10.0), 5.0, 1e-12);
    assert_true(g[0] == 3 && g[3] == 4);  // under the limit: untouched
    assert_float_equal(clip_gradient_norm(g, 4, 1.0), 5.0, 1e-12);
    assert_float_equal(sqrtf(g[0] * g[0] + g[3] * g[3]), 1.0, 1e-5);
    assert_float_equal(g[0] / g[3], 0.75, 1e-6);  // direction kept
}

static void adamw_first_step_by_hand(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.0f);
    Model m;
    Error err;
    assert_int_equal(model_build(&m, &c, 1, &err), 0);
    // First step: m̂ = g, v̂ = g², so the update is lr · g / (|g| + eps) ≈ lr · sign(g),
    // plus decoupled decay lr · wd · θ on matrices only.
    const TensorInfo *w = model_find_tensor(&m, "encoder.0.ffn.w1");
    const TensorInfo *b = model_find_tensor(&m, "encoder.0.ffn.b1");
    float w_before = m.params[w->offset], b_before = 0.5f;
    m.params[b->offset] = b_before;
    Gradients g;
    AdamState moments;
    assert_int_equal(gradients_build(&g, &m, &err), 0);
    assert_int_equal(adam_state_build(&moments, &m, &err), 0);
    g.grads[w->offset] = 0.25f;
    g.grads[b->offset] = -2.0f;
    AdamWConfig adam = adamw_defaults();
    adamw_update(&m, &g, &moments, &adam, 0.01f, 1);
    float w_expected = w_before - 0.01f * 0.01f * w_before - 0.01f * 0.25f / (0.25f + 1e-9f);
    assert_float_equal(m.params[w->offset], w_expected, 1e-7);
    assert_float_equal(m.params[b->offset], b_before + 0.01f, 1e-7);  // no decay on biases
    assert_float_equal(moments.m[b->offset], 0.1f * -2.0f, 1e-7);
    assert_float_equal(moments.v[b->offset], 0.02f * 4.0f, 1e-7);
    gradients_free(&g);
    adam_state_free(&moments);
    model_free(&m);
}

// The fused step is the three separate ones, bit for bit, clipped or not.
static void adamw_step_equals_clip_update_and_zero(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.0f);
    for (int clipped = 0; clipped < 2; clipped++) {
        Model fused, separate;
        Gradients gf, gs;
        AdamState mf, ms;
        Error err;
        assert_int_equal(model_build(&fused, &c, 5, &err), 0);
        assert_int_equal(model_build(&separate, &c, 5, &err), 0);
        assert_int_equal(gradients_build(&gf, &fused, &err), 0);
        assert_int_equal(gradients_build(&gs, &separate, &err), 0);
        assert_int_equal(adam_state_build(&mf, &fused, &err), 0);
        assert_int_equal(adam_state_build(&ms, &separate, &err), 0);
        AdamWConfig adam = adamw_defaults();
        const double max_norm = clipped ? 1e-2 : 1e6;
        for (long step = 1; step <= 3; step++) {
            Rng rng;
            rng_seed(&rng, (uint64_t)step);
            for (size_t i = 0; i < gf.n; i++) gf.grads[i] = gs.grads[i] = rng_normal(&rng) * 1e-3f;
            bool finite = false;
            double norm = adamw_step(&fused, &gf, &mf, &adam, 1e-3f, step, max_norm, &finite);
            assert_true(norm == clip_gradient_norm(gs.grads, gs.n, max_norm));
            assert_true(finite);
            adamw_update(&separate, &gs, &ms, &adam, 1e-3f, step);
            gradients_zero(&gs);
        }
        assert_memory_equal(fused.params, separate.params, fused.n_params * sizeof(float));
        assert_memory_equal(mf.m, ms.m, mf.n * sizeof(float));
        assert_memory_equal(mf.v, ms.v, mf.n * sizeof(float));
        for (size_t i = 0; i < gf.n; i++) assert_true(gf.grads[i] == 0.0f);
        // one weight made NaN by its update is reported, whichever thread has it
        gf.grads[gf.n - 1] = NAN;
        bool finite = true;
        adamw_step(&fused, &gf, &mf, &adam, 1e-3f, 4, max_norm, &finite);
        assert_false(finite);
        gradients_free(&gf); gradients_free(&gs);
        adam_state_free(&mf); adam_state_free(&ms);
        model_free(&fused); model_free(&separate);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(noam_rises_then_decays_as_in_the_paper),
    cmocka_unit_test(inverse_sqrt_and_cosine_schedules),
    cmocka_unit_test(clipping_scales_to_the_norm),
    cmocka_unit_test(adamw_first_step_by_hand),
    cmocka_unit_test(adamw_step_equals_clip_update_and_zero),
};
TEST_GROUP(optimizer_tests, tests);
