#include "core/line_reader.h"
#include "cli/report.h"  // TODO(layers): die() goes

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

void line_reader_init(LineReader *r, int fd) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->capacity = 1 << 16;
    r->buffer = malloc(r->capacity);
    if (!r->buffer) die("out of memory");
}

void line_reader_free(LineReader *r) {
    free(r->buffer);
    memset(r, 0, sizeof *r);
}

// Reads more input after what is buffered; false at the end of input.
static bool fill(LineReader *r) {
    if (r->at_end) return false;
    if (r->start > 0) {  // move the unread part to the front
        memmove(r->buffer, r->buffer + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->capacity) {
        r->capacity *= 2;
        r->buffer = realloc(r->buffer, r->capacity);
        if (!r->buffer) die("out of memory");
    }
    ssize_t n;
    do n = read(r->fd, r->buffer + r->end, r->capacity - r->end);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        r->at_end = true;
        return false;
    }
    r->end += (size_t)n;
    return true;
}

char *line_reader_next(LineReader *r, size_t max_bytes, bool *too_long) {
    *too_long = false;
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(r->buffer + r->start + scanned, '\n', r->end - r->start - scanned);
        size_t length = nl ? (size_t)(nl - (r->buffer + r->start)) : r->end - r->start;
        if (!nl && length > max_bytes) {
            // Too long to keep: drop what is buffered and skip to the newline.
            *too_long = true;
            r->start = r->end;
            scanned = 0;
            if (!fill(r)) break;
            continue;
        }
        if (nl || (!fill(r) && length > 0)) {
            if (*too_long || length > max_bytes) {
                *too_long = true;
                length = 0;
            }
            char *line = malloc(length + 1);
            if (!line) die("out of memory");
            memcpy(line, r->buffer + r->start, length);
            line[length] = '\0';
            if (length > 0 && line[length - 1] == '\r') line[length - 1] = '\0';
            size_t consumed = nl ? (size_t)(nl - (r->buffer + r->start)) + 1 : r->end - r->start;
            r->start += consumed;
            return line;
        }
        if (r->at_end) break;
        scanned = length;
    }
    if (*too_long) {  // the input ended inside an over-long line
        char *line = calloc(1, 1);
        return line;
    }
    return NULL;
}

bool line_reader_ready(LineReader *r) {
    if (r->at_end || memchr(r->buffer + r->start, '\n', r->end - r->start)) return true;
    struct pollfd p = {r->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}
