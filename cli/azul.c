// bin/azul: one program, subcommands like git.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/report.h"
#include "core/error.h"
#include "model/cpu_kernel.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"train", train_command, "train a translation model on a corpus"},
    {"translate", translate_command, "translate sentences (a prompt on a terminal)"},
    {"attention", attention_command, "show what the model attends to, as text, CSV, JSON or SVG"},
    {"serve", serve_command, "a playground in the browser: translations and attention, live"},
    {"average", average_command, "average checkpoints of a run into one model"},
    {"bleu", bleu_command, "score translations: BLEU and chrF, as sacreBLEU computes them"},
    {"tokenize", tokenize_command, "learn tokenizers from a corpus; show a text's tokens and ids"},
    {"gradcheck", gradcheck_command, "verify backpropagation against finite differences"},
    {"bench", bench_command, "time training steps of a model preset"},
};

// How long an OpenMP thread spins, waiting for the next parallel region,
// before it sleeps.  libgomp's default (300,000 spins, some 3 ms) is right on
// an idle machine and ruinous on a busy one: with a core taken by another
// program, a spinning thread holds the core its partner needs, and toy
// training ran at a quarter of the speed it keeps with short spins.  10,000
// spins (some 0.1 ms) keep the waits between a step's regions cheap and give
// the core up soon after.  A choice the user made (OMP_WAIT_POLICY or
// GOMP_SPINCOUNT) is kept.
//
// libgomp reads its settings when it is loaded, before main() and before any
// code of ours can change the environment; so the program runs itself again
// with the setting (the same process: the exec keeps its id, its open files
// and its signal dispositions).  If that fails, it goes on as it is.
static void choose_openmp_spin(char **argv) {
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if ((policy && *policy) || (spin && *spin)) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

static void print_usage(FILE *out) {
    fprintf(out, "usage: azul COMMAND [OPTIONS]\n\n"
                 "azul is an encoder-decoder Transformer translator in C.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-10s  %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'azul COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv) {
    choose_openmp_spin(argv);
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    // The matmul's instruction-set path, once, from the CPU (or AZUL_KERNEL).
    Error err;
    if (kernel_path_choose_from_environment(&err) != 0) {
        report_error("%s", err.message);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    }
    report_error("unknown command '%s' (see 'azul --help')", argv[1]);
    return EXIT_USAGE;
}
