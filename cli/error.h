// Error reporting shared by every part of azul.
//
// Library code never prints and never exits: a function that can fail returns
// -1 (or NULL) and writes one sentence into an Error, naming the file and line
// or byte offset where that helps.  Only the command layer (cli/) turns an Error
// into the one-line "azul: error: ..." message and an exit status.
#ifndef AZUL_ERROR_H
#define AZUL_ERROR_H

#include <stdarg.h>

enum {
    EXIT_USAGE = 2,          // bad flag, missing argument: the user can fix the command line
    EXIT_FAILURE_AZUL = 1,   // everything else: bad file, bad input, I/O
};

typedef struct {
    char message[1024];
} Error;

// Formats the message into err (when err is not NULL) and returns -1, so that
// library code can write `return error_set(err, "...", ...);`.
int error_set(Error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

// Prints "azul: error: MESSAGE" to stderr.
void report_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
// Prints "azul: warning: MESSAGE" to stderr.
void report_warning(const char *format, ...) __attribute__((format(printf, 1, 2)));

// Prints the error and exits with status 1.
_Noreturn void die(const char *format, ...) __attribute__((format(printf, 1, 2)));
// Prints the error, on the same line a pointer to --help, and exits with status 2.
_Noreturn void die_usage(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif
