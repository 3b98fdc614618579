// The blocked matmul against a plain double-precision product, on shapes that
// cross every block edge of model/matmul_kernels.c (row tiles of 4 and 6,
// column tiles of 8, 16 and 32, K blocks of 256, the few-rows path, the column
// split for small M), and its promise that the thread count does not change a
// single bit — on every instruction-set path this CPU can run, and on the
// reference kernel.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cpu_kernel.h"
#include "model/ops.h"
#include "model/threads.h"
#include "tests/test.h"

typedef struct {
    int N, C, OC;
} Shape;

static const Shape shapes[] = {
    {1, 7, 5},      {3, 33, 70},     {8, 256, 1000},  {9, 64, 33},     {13, 300, 100},
    {40, 257, 97},  {130, 64, 1000}, {200, 520, 65},  {7, 600, 300},   {385, 96, 40},
};

static float *random_floats(size_t n, unsigned *state) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = (float)(*state >> 8) / (float)(1u << 24) - 0.5f;
    }
    return x;
}

static float *copy_of(const float *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

// |got − want| within a few float roundings of the sum of |terms|.
static void expect_close(const char *what, const Shape *s, const float *got, const double *want,
                         const double *magnitude, size_t n, int terms) {
    for (size_t i = 0; i < n; i++) {
        const double tolerance = 4.0 * terms * 6e-8 * magnitude[i] + 1e-30;
        if (fabs(got[i] - want[i]) > tolerance) {
            fail_msg("%s of %d × %d → %d: element %zu is %.9g, want %.9g (tolerance %.3g)", what,
                     s->N, s->C, s->OC, i, (double)got[i], want[i], tolerance);
        }
    }
}

// want (M, Ncols) = start + A · B in double, A and B given by strides, with
// Σ|terms| in magnitude for the tolerance; start is a matrix (M, Ncols) or,
// when start_row is 0, one row added to every row (the bias).
static void reference_product(double *want, double *magnitude, const float *start,
                              size_t start_row, const float *a, size_t a_row, size_t a_k,
                              const float *b, size_t b_k, size_t b_j, int M, int K, int Ncols) {
    for (int m = 0; m < M; m++) {
        for (int j = 0; j < Ncols; j++) {
            const double s = start[m * start_row + j];
            double sum = s, abs_sum = fabs(s);
            for (int k = 0; k < K; k++) {
                const double term = (double)a[m * a_row + k * a_k] * b[k * b_k + j * b_j];
                sum += term, abs_sum += fabs(term);
            }
            want[(size_t)m * Ncols + j] = sum, magnitude[(size_t)m * Ncols + j] = abs_sum;
        }
    }
}

static void products_of_this_path_match_double_precision(void) {
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const Shape *s = &shapes[i];
        const int N = s->N, C = s->C, OC = s->OC;
        float *inp = random_floats((size_t)N * C, &seed), *w = random_floats((size_t)OC * C, &seed);
        float *bias = random_floats((size_t)OC, &seed), *dout = random_floats((size_t)N * OC, &seed);
        float *out = malloc((size_t)N * OC * sizeof *out);
        float *dinp = random_floats((size_t)N * C, &seed), *dw = random_floats((size_t)OC * C, &seed);
        float *db = random_floats((size_t)OC, &seed);
        float *dinp0 = copy_of(dinp, (size_t)N * C), *dw0 = copy_of(dw, (size_t)OC * C);
        float *db0 = copy_of(db, (size_t)OC);
        const size_t largest = (size_t)(N > OC ? N : OC) * (size_t)(C > OC ? C : OC);
        double *want = malloc(largest * sizeof *want), *mag = malloc(largest * sizeof *mag);
        assert_non_null(out);
        assert_non_null(want);
        assert_non_null(mag);
        matmul_forward(out, inp, w, bias, N, C, OC);
        matmul_backward(dinp, dw, db, dout, inp, w, N, C, OC);

        // out = bias + inp · Wᵀ
        reference_product(want, mag, bias, 0, inp, C, 1, w, 1, C, N, C, OC);
        expect_close("forward", s, out, want, mag, (size_t)N * OC, C);
        // dinp = dinp₀ + dout · W
        reference_product(want, mag, dinp0, C, dout, OC, 1, w, C, 1, N, OC, C);
        expect_close("dinp", s, dinp, want, mag, (size_t)N * C, OC);
        // dW = dW₀ + doutᵀ · inp
        reference_product(want, mag, dw0, C, dout, 1, OC, inp, C, 1, OC, N, C);
        expect_close("dweight", s, dw, want, mag, (size_t)OC * C, N);
        // dbias = dbias₀ + Σₙ dout: a product with a column of ones
        float *ones = malloc((size_t)N * sizeof *ones);
        assert_non_null(ones);
        for (int n = 0; n < N; n++) ones[n] = 1.0f;
        reference_product(want, mag, db0, 1, dout, 1, OC, ones, 1, 0, OC, N, 1);
        expect_close("dbias", s, db, want, mag, (size_t)OC, N);
        free(ones), free(want), free(mag);
        free(inp), free(w), free(bias), free(dout), free(out), free(dinp), free(dw), free(db);
        free(dinp0), free(dw0), free(db0);
    }
}

