// The C model against PyTorch, llm.c style: tools/make_reference.py built the
// same small model in PyTorch and stored its weights, a padded batch, the
// logits, the loss, every gradient and the losses of ten AdamW steps in
// tests/fixtures/reference_*.safetensors.  Here the C code must reproduce them.
// The *_dropout files run with dropout 0.1: PyTorch applied azul's masks
// (recomputed from the hash of model/rng.h, saved in the file with their
// stream numbers), so the comparison covers dropout's forward and backward.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "model/ops.h"
#include "model/optimizer.h"
#include "model/safetensors.h"
#include "tests/model_fixture.h"
#include "tests/test.h"

typedef struct {
    SafetensorsFile file;
    Model model;
    const int32_t *src, *tgt_in, *tgt_out;
    int B, S, T;
    bool dropout;           // a *_dropout file: the forward runs with masks from dropout_seed,
    uint64_t dropout_seed;  // AdamW step k with dropout_seed + k
} Reference;

static const float *tensor_data(const Reference *r, const char *name, size_t floats) {
    const SafetensorsTensor *t = safetensors_find(&r->file, name);
    if (!t) fail_msg("reference has no tensor \"%s\"", name);
    assert_int_equal(t->bytes, floats * sizeof(float));
    return t->data;  // the writer pads the header, so the data is aligned
}

static void load_reference(Reference *r, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    Error err;
    if (safetensors_read(&r->file, path, &err) < 0) fail_msg("%s", err.message);
    cJSON *config_json = cJSON_Parse(safetensors_metadata(&r->file, "config"));
    ModelConfig config;
    assert_int_equal(model_config_from_json(&config, config_json, &err), 0);
    cJSON_Delete(config_json);
    assert_int_equal(model_build(&r->model, &config, 0, &err), 0);
    for (ptrdiff_t i = 0; i < arrlen(r->model.tensors); i++) {
        const TensorInfo *t = &r->model.tensors[i];
        memcpy(r->model.params + t->offset, tensor_data(r, t->name, t->size), t->size * sizeof(float));
    }
    const SafetensorsTensor *src = safetensors_find(&r->file, "batch.src");
    const SafetensorsTensor *tgt_in = safetensors_find(&r->file, "batch.tgt_in");
    const SafetensorsTensor *tgt_out = safetensors_find(&r->file, "batch.tgt_out");
    assert_non_null(src);
    assert_non_null(tgt_in);
    assert_non_null(tgt_out);
    assert_string_equal(src->dtype, "I32");
    r->B = (int)src->shape[0];
    r->S = (int)src->shape[1];
    r->T = (int)tgt_in->shape[1];
    r->src = src->data;
    r->tgt_in = tgt_in->data;
    r->tgt_out = tgt_out->data;
    const char *seed = safetensors_metadata(&r->file, "dropout_seed");
    r->dropout = seed != NULL;
    r->dropout_seed = seed ? strtoull(seed, NULL, 10) : 0;
    assert_int_equal(r->dropout, r->model.config.dropout > 0.0f);
}

static void free_reference(Reference *r) {
    model_free(&r->model);
    safetensors_free(&r->file);
}

// The larger of x and y, ignoring a NaN x as fmax(y, x) does.  Not fmax in
// the loop below: GCC 12 for arm64 stops with an internal compiler error
// (in vect_transform_reduction) vectorising an fmax reduction of floats
// widened to double.
static double larger(double x, double y) { return x > y ? x : y; }

static double max_abs_difference(const float *a, const float *b, size_t n, double *max_ref) {
    double worst = 0, largest = 0;
    for (size_t i = 0; i < n; i++) {
        worst = larger(fabs((double)a[i] - b[i]), worst);
        largest = larger(fabs((double)b[i]), largest);
    }
    if (max_ref) *max_ref = largest;
    return worst;
}

