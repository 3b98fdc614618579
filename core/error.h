// The error convention shared by every part of azul.
//
// Library code never prints and never exits: a function that can fail returns
// -1 (or NULL) and writes one sentence into an Error, naming the file and line
// or byte offset where that helps.  Only the command layer (cli/report.h)
// turns an Error into the one-line "azul: error: ..." message and an exit
// status.
#ifndef AZUL_ERROR_H
#define AZUL_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char message[1024];
} Error;

// Formats the message into err (when err is not NULL) and returns -1, so that
// library code can write `return error_set(err, "...", ...);`.
int error_set(Error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

// The message for a failed allocation of `bytes` while doing `what`.
int error_out_of_memory(Error *err, const char *what, size_t bytes);

// What errno value errnum means, written into buffer: strerror may return a
// buffer shared by every thread, and the server's threads read files at once.
const char *error_errno_text(int errnum, char *buffer, size_t size);
// The same in a buffer that lives until the end of the enclosing statement
// (a compound literal), for use as an argument: ERRNO_TEXT(errno).
#define ERRNO_TEXT(errnum) error_errno_text((errnum), (char[128]){0}, 128)

#endif
