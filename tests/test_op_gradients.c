// Every op's backward against finite differences, coordinate by coordinate.
//
// Each check draws a random "upstream gradient" r, takes the objective
// L = Σ r · out (accumulated in double), and compares ∂L/∂x from the op's
// backward (run with dout = r) with the five-point finite difference of L in
// every coordinate of every input (model/gradcheck.h): each must be within
// 1e-4 |analytic| + 8 σ-noise + the stencil's estimated truncation, σ being
// the rounding noise of L measured on that input.  (The old check compared
// the whole input's norm to 1e-2, with a 1e-6 floor.)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gradcheck.h"
#include "model/ops.h"
#include "model/rng.h"
#include "tests/test.h"
#include "tokenizer/tokenizer.h"

typedef void (*ForwardFn)(void *ctx);

typedef struct {
    ForwardFn forward;
    void *ctx;
    const float *out;   // what forward writes
    size_t out_size;
    const float *r;     // the upstream gradient
    bool (*same_piece)(void *ctx);  // NULL, or whether the ReLUs are as they were
} OpObjective;

static double evaluate(const OpObjective *o) {
    o->forward(o->ctx);
    double sum = 0.0;
    for (size_t i = 0; i < o->out_size; i++) sum += (double)o->out[i] * o->r[i];
    return sum;
}

static double objective_value(void *p) { return evaluate(p); }

static bool objective_same_piece(void *p) {
    const OpObjective *o = p;
    return o->same_piece ? o->same_piece(o->ctx) : true;
}

// The largest |analytic − numerical| / allowance over x[0..n): above 1, the
// backward is wrong somewhere.  *where is that coordinate.
static double worst_coordinate(float *x, size_t n, const float *analytic, const OpObjective *o,
                               double h, size_t *where) {
    Objective f = {objective_value, objective_same_piece, (void *)o};
    double f0 = evaluate(o), noise2 = 0, worst = 0;
    int noise_samples = 0;
    FiniteDifference *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        d[i] = finite_difference(&f, x + i, f0, h, 4);
        if (!d[i].smooth) fail_msg("coordinate %zu: a ReLU flips even at step %g", i, d[i].step);
        double s = finite_difference_noise(&f, x + i, f0, &d[i]);
        if (s >= 0) {
            noise2 += s * s;
            noise_samples++;
        }
    }
    double sigma = noise_samples ? sqrt(noise2 / noise_samples) : 0.0;
    *where = 0;
    for (size_t i = 0; i < n; i++) {
        double miss = fabs(analytic[i] - d[i].value);
        double allowance = 1e-4 * fabs(analytic[i]) + 8.0 * d[i].noise_gain * sigma + d[i].truncation;
        double ratio = miss == 0 ? 0 : allowance > 0 ? miss / allowance : INFINITY;
        if (ratio > worst) {
            worst = ratio;
            *where = i;
        }
    }
    free(d);
    evaluate(o);  // leave the outputs as they were
    return worst;
}

static void check(const char *what, float *x, size_t n, const float *analytic, const OpObjective *o,
                  double h) {
    double a2 = 0;
    for (size_t i = 0; i < n; i++) a2 += (double)analytic[i] * analytic[i];
    if (a2 == 0) fail_msg("%s: the gradient is zero everywhere: nothing was checked", what);
    size_t i;
    double worst = worst_coordinate(x, n, analytic, o, h, &i);
    if (!(worst <= 1.0)) {
        fail_msg("%s: coordinate %zu: analytic %.7g is %.3g times its allowance away from the "
                 "finite difference", what, i, analytic[i], worst);
    }
}

static float *random_floats(Rng *rng, size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * rng_uniform(rng) - 1.0f) * scale;
    return p;
}

static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

// ---------------------------------------------------------------- matmul

typedef struct { float *out, *inp, *w, *b; int N, C, OC; } MatmulCase;
static void matmul_case_forward(void *p) {
    MatmulCase *c = p;
    matmul_forward(c->out, c->inp, c->w, c->b, c->N, c->C, c->OC);
}

