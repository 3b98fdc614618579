// Small helpers for the subcommands' flag parsing (getopt_long does the rest).
#ifndef AZUL_OPTIONS_H
#define AZUL_OPTIONS_H

#include <getopt.h>

// Parses a whole decimal integer in [min, max] or exits with a usage error
// naming the flag, e.g. "--vocab-size expects an integer from 261 to 1000000, got 'lots'".
long parse_integer_option(const char *command, const char *flag, const char *text, long min,
                          long max);

// Parses a real number in [min, max] or exits with a usage error naming the flag.
double parse_real_option(const char *command, const char *flag, const char *text, double min,
                         double max);

// Reports the option getopt_long just rejected (it returned ':' or '?') and
// exits with status 2.  Call getopt_long with opterr = 0 and an optstring
// that starts with ':'.
_Noreturn void die_bad_option(const char *command, char **argv, int getopt_result);

#endif