// Every output element is summed by one thread in a fixed order, so 1, 2 and
// 3 threads give identical bits (3 splits the tiles unevenly).
static void this_path_is_independent_of_the_thread_count(void) {
    const int saved = omp_get_max_threads();
    unsigned seed = 11;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const Shape *s = &shapes[i];
        const size_t in = (size_t)s->N * s->C, wn = (size_t)s->OC * s->C, on = (size_t)s->N * s->OC;
        float *inp = random_floats(in, &seed), *w = random_floats(wn, &seed);
        float *dout = random_floats(on, &seed);
        float *result[3][3];  // [threads − 1][forward, dinp, dweight]
        for (int t = 1; t <= 3; t++) {
            omp_set_num_threads(t);
            float *out = malloc(on * sizeof *out), *dinp = calloc(in, sizeof *dinp);
            float *dw = calloc(wn, sizeof *dw);
            assert_non_null(out);
            assert_non_null(dinp);
            assert_non_null(dw);
            matmul_forward(out, inp, w, NULL, s->N, s->C, s->OC);
            matmul_backward(dinp, dw, NULL, dout, inp, w, s->N, s->C, s->OC);
            result[t - 1][0] = out, result[t - 1][1] = dinp, result[t - 1][2] = dw;
        }
        omp_set_num_threads(saved);
        const size_t sizes[3] = {on, in, wn};
        for (int t = 1; t < 3; t++) {
            for (int p = 0; p < 3; p++) {
                if (memcmp(result[0][p], result[t][p], sizes[p] * sizeof(float)) != 0) {
                    fail_msg("%d × %d → %d: product %d differs between 1 and %d threads", s->N,
                             s->C, s->OC, p, t + 1);
                }
            }
        }
        for (int t = 0; t < 3; t++) {
            for (int p = 0; p < 3; p++) free(result[t][p]);
        }
        free(inp), free(w), free(dout);
    }
}

// Runs check once on each path this CPU has, then restores the path the
// suite runs on; says which path a failure came from.
static void on_every_path(void (*check)(void), const char *what) {
    const KernelPath saved = kernel_path_current();
    int ran = 0;
    for (int p = 0; p < KERNEL_PATH_COUNT; p++) {
        if (!kernel_path_available((KernelPath)p)) continue;
        Error err;
        assert_int_equal(kernel_path_force((KernelPath)p, &err), 0);
        print_message("    %s: %s kernels\n", what, kernel_path_name((KernelPath)p));
        check();
        ran++;
    }
    assert_int_equal(kernel_path_force(saved, NULL), 0);
    assert_true(ran >= 2);  // the reference and generic paths run everywhere
}

static void products_match_double_precision(void **state) {
    (void)state;
    on_every_path(products_of_this_path_match_double_precision, "double precision");
}

static void thread_count_changes_no_bit(void **state) {
    (void)state;
    on_every_path(this_path_is_independent_of_the_thread_count, "thread counts");
}

// The paths this CPU lacks are refused with a message that names the path
// and what the CPU can run; the best path is one that is available.
static void a_path_the_cpu_lacks_is_refused(void **state) {
    (void)state;
    assert_true(kernel_path_available(kernel_path_best()));
    assert_true(kernel_path_available(KERNEL_REFERENCE) && kernel_path_available(KERNEL_GENERIC));
    const KernelPath saved = kernel_path_current();
    for (int p = 0; p < KERNEL_PATH_COUNT; p++) {
        if (kernel_path_available((KernelPath)p)) continue;
        Error err = {{0}};
        assert_int_equal(kernel_path_force((KernelPath)p, &err), -1);
        assert_non_null(strstr(err.message, kernel_path_name((KernelPath)p)));
        assert_non_null(strstr(err.message, "generic"));
        assert_int_equal(kernel_path_current(), saved);
    }
    Error err = {{0}};
    assert_int_equal(kernel_path_force(KERNEL_PATH_COUNT, &err), -1);
}