static void matmul_backward_matches(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 1);
    MatmulCase c = {NULL, NULL, NULL, NULL, 5, 7, 6};
    c.out = zeros(30);
    c.inp = random_floats(&rng, 35, 1);
    c.w = random_floats(&rng, 42, 1);
    c.b = random_floats(&rng, 6, 1);
    float *r = random_floats(&rng, 30, 1), *dinp = zeros(35), *dw = zeros(42), *db = zeros(6);
    matmul_forward(c.out, c.inp, c.w, c.b, 5, 7, 6);
    matmul_backward(dinp, dw, db, r, c.inp, c.w, 5, 7, 6);
    OpObjective o = {matmul_case_forward, &c, c.out, 30, r, NULL};
    check("matmul dinp", c.inp, 35, dinp, &o, 1e-2);
    check("matmul dweight", c.w, 42, dw, &o, 1e-2);
    check("matmul dbias", c.b, 6, db, &o, 1e-2);
    free(c.out); free(c.inp); free(c.w); free(c.b); free(r); free(dinp); free(dw); free(db);
}

// ---------------------------------------------------------------- layernorm

typedef struct { float *out, *mean, *rstd, *inp, *w, *b; int N, C; } LayerNormCase;
static void layernorm_case_forward(void *p) {
    LayerNormCase *c = p;
    layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C, 1e-5f);
}

// A 4 × 8 layernorm with random inputs, its forward and its backward for a
// random upstream gradient r: what both tests below start from.
typedef struct {
    LayerNormCase c;
    float *r, *dinp, *dw, *db;
} LayerNormRun;

static LayerNormRun layernorm_run(void) {
    Rng rng;
    rng_seed(&rng, 2);
    LayerNormRun x = {{zeros(32), zeros(4), zeros(4), NULL, NULL, NULL, 4, 8}, NULL, NULL, NULL, NULL};
    x.c.inp = random_floats(&rng, 32, 2);
    x.c.w = random_floats(&rng, 8, 1);
    x.c.b = random_floats(&rng, 8, 1);
    x.r = random_floats(&rng, 32, 1), x.dinp = zeros(32), x.dw = zeros(8), x.db = zeros(8);
    layernorm_case_forward(&x.c);
    layernorm_backward(x.dinp, x.dw, x.db, x.r, x.c.inp, x.c.w, x.c.mean, x.c.rstd, 4, 8);
    return x;
}

static void layernorm_run_free(LayerNormRun *x) {
    free(x->c.out); free(x->c.mean); free(x->c.rstd); free(x->c.inp); free(x->c.w); free(x->c.b);
    free(x->r); free(x->dinp); free(x->dw); free(x->db);
}

static void layernorm_backward_matches(void **state) {
    (void)state;
    LayerNormRun x = layernorm_run();
    OpObjective o = {layernorm_case_forward, &x.c, x.c.out, 32, x.r, NULL};
    check("layernorm dinp", x.c.inp, 32, x.dinp, &o, 1e-2);
    check("layernorm dweight", x.c.w, 8, x.dw, &o, 1e-2);
    check("layernorm dbias", x.c.b, 8, x.db, &o, 1e-2);
    layernorm_run_free(&x);
}

// The check has teeth: a layernorm input gradient 0.1% too large everywhere
// (which the old norm check, at 1e-2, passed tenfold) fails.
static void a_gradient_a_tenth_of_a_percent_off_fails(void **state) {
    (void)state;
    LayerNormRun x = layernorm_run();
    OpObjective o = {layernorm_case_forward, &x.c, x.c.out, 32, x.r, NULL};
    size_t where;
    double right = worst_coordinate(x.c.inp, 32, x.dinp, &o, 1e-2, &where);
    for (int i = 0; i < 32; i++) x.dinp[i] *= 1.001f;
    double wrong = worst_coordinate(x.c.inp, 32, x.dinp, &o, 1e-2, &where);
    printf("  layernorm dinp: right %.2f, 0.1%% off %.2f times the allowance\n", right, wrong);
    assert_true(right <= 1.0);
    assert_true(wrong > 2.0);
    layernorm_run_free(&x);
}

// ---------------------------------------------------------------- feed-forward (matmul, ReLU, matmul)

typedef struct { float *x, *w1, *b1, *hidden, *w2, *b2, *out; int N, C, F; uint8_t *active; } FfnCase;
static void ffn_case_forward(void *p) {
    FfnCase *c = p;
    matmul_forward(c->hidden, c->x, c->w1, c->b1, c->N, c->C, c->F);
    relu_forward(c->hidden, c->hidden, (size_t)c->N * c->F);
    matmul_forward(c->out, c->hidden, c->w2, c->b2, c->N, c->F, c->C);
}

