#include "cli/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_labelled(const char *label, const char *format, va_list args) {
    fflush(stdout);  // keep stdout and stderr in order when both go to a terminal
    fprintf(stderr, "azul: %s: ", label);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
}

void report_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_labelled("error", format, args);
    va_end(args);
}

void report_warning(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_labelled("warning", format, args);
    va_end(args);
}

void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    print_labelled("error", format, args);
    va_end(args);
    exit(EXIT_FAILURE_AZUL);
}

void die_usage(const char *command, const char *format, ...) {
    va_list args;
    va_start(args, format);
    fflush(stdout);
    fprintf(stderr, "azul: error: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, " (see 'azul %s --help')\n", command);
    va_end(args);
    exit(EXIT_USAGE);
}

void die_unless_stdout_written(void) {
    if (fflush(stdout) == 0 && !ferror(stdout)) return;
    // errno is still the failing write's reason, or 0 if nothing said
    die("cannot write to stdout: %s", errno ? strerror(errno) : "write error");
}
