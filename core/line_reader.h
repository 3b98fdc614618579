// Reading lines from a file descriptor, and knowing whether more are
// already waiting: a translator fed one line at a time through a pipe must
// answer each line at once, while a file is best translated in batches.
#ifndef AZUL_LINE_READER_H
#define AZUL_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int fd;
    char *buffer;
    size_t start, end, capacity;
    bool at_end;
} LineReader;

void line_reader_init(LineReader *r, int fd);
void line_reader_free(LineReader *r);

// The next line without its "\n" or "\r\n" (malloc'd), or NULL at the end.
// A line longer than max_bytes is consumed but returned empty, with
// *too_long set.
char *line_reader_next(LineReader *r, size_t max_bytes, bool *too_long);

// True when the next line (or the end) can be had without waiting.
bool line_reader_ready(LineReader *r);

#endif
