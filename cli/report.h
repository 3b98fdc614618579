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

// Every message is written with its control characters (and U+2028/U+2029,
// and bytes that are not UTF-8) shown as U+FFFD, since it may quote a user's
// or a file's text: one line, never an escape sequence.

// Prints "azul: error: MESSAGE" to stderr.
void report_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
// Prints "azul: warning: MESSAGE" to stderr.
void report_warning(const char *format, ...) __attribute__((format(printf, 1, 2)));

// Prints the error and exits with status 1.
_Noreturn void die(const char *format, ...) __attribute__((format(printf, 1, 2)));
// Prints the error, on the same line a pointer to --help, and exits with status 2.
_Noreturn void die_usage(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

// Flushes standard output and dies with an error when anything written to
// it was lost (`> /dev/full`, a disk that filled): a command whose output is
// its result must not exit 0 without it.
void finish_standard_output(void);

#endif