// The program takes AZUL_KERNEL at start-up: a path this CPU has runs and is
// named in the benchmark's report; one it lacks, or a misspelt one, is
// refused with a usage error that names the value.  Unset, the best path runs.
static void the_program_takes_azul_kernel(void **state) {
    (void)state;
    const char *args[] = {"bench", "--preset", "toy", "--vocab", "50", "--batch", "2", "--src-len",
                          "4", "--tgt-len", "4", "--steps", "1", NULL};
    const char *saved = getenv("AZUL_KERNEL");
    char *saved_copy = saved ? strdup(saved) : NULL;
    for (int p = -1; p < KERNEL_PATH_COUNT; p++) {
        const char *value = p < 0 ? "bogus" : kernel_path_name((KernelPath)p);
        setenv("AZUL_KERNEL", value, 1);
        char *out = NULL, *err = NULL;
        const int status = run_azul(args, NULL, &out, &err);
        char named[64];
        snprintf(named, sizeof named, "%s kernels", value);
        if (p >= 0 && kernel_path_available((KernelPath)p)) {
            assert_int_equal(status, 0);
            expect_contains(out, named);
        } else {
            assert_int_equal(status, 2);
            expect_contains(err, "azul: error: AZUL_KERNEL=");
            expect_contains(err, value);
            expect_contains(err, p < 0 ? "names no kernel path" : "this CPU lacks");
        }
        free(out), free(err);
    }
    unsetenv("AZUL_KERNEL");
    char *out = NULL, *err = NULL;
    assert_int_equal(run_azul(args, NULL, &out, &err), 0);
    char best[64];
    snprintf(best, sizeof best, "%s kernels", kernel_path_name(kernel_path_best()));
    expect_contains(out, best);
    free(out), free(err);
    if (saved_copy) setenv("AZUL_KERNEL", saved_copy, 1);
    free(saved_copy);
}

// The dev sources of the toy corpus, one a line (malloc'd).
static char *toy_dev_sources(void) {
    char *text = slurp("data/toy-en-es/dev.tsv", NULL);
    assert_non_null(text);
    char *sources = calloc(1, strlen(text) + 1);
    assert_non_null(sources);
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *tab = memchr(line, '\t', (size_t)(end - line));
        if (tab) strncat(sources, line, (size_t)(tab - line)), strcat(sources, "\n");
        if (!*end) break;
    }
    free(text);
    return sources;
}

// Every path gives the reference kernel's results where a user sees them:
// the same translations from the toy model, and training losses within
// 1e-5 relative (the paths round apart only where a fused multiply-add
// saves a rounding).
static void every_path_translates_and_trains_as_the_reference(void **state) {
    (void)state;
    const char *saved = getenv("AZUL_KERNEL");
    char *saved_copy = saved ? strdup(saved) : NULL;
    const char *model = toy_model_dir();
    char *sources = toy_dev_sources();
    char *dir = make_temp_dir();
    char *reference_translations = NULL;
    double *reference_losses = NULL;
    enum { STEPS = 12 };
    for (int p = 0; p < KERNEL_PATH_COUNT; p++) {  // the reference first
        if (!kernel_path_available((KernelPath)p)) continue;
        const char *name = kernel_path_name((KernelPath)p);
        setenv("AZUL_KERNEL", name, 1);
        char *out = NULL, *err = NULL;
        assert_int_equal(RUN(sources, &out, &err, "translate", "--model", model), 0);
        char *run = join(dir, name);
        char *train_out = NULL, *train_err = NULL;
        const int status = RUN(NULL, &train_out, &train_err, "train", "--corpus", "data/toy-en-es/train.tsv",
                               "--batch-tokens", "512", "--lr", "1e-3", "--warmup", "5", "--log-every", "1",
                               "--steps", "12", "--seed", "3", "--out", run);
        if (status != 0) fail_msg("training on the %s path failed:\n%s", name, train_err);
        double *losses = logged_losses(run, STEPS);
        if (!reference_translations) {
            reference_translations = out, reference_losses = losses;
        } else {
            print_message("    %s kernels against the reference\n", name);
            if (strcmp(out, reference_translations) != 0) {
                fail_msg("the %s kernels translate otherwise:\n%s\nreference:\n%s", name, out,
                         reference_translations);
            }
            for (int step = 1; step <= STEPS; step++) {
                const double want = reference_losses[step], got = losses[step];
                if (!(fabs(got - want) <= 1e-5 * fabs(want)) || want == 0.0) {
                    fail_msg("step %d's loss on the %s kernels is %.9g, the reference's %.9g", step,
                             name, got, want);
                }
            }
            free(out), free(losses);
        }
        free(err), free(train_out), free(train_err), free(run);
    }
    free(reference_translations), free(reference_losses), free(sources);
    remove_tree(dir);
    free(dir);
    if (saved_copy) setenv("AZUL_KERNEL", saved_copy, 1);
    else unsetenv("AZUL_KERNEL");
    free(saved_copy);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(products_match_double_precision),
    cmocka_unit_test(thread_count_changes_no_bit),
    cmocka_unit_test(a_path_the_cpu_lacks_is_refused),
    cmocka_unit_test(the_program_takes_azul_kernel),
    cmocka_unit_test(every_path_translates_and_trains_as_the_reference),
};

TEST_GROUP(matmul_tests, tests);