static void forward_and_backward_match(const char *file) {
    Reference r;
    load_reference(&r, file);
    Model *m = &r.model;
    Error err;
    ModelRun run;
    model_run_start(&run, m);
    assert_int_equal(model_forward(m, &run.ws, r.src, r.tgt_in, r.tgt_out, r.B, r.S, r.T, r.dropout,
                                   r.dropout_seed, &err), 0);
    size_t n_logits = (size_t)r.B * r.T * m->config.tgt_vocab;
    double ref_max;
    double logits_diff = max_abs_difference(run.ws.acts.logits, tensor_data(&r, "logits", n_logits),
                                            n_logits, &ref_max);
    double ref_loss = tensor_data(&r, "loss", 1)[0];
    printf("  %s: logits max |diff| %.2e (max |logit| %.2f); loss %.7f vs PyTorch %.7f\n", file,
           logits_diff, ref_max, run.ws.loss, ref_loss);
    assert_true(logits_diff <= 1e-4 * fmax(ref_max, 1.0));
    assert_true(fabs(run.ws.loss - ref_loss) <= 1e-4 * fabs(ref_loss));

    gradients_zero(&run.g);
    model_backward(m, &run.ws, &run.g);
    for (ptrdiff_t i = 0; i < arrlen(m->tensors); i++) {
        const TensorInfo *t = &m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "grad.%s", t->name);
        double largest;
        double diff = max_abs_difference(run.g.grads + t->offset, tensor_data(&r, name, t->size),
                                         t->size, &largest);
        printf("  %s: %-34s max |diff| %.2e  (max |grad| %.2e)\n", file, t->name, diff, largest);
        // ∂L/∂b_K is zero in exact arithmetic (softmax ignores a shift shared
        // by a whole row); both sides hold rounding noise, compared absolutely.
        double tolerance = strstr(t->name, ".bk") ? 1e-6 : 1e-4 * largest;
        if (!(diff <= tolerance)) {
            fail_msg("%s: gradient of %s differs from PyTorch by %.3g (tolerance %.3g)", file,
                     t->name, diff, tolerance);
        }
    }
    model_run_free(&run);
    free_reference(&r);
}

static void training_steps_match(const char *file) {
    Reference r;
    load_reference(&r, file);
    Model *m = &r.model;
    cJSON *opt = cJSON_Parse(safetensors_metadata(&r.file, "optimizer"));
    AdamWConfig adam = {
        (float)cJSON_GetObjectItem(opt, "beta1")->valuedouble,
        (float)cJSON_GetObjectItem(opt, "beta2")->valuedouble,
        (float)cJSON_GetObjectItem(opt, "eps")->valuedouble,
        (float)cJSON_GetObjectItem(opt, "weight_decay")->valuedouble,
    };
    float lr = (float)cJSON_GetObjectItem(opt, "lr")->valuedouble;
    double clip = cJSON_GetObjectItem(opt, "clip_norm")->valuedouble;
    int steps = cJSON_GetObjectItem(opt, "steps")->valueint;
    cJSON_Delete(opt);
    const float *expected = tensor_data(&r, "adamw.losses", (size_t)steps);
    Error err;
    ModelRun run;
    model_run_start(&run, m);
    AdamState moments;
    assert_int_equal(adam_state_build(&moments, m, &err), 0);
    printf("  %s: AdamW losses", file);
    for (int step = 1; step <= steps; step++) {
        assert_int_equal(model_forward(m, &run.ws, r.src, r.tgt_in, r.tgt_out, r.B, r.S, r.T, true,
                                       r.dropout_seed + (uint64_t)step, &err), 0);
        printf(" %.5f/%.5f", run.ws.loss, expected[step - 1]);
        if (!(fabs(run.ws.loss - expected[step - 1]) <= 1e-3 * expected[step - 1])) {
            fail_msg("%s: step %d loss %.6f, PyTorch %.6f", file, step, run.ws.loss, expected[step - 1]);
        }
        gradients_zero(&run.g);
        model_backward(m, &run.ws, &run.g);
        adamw_step(m, &run.g, &moments, &adam, lr, step, clip, NULL);
    }
    printf("\n");
    model_run_free(&run);
    adam_state_free(&moments);
    free_reference(&r);
}

