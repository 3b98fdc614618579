// How the `azul` program reports to its user: the one-line "azul: error: ..."
// and "azul: warning: ..." messages on stderr, and the exit statuses.  Only
// cli/ includes this: the layers below return an Error instead.
#ifndef AZUL_REPORT_H
#define AZUL_REPORT_H

#include "core/error.h"

enum {
    EXIT_USAGE = 2,          // bad flag, missing argument: the user can fix the command line
    EXIT_FAILURE_AZUL = 1,   // everything else: bad file, bad input, I/O
};

// Prints "azul: error: MESSAGE" to stderr.
void report_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
// Prints "azul: warning: MESSAGE" to stderr.
void report_warning(const char *format, ...) __attribute__((format(printf, 1, 2)));

// Prints the error and exits with status 1.
_Noreturn void die(const char *format, ...) __attribute__((format(printf, 1, 2)));
// Prints the error, on the same line a pointer to --help, and exits with status 2.
_Noreturn void die_usage(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

// Flushes standard output and, when that or an earlier write to it failed
// (a full disk, a closed pipe), exits with status 1 naming stdout: output that
// did not arrive must not end in success.
void die_unless_stdout_written(void);

#endif
