#include "cli/options.h"

#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "cli/report.h"

long parse_integer_option(const char *command, const char *flag, const char *text, long min,
                          long max) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        die_usage(command, "%s expects an integer from %ld to %ld, got '%s'", flag, min, max, text);
    }
    return value;
}

double parse_real_option(const char *command, const char *flag, const char *text, double min,
                         double max) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= min && value <= max)) {
        die_usage(command, "%s expects a number from %g to %g, got '%s'", flag, min, max, text);
    }
    return value;
}

void die_bad_option(const char *command, char **argv, int getopt_result) {
    // With opterr = 0 and a ':'-led optstring, getopt_long returns ':' for a
    // missing value and '?' for an unknown flag, leaving optind past the word.
    const char *word = argv[optind - 1];
    if (getopt_result == ':') die_usage(command, "option '%s' needs a value", word);
    die_usage(command, "unknown option '%s'", word);
}
