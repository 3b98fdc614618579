// Reading lines from a file descriptor, and knowing whether more are
// already waiting: a translator fed one line at a time through a pipe must
// answer each line at once, while a file is best translated in batches.
#ifndef AZUL_LINE_READER_H
#define AZUL_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct {
    int fd;
    const char *name;       // the input as the user knows it, for messages
    char *buffer;
    size_t start, end, capacity;
    size_t lines;           // lines returned so far
    bool at_end;
    int read_errno;         // what ended the input when reading failed, else 0
} LineReader;

// Prepares to read fd; `name` (kept, not copied) names it in messages.
int line_reader_init(LineReader *r, int fd, const char *name, Error *err);
void line_reader_free(LineReader *r);

// Reads the next line, without its "\n" or "\r\n", into *line (malloc'd).
// Returns 1 for a line, 0 at the end of the input, and -1 with err set when
// reading fails (the input is a directory, an I/O error) or memory runs out:
// a failed read is never taken for the end.  A line longer than max_bytes is
// consumed but returned empty, with *too_long set.
int line_reader_next(LineReader *r, size_t max_bytes, char **line, bool *too_long, Error *err);

// True when the next line (or the end, or a failure) can be had without waiting.
bool line_reader_ready(LineReader *r);

#endif
