// `azul average`: one model file that is the mean of several checkpoints of
// a run (model/average.h).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/report.h"
#include "model/average.h"
#include "model/model_file.h"

static const char cmd[] = "average";

static const char usage[] =
    "usage: azul average --out FILE MODEL MODEL...\n"
    "\n"
    "Writes FILE, a model whose every weight is the mean of that weight in the\n"
    "MODELs (directories or .safetensors files), such as the checkpoints that\n"
    "azul train --average N keeps in DIR/checkpoints/.  The models must be\n"
    "checkpoints of one run: the same shape and the same tokenizers.\n"
    "\n"
    "  --out FILE   the averaged model (written atomically)\n";

int average_command(int argc, char **argv) {
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":h", options, NULL)) != -1;) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c != 'o') die_bad_option(cmd, argv, c);
        out = optarg;
    }
    if (!out) die_usage(cmd, "--out FILE is required");
    const int n = argc - optind;
    if (n < 2) die_usage(cmd, "give two models or more to average");
    Model *models = calloc((size_t)n, sizeof *models);
    const Model **pointers = calloc((size_t)n, sizeof *pointers);
    char **tokenizers = calloc((size_t)n, sizeof *tokenizers);
    if (!models || !pointers || !tokenizers) die("out of memory for %d models", n);
    Error err;
    for (int k = 0; k < n; k++) {
        const char *path = argv[optind + k];
        if (model_load(&models[k], &tokenizers[k], path, &err) < 0) die("%s", err.message);
        pointers[k] = &models[k];
        bool same = (!tokenizers[k] && !tokenizers[0]) ||
                    (tokenizers[k] && tokenizers[0] && strcmp(tokenizers[k], tokenizers[0]) == 0);
        if (!same) die("%s has other tokenizers than %s: only checkpoints of one run can be averaged", path, argv[optind]);
    }
    Model mean;
    if (model_average(&mean, pointers, n, &err) < 0) die("%s", err.message);
    if (model_save(&mean, &(ModelMetadata){.tokenizers = tokenizers[0]}, out, &err) < 0) die("%s", err.message);
    printf("%s: the mean of %d models\n", out, n);
    model_free(&mean);
    for (int k = 0; k < n; k++) {
        model_free(&models[k]);
        free(tokenizers[k]);
    }
    free(models);
    free(pointers);
    free(tokenizers);
    finish_standard_output();
    return 0;
}