// The loss is smooth while every hidden unit stays on its side of the kink.
static bool ffn_same_piece(void *p) {
    const FfnCase *c = p;
    for (int i = 0; i < c->N * c->F; i++) {
        if ((c->hidden[i] > 0.0f) != c->active[i]) return false;
    }
    return true;
}

static void feed_forward_backward_matches(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 3);
    const int N = 4, C = 6, F = 10;
    FfnCase c = {random_floats(&rng, N * C, 1), random_floats(&rng, F * C, 1),
                 random_floats(&rng, F, 0.5f), zeros(N * F), random_floats(&rng, C * F, 1),
                 random_floats(&rng, C, 0.5f), zeros(N * C), N, C, F, NULL};
    float *r = random_floats(&rng, N * C, 1);
    float *dx = zeros(N * C), *dw1 = zeros(F * C), *db1 = zeros(F), *dhidden = zeros(N * F),
          *dpre = zeros(N * F), *dw2 = zeros(C * F), *db2 = zeros(C);
    ffn_case_forward(&c);
    c.active = malloc((size_t)N * F);
    for (int i = 0; i < N * F; i++) c.active[i] = c.hidden[i] > 0.0f;
    matmul_backward(dhidden, dw2, db2, r, c.hidden, c.w2, N, F, C);
    relu_backward(dpre, dhidden, c.hidden, (size_t)N * F);
    matmul_backward(dx, dw1, db1, dpre, c.x, c.w1, N, C, F);
    // A step that moves a hidden unit across the ReLU's kink is shrunk.
    OpObjective o = {ffn_case_forward, &c, c.out, (size_t)N * C, r, ffn_same_piece};
    check("ffn dx", c.x, (size_t)N * C, dx, &o, 1e-2);
    check("ffn dw1", c.w1, (size_t)F * C, dw1, &o, 1e-2);
    check("ffn db1", c.b1, F, db1, &o, 1e-2);
    check("ffn dw2", c.w2, (size_t)C * F, dw2, &o, 1e-2);
    check("ffn db2", c.b2, C, db2, &o, 1e-2);
    free(c.active);
    free(c.x); free(c.w1); free(c.b1); free(c.hidden); free(c.w2); free(c.b2); free(c.out);
    free(r); free(dx); free(dw1); free(db1); free(dhidden); free(dpre); free(dw2); free(db2);
}

// ---------------------------------------------------------------- embedding + positions

typedef struct { float *out, *table, *positions; const int32_t *tokens; int B, T, C; } EmbeddingCase;
static void embedding_case_forward(void *p) {
    EmbeddingCase *c = p;
    embedding_forward(c->out, c->tokens, c->table, c->positions, c->B, c->T, c->C, 0);
}

static void embedding_backward_matches(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 4);
    const int32_t tokens[] = {5, 1, 5, 3, 0, 2, 5, 4};  // repeats on purpose
    EmbeddingCase c = {zeros(8 * 6), random_floats(&rng, 7 * 6, 1), zeros(4 * 6), tokens, 2, 4, 6};
    for (int t = 0; t < 4; t++) positional_encoding(c.positions + t * 6, t, 6);
    float *r = random_floats(&rng, 48, 1), *dtable = zeros(42);
    embedding_case_forward(&c);
    embedding_backward(dtable, r, tokens, 2, 4, 6);
    OpObjective o = {embedding_case_forward, &c, c.out, 48, r, NULL};
    check("embedding dtable", c.table, 42, dtable, &o, 1e-2);
    // Row 6 is never used: its gradient must be exactly zero.
    for (int k = 0; k < 6; k++) assert_true(dtable[6 * 6 + k] == 0.0f);
    free(c.out); free(c.table); free(c.positions); free(r); free(dtable);
}

