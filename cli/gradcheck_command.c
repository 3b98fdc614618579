// `azul gradcheck`: watch backpropagation being verified.  Builds a model of
// a preset's shape with a small vocabulary, runs a random padded batch with
// dropout on, and compares sampled coordinates of every parameter tensor's
// gradient with finite differences of the loss (model/gradcheck.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "cli/commands.h"
#include "cli/report.h"
#include "cli/options.h"
#include "model/gradcheck.h"

static const char usage[] =
    "usage: azul gradcheck [--preset toy|small|base] [--pre-ln] [--tie] [--samples K]\n"
    "                      [--step H] [--seed N] [--tolerance E] [--sigmas Z]\n"
    "\n"
    "Checks the hand-written backward pass against finite differences of the\n"
    "loss, coordinate by coordinate, on a random padded batch with dropout on.\n"
    "Each checked coordinate must satisfy\n"
    "    |analytic - numerical| <= E |analytic| + Z noise + truncation\n"
    "where noise is the loss's rounding noise, measured, seen through the\n"
    "stencil, and truncation the stencil's estimated error.  For each tensor it\n"
    "prints the measured noise, the worst coordinate's |analytic - numerical|\n"
    "divided by its allowance (above 1 fails), and PASS or FAIL.  Exit status 1\n"
    "if any coordinate fails.\n"
    "\n"
    "  --preset NAME   model shape (default toy); the vocabularies are small\n"
    "  --pre-ln        LayerNorm before each sublayer instead of after\n"
    "  --tie           share the target embedding with the output projection\n"
    "  --samples K     coordinates checked per tensor (default 16)\n"
    "  --step H        first step of the five-point stencil (default 1e-2)\n"
    "  --tolerance E   allowance relative to the analytic gradient (default 1e-3)\n"
    "  --sigmas Z      allowance in standard deviations of the noise (default 8)\n"
    "  --seed N        weights, batch and dropout seed (default 1)\n";

static void print_results(const TensorGradCheck *results, ptrdiff_t n) {
    printf("%-34s %7s %10s %10s %9s %9s %9s\n", "tensor", "checked", "|analytic|", "|numeric|",
           "noise", "worst", "along");
    for (ptrdiff_t t = 0; t < n; t++) {
        const TensorGradCheck *r = &results[t];
        printf("%-34s %7d %10.3e %10.3e %9.1e %9.2e ", r->name, r->sampled, r->norm,
               r->numerical_norm, r->noise, r->worst);
        if (r->along_checked) printf("%9.2e", r->along_ratio);
        else printf("%9s", "-");
        printf("  %s", r->failed ? "FAIL" : "PASS");
        if (r->kinked) printf("  (%d left out: a ReLU flips)", r->kinked);
        if (r->along_checked && r->along_ratio > 1) {
            printf("  along the gradient: %.6e, numerical %.6e, allowed %.1e", r->along_analytic,
                   r->along_numerical, r->along_allowance);
        }
        if (r->worst > 1) {
            printf("  [%zu]: analytic %.6e, numerical %.6e, allowed %.1e", r->worst_index,
                   r->worst_analytic, r->worst_numerical, r->worst_allowance);
        }
        printf("\n");
    }
}

int gradcheck_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"preset", required_argument, 0, 'p'}, {"pre-ln", no_argument, 0, 'l'},
        {"tie", no_argument, 0, 't'},          {"samples", required_argument, 0, 'k'},
        {"step", required_argument, 0, 'e'},   {"tolerance", required_argument, 0, 'o'},
        {"sigmas", required_argument, 0, 'z'}, {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *preset = "toy";
    ModelConfig config = {0};
    GradCheckOptions options = gradcheck_defaults();
    uint64_t seed = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'l': config.pre_ln = true; break;
        case 't': config.tie_output = true; break;
        case 'k': options.samples = (int)parse_integer_option("gradcheck", "--samples", optarg, 2, 100000); break;
        case 'e': options.step = parse_real_option("gradcheck", "--step", optarg, 1e-6, 1.0); break;
        case 'o': options.relative = parse_real_option("gradcheck", "--tolerance", optarg, 0.0, 1.0); break;
        case 'z': options.sigmas = parse_real_option("gradcheck", "--sigmas", optarg, 0.0, 1000.0); break;
        case 's': seed = (uint64_t)parse_integer_option("gradcheck", "--seed", optarg, 0, 1L << 62); break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option("gradcheck", argv, c);
        }
    }
    if (optind < argc) die_usage("gradcheck", "unexpected argument '%s'", argv[optind]);
    Error err;
    if (model_config_preset(&config, preset, &err) < 0) die_usage("gradcheck", "%s", err.message);
    config.src_vocab = 29;
    config.tgt_vocab = 31;
    config.max_len = 16;
    config.dropout = 0.1f;
    config.label_smoothing = 0.1f;
    options.seed = seed;

    Model m;
    if (model_build(&m, &config, seed, &err) < 0) die("%s", err.message);
    ExampleBatch example = example_batch(seed ^ 0x5EED, config.src_vocab, config.tgt_vocab);
    GradCheckBatch batch = {example.src, example.tgt_in, example.tgt_out,
                            EXAMPLE_B, EXAMPLE_S, EXAMPLE_T, seed + 17};

    printf("gradcheck: preset %s (d_model %d, %d heads, %d+%d layers, d_ff %d), %s, %s output,\n"
           "dropout %.1f with a fixed mask, label smoothing %.1f; %d coordinates per tensor,\n"
           "five-point stencil from h = %g; allowance %g |analytic| + %g noise + truncation\n\n",
           preset, config.d_model, config.n_heads, config.n_encoder_layers, config.n_decoder_layers,
           config.d_ff, config.pre_ln ? "pre-LN" : "post-LN", config.tie_output ? "tied" : "untied",
           (double)config.dropout, (double)config.label_smoothing, options.samples, options.step,
           options.relative, options.sigmas);
    ptrdiff_t n = arrlen(m.tensors);
    TensorGradCheck *results = calloc((size_t)n, sizeof *results);
    if (!results) die("out of memory");
    if (gradcheck_model(&m, &batch, &options, results, &err) < 0) die("%s", err.message);
    print_results(results, n);

    int checked = 0, failed = 0, kinked = 0;
    double worst = 0;
    for (ptrdiff_t t = 0; t < n; t++) {
        checked += results[t].sampled;
        failed += results[t].failed;
        kinked += results[t].kinked;
        worst = fmax(worst, fmax(results[t].worst, results[t].along_ratio));
    }
    printf("\n%td tensors, %d coordinates (%d left out), worst |analytic - numerical| / allowance "
           "%.2f: %s\n", n, checked, kinked, worst, failed ? "FAIL" : "PASS");
    free(results);
    model_free(&m);
    return failed ? EXIT_FAILURE_AZUL : 0;
}
