// Times azul's matmul against OpenBLAS's sgemm on the products a training
// step and a decoding step of the presets really run, on the same machine and
// thread count, and prints one table of GFLOP/s and their ratio.  Built and run
// by `make bench` only (tools/bench_matmul.sh, once per instruction-set path,
// each against OpenBLAS's kernels for the same core type): azul itself links
// no BLAS.
//
//   build/bench_matmul [--threads N] [--repeat R] [--cpu-time]
//   build/bench_matmul --paths      the paths this CPU runs, one a line
//
// The path is the best one the CPU has, or AZUL_KERNEL's.
//
// --cpu-time times by the CPU time the process used instead of the wall
// clock: on a busy machine at one thread, that is still the work's own time.
//
// Each product is timed R times per side, interleaved (azul, BLAS, azul, …),
// and the medians are compared.  The three products of a linear layer with N
// rows, C inputs and OC outputs (weight W is OC × C, row-major):
//   forward   out  (N, OC)  = inp · Wᵀ          sgemm(NoTrans, Trans)
//   dinp      dinp (N, C)  += dout · W           sgemm(NoTrans, NoTrans)
//   dweight   dW  (OC, C)  += doutᵀ · inp        sgemm(Trans, NoTrans)
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "model/cpu_kernel.h"
#include "model/ops.h"
#include "model/threads.h"

void openblas_set_num_threads(int);

typedef enum { FORWARD, DINP, DWEIGHT } Product;
static const char *const product_names[] = {"forward", "dinp", "dweight"};

typedef struct {
    const char *what;
    int N, C, OC;
} Shape;

// The linear layers of the small preset (d 256, d_ff 1,024, vocabulary 8,000)
// on a batch of 64 × 24 target tokens, of base (d 512, d_ff 2,048, 16,000) on
// 32 × 32, and decoding rows (batch 1 and 32 at one step).
static const Shape shapes[] = {
    {"small attention", 1536, 256, 256},   {"small ffn up", 1536, 256, 1024},
    {"small ffn down", 1536, 1024, 256},   {"small vocab", 1536, 256, 8000},
    {"base attention", 1024, 512, 512},    {"base ffn up", 1024, 512, 2048},
    {"base ffn down", 1024, 2048, 512},    {"base vocab", 1024, 512, 16000},
    {"decode 32 vocab", 32, 256, 8000},    {"decode 8 vocab", 8, 256, 8000},
    {"decode 4 vocab", 4, 256, 8000},      {"decode 1 vocab", 1, 256, 8000},
    {"decode 1 ffn up", 1, 256, 1024},
};

static float *random_matrix(size_t n, unsigned *state) {
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_matmul: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = (float)(*state >> 8) / (float)(1u << 24) - 0.5f;
    }
    return x;
}

static void run_azul(Product p, const Shape *s, float *inp, float *w, float *out) {
    switch (p) {
    case FORWARD: matmul_forward(out, inp, w, NULL, s->N, s->C, s->OC); break;
    case DINP: matmul_backward(out, NULL, NULL, inp, NULL, w, s->N, s->C, s->OC); break;
    case DWEIGHT: matmul_backward(NULL, out, NULL, inp, w, NULL, s->N, s->C, s->OC); break;
    }
}

// For DINP, inp holds dout (N × OC); for DWEIGHT, inp holds dout and w holds
// the layer's input (N × C) — the buffers are sized for the largest use.
static void run_blas(Product p, const Shape *s, float *inp, float *w, float *out) {
    const int N = s->N, C = s->C, OC = s->OC;
    switch (p) {
    case FORWARD:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, 0.0f,
                    out, OC);
        break;
    case DINP:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, inp, OC, w, C, 1.0f,
                    out, C);
        break;
    case DWEIGHT:
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, inp, OC, w, C, 1.0f,
                    out, C);
        break;
    }
}

static bool use_cpu_time;

static double now(void) {
    if (!use_cpu_time) return monotonic_seconds();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// The CPU's model name, as /proc/cpuinfo gives it ("unknown" elsewhere).
static void cpu_model(char *name, size_t size) {
    snprintf(name, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        snprintf(name, size, "%s", colon + 2);
        name[strcspn(name, "\n")] = '\0';
        break;
    }
    fclose(f);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, by_value);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int threads = 2, repeat = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu-time")) use_cpu_time = true;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--paths")) {
            // the instruction-set paths this CPU runs, fastest first (for tools/bench_matmul.sh)
            for (int p = KERNEL_PATH_COUNT - 1; p > KERNEL_REFERENCE; p--) {
                if (kernel_path_available((KernelPath)p)) printf("%s\n", kernel_path_name((KernelPath)p));
            }
            return 0;
        } else threads = 0;  // unknown: print the usage
    }
    if (threads < 1 || repeat < 1 || repeat > 1000) {
        fprintf(stderr, "usage: bench_matmul [--threads N] [--repeat R] [--cpu-time] | --paths\n");
        return 2;
    }
    Error err;
    if (kernel_path_choose_from_environment(&err) != 0) {
        fprintf(stderr, "bench_matmul: %s\n", err.message);
        return 2;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("matmul, azul's %s kernels against OpenBLAS sgemm (%s), %d threads, median of %d, %s (GFLOP/s)\n",
           kernel_path_name(kernel_path_current()), coretype && *coretype ? coretype : "its own choice of kernel",
           threads, repeat, use_cpu_time ? "CPU time" : "wall clock");
    printf("CPU: %s\n\n", cpu);
    printf("| shape | N × C → OC | product | azul | OpenBLAS | azul ÷ OpenBLAS |\n");
    printf("|---|---|---|---|---|---|\n");
    unsigned state = 12345;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const Shape *s = &shapes[i];
        size_t big = (size_t)s->N * (size_t)(s->C > s->OC ? s->C : s->OC);
        size_t weights = (size_t)s->C * s->OC;
        if (weights > big) big = weights;
        float *inp = random_matrix(big, &state), *w = random_matrix(big, &state);
        float *out = random_matrix(big, &state);
        const double flops = 2.0 * s->N * s->C * s->OC;
        for (int p = FORWARD; p <= DWEIGHT; p++) {
            if (s->N < 64 && p != FORWARD) continue;  // decoding has no backward
            // Enough calls per timing that each lasts a few milliseconds.
            int calls = (int)(2e8 / flops) + 1;
            double ta[1000], tb[1000];
            run_azul(p, s, inp, w, out);
            run_blas(p, s, inp, w, out);
            for (int r = 0; r < repeat; r++) {
                double t0 = now();
                for (int c = 0; c < calls; c++) run_azul(p, s, inp, w, out);
                double t1 = now();
                for (int c = 0; c < calls; c++) run_blas(p, s, inp, w, out);
                double t2 = now();
                ta[r] = (t1 - t0) / calls;
                tb[r] = (t2 - t1) / calls;
            }
            double a = flops / median(ta, repeat) / 1e9, b = flops / median(tb, repeat) / 1e9;
            printf("| %s | %d × %d → %d | %s | %.0f | %.0f | %.2f |\n", s->what, s->N, s->C,
                   s->OC, product_names[p], a, b, a / b);
            fflush(stdout);
        }
        free(inp);
        free(w);
        free(out);
    }
    return 0;
}