static void positional_encoding_follows_the_paper(void **state) {
    (void)state;
    float row[8];
    positional_encoding(row, 0, 8);
    for (int i = 0; i < 8; i += 2) {
        assert_float_equal(row[i], 0.0f, 1e-7);      // sin 0
        assert_float_equal(row[i + 1], 1.0f, 1e-7);  // cos 0
    }
    positional_encoding(row, 3, 8);
    for (int i = 0; i < 8; i += 2) {
        double angle = 3.0 / pow(10000.0, (double)i / 8);
        assert_float_equal(row[i], (float)sin(angle), 1e-6);
        assert_float_equal(row[i + 1], (float)cos(angle), 1e-6);
    }
}

// ---------------------------------------------------------------- attention

typedef struct { float *out, *weights, *q, *k, *v; AttentionShape s; } AttentionCase;
static void attention_case_forward(void *p) {
    AttentionCase *c = p;
    attention_forward(c->out, c->weights, c->q, c->k, c->v, &c->s);
}

static void check_attention(const char *kind, int Tq, int Tk, const uint8_t *key_masked,
                            bool causal, float dropout) {
    Rng rng;
    rng_seed(&rng, 5 + (uint64_t)Tq * 7 + (uint64_t)Tk);
    const int B = 2, C = 8, H = 2;
    size_t nq = (size_t)B * Tq * C, nk = (size_t)B * Tk * C, nw = (size_t)B * H * Tq * Tk;
    AttentionCase c = {zeros(nq), zeros(nw), random_floats(&rng, nq, 1),
                       random_floats(&rng, nk, 1), random_floats(&rng, nk, 1),
                       {B, Tq, Tk, C, H, 0.5f, 0, key_masked, causal, dropout, 99, 7, 5}};
    float *r = random_floats(&rng, nq, 1), *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk),
          *scratch = zeros(nw);
    attention_case_forward(&c);
    attention_backward(dq, dk, dv, scratch, r, c.q, c.k, c.v, c.weights, &c.s);
    OpObjective o = {attention_case_forward, &c, c.out, nq, r, NULL};
    char what[96];
    snprintf(what, sizeof what, "attention (%s) dq", kind);
    check(what, c.q, nq, dq, &o, 1e-2);
    snprintf(what, sizeof what, "attention (%s) dk", kind);
    check(what, c.k, nk, dk, &o, 1e-2);
    snprintf(what, sizeof what, "attention (%s) dv", kind);
    check(what, c.v, nk, dv, &o, 1e-2);
    free(c.out); free(c.weights); free(c.q); free(c.k); free(c.v);
    free(r); free(dq); free(dk); free(dv); free(scratch);
}

static void attention_backward_matches_for_every_mask(void **state) {
    (void)state;
    const uint8_t padded[2 * 5] = {0, 0, 0, 1, 1, 0, 0, 0, 0, 1};
    check_attention("no mask", 5, 5, NULL, false, 0.0f);
    check_attention("source padding", 5, 5, padded, false, 0.0f);
    check_attention("causal", 5, 5, NULL, true, 0.0f);
    check_attention("causal + target padding", 5, 5, padded, true, 0.0f);
    check_attention("cross, padding, Tq != Tk", 3, 5, padded, false, 0.0f);
    check_attention("dropout with a fixed mask", 5, 5, padded, true, 0.3f);
    // more keys than the 256 whose dropout mask is drawn at a time
    check_attention("dropout, 300 keys", 2, 300, NULL, false, 0.3f);
}

static void fully_masked_rows_give_zeros_not_nan(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 6);
    const int B = 2, T = 3, C = 4, H = 1;
    const uint8_t masked[2 * 3] = {0, 0, 1, 1, 1, 1};  // the second sentence has no keys at all
    float *q = random_floats(&rng, 24, 1), *k = random_floats(&rng, 24, 1), *v = random_floats(&rng, 24, 1);
    float out[24], w[18];
    AttentionShape s = {B, T, T, C, H, 0.5f, 0, masked, false, 0.0f, 0, 0, 0};
    attention_forward(out, w, q, k, v, &s);
    for (int i = 12; i < 24; i++) assert_true(out[i] == 0.0f);
    for (int i = 9; i < 18; i++) assert_true(w[i] == 0.0f);
    for (int i = 0; i < 12; i++) assert_false(isnan(out[i]));
    // and the padded key of the first sentence gets no weight
    for (int i = 0; i < 3; i++) assert_true(w[i * 3 + 2] == 0.0f);
    float dq[24] = {0}, dk[24] = {0}, dv[24] = {0}, scratch[18], r[24];
    for (int i = 0; i < 24; i++) r[i] = 1.0f;
    attention_backward(dq, dk, dv, scratch, r, q, k, v, w, &s);
    for (int i = 0; i < 24; i++) assert_false(isnan(dq[i]) || isnan(dk[i]) || isnan(dv[i]));
    for (int i = 12; i < 24; i++) assert_true(dq[i] == 0.0f && dk[i] == 0.0f && dv[i] == 0.0f);
    free(q); free(k); free(v);
}