// Every mask PyTorch applied is the one azul draws: dropout_scale at each
// site's stream, element by element (the logits then show that the model uses
// these streams where the reference does).
static void dropout_masks_match(const char *file) {
    Reference r;
    load_reference(&r, file);
    cJSON *streams = cJSON_Parse(safetensors_metadata(&r.file, "dropout_streams"));
    assert_non_null(streams);
    int sites = 0;
    size_t kept = 0, total = 0;
    const cJSON *site;
    cJSON_ArrayForEach(site, streams) {
        char name[96];
        snprintf(name, sizeof name, "dropout.%s", site->string);
        const SafetensorsTensor *t = safetensors_find(&r.file, name);
        if (!t) fail_msg("%s: no tensor %s", file, name);
        const float *mask = t->data;
        uint64_t stream = (uint64_t)site->valuedouble;
        for (size_t i = 0; i < t->bytes / sizeof(float); i++) {
            float ours = dropout_scale(r.model.config.dropout, r.dropout_seed, stream, i);
            if (ours != mask[i]) {
                fail_msg("%s: %s[%zu]: azul's mask %g, PyTorch's %g", file, name, i, ours, mask[i]);
            }
            kept += ours != 0.0f;
            total++;
        }
        sites++;
    }
    printf("  %s: %d dropout sites, %zu of %zu elements kept, every one as azul draws it\n", file,
           sites, kept, total);
    assert_true(sites > 0 && kept < total);
    cJSON_Delete(streams);
    free_reference(&r);
}

static void post_ln_matches_pytorch(void **state) {
    (void)state;
    forward_and_backward_match("reference_postln.safetensors");
}

static void pre_ln_tied_matches_pytorch(void **state) {
    (void)state;
    forward_and_backward_match("reference_preln_tied.safetensors");
}

static void post_ln_training_follows_pytorch(void **state) {
    (void)state;
    training_steps_match("reference_postln.safetensors");
}

static void pre_ln_tied_training_follows_pytorch(void **state) {
    (void)state;
    training_steps_match("reference_preln_tied.safetensors");
}

static void dropout_masks_are_azuls(void **state) {
    (void)state;
    dropout_masks_match("reference_postln_dropout.safetensors");
    dropout_masks_match("reference_preln_tied_dropout.safetensors");
}

static void post_ln_with_dropout_matches_pytorch(void **state) {
    (void)state;
    forward_and_backward_match("reference_postln_dropout.safetensors");
}

static void pre_ln_tied_with_dropout_matches_pytorch(void **state) {
    (void)state;
    forward_and_backward_match("reference_preln_tied_dropout.safetensors");
}

static void post_ln_training_with_dropout_follows_pytorch(void **state) {
    (void)state;
    training_steps_match("reference_postln_dropout.safetensors");
}

static void pre_ln_tied_training_with_dropout_follows_pytorch(void **state) {
    (void)state;
    training_steps_match("reference_preln_tied_dropout.safetensors");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(post_ln_matches_pytorch),
    cmocka_unit_test(pre_ln_tied_matches_pytorch),
    cmocka_unit_test(post_ln_training_follows_pytorch),
    cmocka_unit_test(pre_ln_tied_training_follows_pytorch),
    cmocka_unit_test(dropout_masks_are_azuls),
    cmocka_unit_test(post_ln_with_dropout_matches_pytorch),
    cmocka_unit_test(pre_ln_tied_with_dropout_matches_pytorch),
    cmocka_unit_test(post_ln_training_with_dropout_follows_pytorch),
    cmocka_unit_test(pre_ln_tied_training_with_dropout_follows_pytorch),
};
TEST_GROUP(parity_tests, tests);
