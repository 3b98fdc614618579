// `azul gradcheck`: watch backpropagation being verified.  Builds a model of
// a preset's shape with a small vocabulary, runs a random padded batch with
// dropout on, and compares every parameter tensor's gradient with central
// finite differences.
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
    "                      [--step H] [--seed N] [--tolerance E]\n"
    "\n"
    "Checks the hand-written backward pass against central finite differences,\n"
    "tensor by tensor, on a random padded batch with dropout on, and prints for\n"
    "each the error ‖analytic − numerical‖ / ‖·‖, the worst single coordinate,\n"
    "and PASS or FAIL.  Exit status 1 if any tensor fails.\n"
    "\n"
    "  --preset NAME   model shape (default toy); the vocabularies are small\n"
    "  --pre-ln        LayerNorm before each sublayer instead of after\n"
    "  --tie           share the target embedding with the output projection\n"
    "  --samples K     coordinates checked per tensor (default 16)\n"
    "  --step H        finite-difference step (default 1e-3)\n"
    "  --tolerance E   largest error that passes (default 5e-2)\n"
    "  --seed N        weights, batch and dropout seed (default 1)\n";

int gradcheck_command(int argc, char **argv) {
    static const struct option long_options[] = {
        {"preset", required_argument, 0, 'p'}, {"pre-ln", no_argument, 0, 'l'},
        {"tie", no_argument, 0, 't'},          {"samples", required_argument, 0, 'k'},
        {"step", required_argument, 0, 'e'},   {"tolerance", required_argument, 0, 'o'},
        {"seed", required_argument, 0, 's'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *preset = "toy";
    ModelConfig config = {0};
    int samples = 16;
    double step = 1e-3, tolerance = 5e-2;
    uint64_t seed = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'l': config.pre_ln = true; break;
        case 't': config.tie_output = true; break;
        case 'k': samples = (int)parse_integer_option("gradcheck", "--samples", optarg, 2, 100000); break;
        case 'e': step = parse_real_option("gradcheck", "--step", optarg, 1e-6, 1.0); break;
        case 'o': tolerance = parse_real_option("gradcheck", "--tolerance", optarg, 1e-9, 1.0); break;
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

    Model m;
    if (model_build(&m, &config, seed, &err) < 0) die("%s", err.message);
    ExampleBatch example = example_batch(seed ^ 0x5EED, config.src_vocab, config.tgt_vocab);
    GradCheckBatch batch = {example.src, example.tgt_in, example.tgt_out,
                            EXAMPLE_B, EXAMPLE_S, EXAMPLE_T, seed + 17};

    printf("gradcheck: preset %s (d_model %d, %d heads, %d+%d layers, d_ff %d), %s, %s output,\n"
           "dropout %.1f with a fixed mask, label smoothing %.1f; %d coordinates per tensor, h = %g\n\n",
           preset, config.d_model, config.n_heads, config.n_encoder_layers, config.n_decoder_layers,
           config.d_ff, config.pre_ln ? "pre-LN" : "post-LN", config.tie_output ? "tied" : "untied",
           (double)config.dropout, (double)config.label_smoothing, samples, step);
    TensorGradCheck *results = calloc((size_t)arrlen(m.tensors), sizeof *results);
    if (gradcheck_model(&m, &batch, samples, step, seed, results, &err) < 0) die("%s", err.message);

    printf("%-34s %8s %10s %10s %10s %10s\n", "tensor", "checked", "|analytic|", "|numeric|",
           "error", "worst");
    int failed = 0;
    double worst_error = 0;
    for (ptrdiff_t t = 0; t < arrlen(m.tensors); t++) {
        const TensorGradCheck *r = &results[t];
        bool pass = r->error <= tolerance;
        failed += !pass;
        if (r->error > worst_error) worst_error = r->error;
        printf("%-34s %8d %10.3e %10.3e %10.2e %10.2e  %s\n", r->name, r->sampled, r->norm,
               r->numerical_norm, r->error, r->worst, pass ? "PASS" : "FAIL");
    }
    printf("\n%td tensors, largest error %.2e (tolerance %.0e): %s\n", arrlen(m.tensors), worst_error,
           tolerance, failed ? "FAIL" : "PASS");
    free(results);
    model_free(&m);
    return failed ? EXIT_FAILURE_AZUL : 0;
}
