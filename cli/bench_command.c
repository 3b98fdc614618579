// `azul bench`: how fast one training step is (forward, backward, AdamW) for
// a preset on a random batch — the figure speed claims are quoted from.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "cli/commands.h"
#include "cli/report.h"
#include "cli/options.h"
#include "model/optimizer.h"
#include "model/rng.h"
#include "model/threads.h"
#include "tokenizer/tokenizer.h"

static const char usage[] =
    "usage: azul bench [--preset toy|small|base] [--batch B] [--src-len S] [--tgt-len T]\n"
    "                  [--vocab V] [--steps N] [--threads N]\n"
    "\n"
    "Times training steps (forward, backward, clipping, AdamW) of a model of the\n"
    "preset's shape on a random batch of B pairs, and reports the median step time\n"
    "and target tokens per second.  Defaults: small, 128 pairs of 16 + 16 tokens\n"
    "(about 2,000 target tokens), vocabularies of 8,000, 10 timed steps after 2\n"
    "warm-up steps.\n";

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"preset", required_argument, 0, 'p'}, {"batch", required_argument, 0, 'b'},
        {"src-len", required_argument, 0, 's'}, {"tgt-len", required_argument, 0, 't'},
        {"vocab", required_argument, 0, 'v'},  {"steps", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 'j'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *preset = "small";
    int B = 128, S = 16, T = 16, V = 8000, steps = 10;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'b': B = (int)parse_integer_option("bench", "--batch", optarg, 1, 100000); break;
        case 's': S = (int)parse_integer_option("bench", "--src-len", optarg, 1, 4096); break;
        case 't': T = (int)parse_integer_option("bench", "--tgt-len", optarg, 1, 4096); break;
        case 'v': V = (int)parse_integer_option("bench", "--vocab", optarg, 8, 1000000); break;
        case 'n': steps = (int)parse_integer_option("bench", "--steps", optarg, 1, 100000); break;
        case 'j': omp_set_num_threads((int)parse_integer_option("bench", "--threads", optarg, 1, 1024)); break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("bench", argv, c);
        }
    }
    if (optind < argc) die_usage("bench", "unexpected argument '%s'", argv[optind]);
    ModelConfig config = {0};
    Error err;
    if (model_config_preset(&config, preset, &err) < 0) die_usage("bench", "%s", err.message);
    config.src_vocab = config.tgt_vocab = V;
    config.max_len = S > T ? S : T;
    config.dropout = 0.1f;
    config.label_smoothing = 0.1f;
    Model m;
    if (model_build(&m, &config, 1, &err) < 0) die("%s", err.message);

    Rng rng;
    rng_seed(&rng, 7);
    int32_t *src = malloc((size_t)B * S * sizeof *src), *tgt_in = malloc((size_t)B * T * sizeof *tgt_in),
            *tgt_out = malloc((size_t)B * T * sizeof *tgt_out);
    for (int i = 0; i < B * S; i++) src[i] = TOKEN_SPECIAL_COUNT + (int32_t)(rng_next(&rng) % (uint64_t)(V - TOKEN_SPECIAL_COUNT));
    for (int i = 0; i < B * T; i++) tgt_out[i] = TOKEN_SPECIAL_COUNT + (int32_t)(rng_next(&rng) % (uint64_t)(V - TOKEN_SPECIAL_COUNT));
    for (int b = 0; b < B; b++) {
        tgt_in[b * T] = TOKEN_BOS;
        for (int t = 1; t < T; t++) tgt_in[b * T + t] = tgt_out[b * T + t - 1];
    }

    printf("bench: preset %s (%zu parameters), batch %d × (%d + %d) tokens, vocab %d, %d threads\n",
           preset, m.n_params, B, S, T, V, omp_get_max_threads());
    AdamWConfig adam = adamw_defaults();
    Workspace ws;
    workspace_init(&ws, WORKSPACE_TRAINING);
    Gradients grads;
    AdamState moments;
    if (gradients_build(&grads, &m, &err) < 0 || adam_state_build(&moments, &m, &err) < 0) die("%s", err.message);
    double *times = malloc((size_t)steps * sizeof *times);
    for (int step = -2; step < steps; step++) {  // two warm-up steps
        double start = monotonic_seconds();
        if (model_forward(&m, &ws, src, tgt_in, tgt_out, B, S, T, true, (uint64_t)step + 3, &err) < 0) die("%s", err.message);
        gradients_zero(&grads);
        model_backward(&m, &ws, &grads);
        clip_gradient_norm(grads.grads, grads.n, 1.0);
        adamw_update(&m, &grads, &moments, &adam, 1e-4f, step + 3);
        if (step >= 0) times[step] = monotonic_seconds() - start;
    }
    qsort(times, (size_t)steps, sizeof *times, by_value);
    double median = steps % 2 ? times[steps / 2] : (times[steps / 2 - 1] + times[steps / 2]) / 2;
    printf("step: median %.1f ms (min %.1f, max %.1f) over %d steps\n", median * 1e3, times[0] * 1e3,
           times[steps - 1] * 1e3, steps);
    printf("throughput: %.0f target tokens/s, %.0f source+target tokens/s\n", B * T / median,
           B * (S + T) / median);
    free(times);
    free(src);
    free(tgt_in);
    free(tgt_out);
    workspace_free(&ws);
    gradients_free(&grads);
    adam_state_free(&moments);
    model_free(&m);
    return 0;
}