// The worked example of the second seed text: inputs [[1,0,0],[0,2,2]] with
// its hand-picked W_Q, W_K, W_V and no 1/√d scaling.
static void the_seed_example_comes_out_of_the_attention_primitive(void **state) {
    (void)state;
    const float x[2 * 3] = {1, 0, 0, 0, 2, 2};
    // nn.Linear layout (out, in): the seed's w_q = [[1,0],[1,0],[0,1]] transposed, etc.
    const float wq[2 * 3] = {1, 1, 0, 0, 0, 1};
    const float wk[2 * 3] = {0, 1, 1, 1, 0, 0};
    const float wv[2 * 3] = {2, 3, 0, 0, 0, 3};
    float q[4], k[4], v[4], out[4], weights[4];
    matmul_forward(q, x, wq, NULL, 2, 3, 2);
    matmul_forward(k, x, wk, NULL, 2, 3, 2);
    matmul_forward(v, x, wv, NULL, 2, 3, 2);
    const float expected_q[4] = {1, 0, 2, 2}, expected_k[4] = {0, 1, 4, 0}, expected_v[4] = {2, 0, 6, 6};
    for (int i = 0; i < 4; i++) {
        assert_true(q[i] == expected_q[i] && k[i] == expected_k[i] && v[i] == expected_v[i]);
    }
    AttentionShape s = {1, 2, 2, 2, 1, 1.0f, 0, NULL, false, 0.0f, 0, 0, 0};
    attention_forward(out, weights, q, k, v, &s);
    // scores [[0,4],[2,8]] → weights [[0.0180,0.9820],[0.0025,0.9975]]
    const float expected_weights[4] = {0.0180f, 0.9820f, 0.0025f, 0.9975f};
    const float expected_out[4] = {5.928f, 5.892f, 5.990f, 5.985f};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(weights[i], expected_weights[i], 5e-5);
        assert_float_equal(out[i], expected_out[i], 1e-3);
    }
}

// ---------------------------------------------------------------- dropout

typedef struct { float *out, *residual, *branch; size_t n; float p; } DropoutCase;
static void dropout_case_forward(void *ptr) {
    DropoutCase *c = ptr;
    residual_dropout_forward(c->out, c->residual, c->branch, c->n, c->p, 42, 3, 0);
}

static void dropout_backward_matches_with_a_fixed_mask(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 7);
    const size_t n = 200;
    DropoutCase c = {zeros(n), random_floats(&rng, n, 1), random_floats(&rng, n, 1), n, 0.25f};
    float *r = random_floats(&rng, n, 1), *dres = zeros(n), *dbranch = zeros(n);
    dropout_case_forward(&c);
    residual_dropout_backward(dres, dbranch, r, n, c.p, 42, 3, 0);
    OpObjective o = {dropout_case_forward, &c, c.out, n, r, NULL};
    check("residual dropout dresidual", c.residual, n, dres, &o, 1e-2);
    check("residual dropout dbranch", c.branch, n, dbranch, &o, 1e-2);
    // About a quarter dropped, survivors scaled by 1/(1-p); the same mask twice.
    size_t dropped = 0;
    float *plain = zeros(n), *again = zeros(n);
    dropout_forward(plain, c.branch, n, c.p, 42, 3, 0);
    dropout_forward(again, c.branch, n, c.p, 42, 3, 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(plain[i] == again[i]);
        if (plain[i] == 0.0f) dropped++;
        else assert_float_equal(plain[i], c.branch[i] / 0.75f, 1e-6);
    }
    assert_in_range(dropped, 30, 70);
    float *dplain = zeros(n);
    dropout_backward(dplain, r, n, c.p, 42, 3, 0);
    for (size_t i = 0; i < n; i++) assert_true((plain[i] == 0.0f) == (dplain[i] == 0.0f));
    free(c.out); free(c.residual); free(c.branch); free(r); free(dres); free(dbranch);
    free(plain); free(again); free(dplain);
}

