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

// The longest line a command reads from a file or a pipe (1 MiB): far above
// any sentence, and low enough that a line without end is never buffered
// whole.
enum { LINE_READER_MAX_BYTES = 1 << 20 };

// Reads the next line, without its "\n" or "\r\n", into *line (malloc'd).
// Returns 1 for a line, 0 at the end of the input, and -1 with err set when
// reading fails (the input is a directory, an I/O error) or memory runs out:
// a failed read is never taken for the end.  A line that cannot be handed
// out as a C string whole — longer than max_bytes (it is skipped as it is
// read, never buffered), or holding a NUL byte (the text after it would be
// lost) — is consumed and returned empty with *refused set, and err says
// why, as "NAME:LINE: ...".
int line_reader_next(LineReader *r, size_t max_bytes, char **line, bool *refused, Error *err);

// True when the next line (or the end, or a failure) can be had without waiting.
bool line_reader_ready(LineReader *r);

#endif