// ---------------------------------------------------------------- cross-entropy

typedef struct { float *log_z, *logits; const int32_t *targets; int N, V; float smoothing; double loss; float loss_as_float; } LossCase;
static void loss_case_forward(void *p) {
    LossCase *c = p;
    int counted;
    c->loss = cross_entropy_forward(c->log_z, c->logits, c->targets, c->N, c->V, c->smoothing,
                                    TOKEN_PAD, &counted, NULL);
    c->loss_as_float = (float)c->loss;
}

static void cross_entropy_backward_matches_with_label_smoothing(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 8);
    const int N = 5, V = 9;
    const int32_t targets[] = {4, TOKEN_PAD, 8, 5, TOKEN_PAD};  // two ignored positions
    for (int smoothing_case = 0; smoothing_case < 2; smoothing_case++) {
        LossCase c = {zeros(N), random_floats(&rng, N * V, 3), targets, N, V,
                      smoothing_case ? 0.1f : 0.0f, 0, 0};
        loss_case_forward(&c);
        // the backward writes the gradient over the logits: give it a copy
        float *dlogits = zeros(N * V);
        memcpy(dlogits, c.logits, (size_t)N * V * sizeof *dlogits);
        cross_entropy_backward(dlogits, c.log_z, targets, N, V, c.smoothing, TOKEN_PAD, 3);
        float one = 1.0f;
        OpObjective o = {loss_case_forward, &c, &c.loss_as_float, 1, &one, NULL};
        check(smoothing_case ? "cross-entropy (ε = 0.1) dlogits" : "cross-entropy dlogits",
              c.logits, (size_t)N * V, dlogits, &o, 1e-2);
        // Ignored rows get no gradient.
        for (int j = 0; j < V; j++) assert_true(dlogits[V + j] == 0.0f && dlogits[4 * V + j] == 0.0f);
        free(c.log_z); free(c.logits); free(dlogits);
    }
}

static void cross_entropy_equals_the_definition(void **state) {
    (void)state;
    // Two classes of logits [0, ln 3]: Z = 4, p = [1/4, 3/4].  Target 1, ε = 0.2, V = 2:
    // loss = 0.8 · (−ln 3/4) + 0.2 · ½ (−ln 1/4 − ln 3/4)
    float logits[2] = {0.0f, (float)log(3.0)};
    const int32_t target[1] = {1};
    float log_z[1];
    int counted;
    double loss = cross_entropy_forward(log_z, logits, target, 1, 2, 0.2f, -1, &counted, NULL);
    double expected = 0.8 * -log(0.75) + 0.1 * (-log(0.25) - log(0.75));
    assert_int_equal(counted, 1);
    assert_float_equal(loss, expected, 1e-6);
    assert_float_equal(log_z[0], log(4.0), 1e-6);
    // dlogits = p - q with q = [0.1, 0.9]
    cross_entropy_backward(logits, log_z, target, 1, 2, 0.2f, -1, counted);
    assert_float_equal(logits[0], 0.25 - 0.1, 1e-6);
    assert_float_equal(logits[1], 0.75 - 0.9, 1e-6);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(matmul_backward_matches),
    cmocka_unit_test(layernorm_backward_matches),
    cmocka_unit_test(a_gradient_a_tenth_of_a_percent_off_fails),
    cmocka_unit_test(feed_forward_backward_matches),
    cmocka_unit_test(embedding_backward_matches),
    cmocka_unit_test(positional_encoding_follows_the_paper),
    cmocka_unit_test(attention_backward_matches_for_every_mask),
    cmocka_unit_test(fully_masked_rows_give_zeros_not_nan),
    cmocka_unit_test(the_seed_example_comes_out_of_the_attention_primitive),
    cmocka_unit_test(dropout_backward_matches_with_a_fixed_mask),
    cmocka_unit_test(cross_entropy_backward_matches_with_label_smoothing),
    cmocka_unit_test(cross_entropy_equals_the_definition),
};
TEST_GROUP(op_gradient_tests, tests);
