#include "core/line_reader.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int out_of_memory(const LineReader *r, Error *err, size_t bytes) {
    char what[512];
    snprintf(what, sizeof what, "reading %s", r->name);
    return error_out_of_memory(err, what, bytes);
}

static int read_failure(const LineReader *r, Error *err) {
    if (r->lines == 0) return error_set(err, "cannot read %s: %s", r->name, strerror(r->read_errno));
    return error_set(err, "cannot read %s after line %zu: %s", r->name, r->lines,
                     strerror(r->read_errno));
}

int line_reader_init(LineReader *r, int fd, const char *name, Error *err) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->name = name;
    r->capacity = 1 << 16;
    r->buffer = malloc(r->capacity);
    if (!r->buffer) return out_of_memory(r, err, r->capacity);
    return 0;
}

void line_reader_free(LineReader *r) {
    free(r->buffer);
    memset(r, 0, sizeof *r);
}

// Reads more input after what is buffered: 1 when some came, 0 at the end
// of the input, -1 with err set when reading failed (again and again: a
// failure is not forgotten) or memory ran out.
static int fill(LineReader *r, Error *err) {
    if (r->read_errno) return read_failure(r, err);
    if (r->at_end) return 0;
    if (r->start > 0) {  // move the unread part to the front
        memmove(r->buffer, r->buffer + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->capacity) {
        char *larger = r->capacity <= SIZE_MAX / 2 ? realloc(r->buffer, r->capacity * 2) : NULL;
        if (!larger) return out_of_memory(r, err, r->capacity * 2);
        r->buffer = larger;
        r->capacity *= 2;
    }
    ssize_t n;
    do n = read(r->fd, r->buffer + r->end, r->capacity - r->end);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        r->read_errno = errno;
        return read_failure(r, err);
    }
    if (n == 0) {
        r->at_end = true;
        return 0;
    }
    r->end += (size_t)n;
    return 1;
}

// Hands out the first `length` buffered bytes as a line (none when it was too
// long) and consumes `consumed` bytes.
static int take_line(LineReader *r, size_t length, size_t consumed, bool too_long, char **line,
                     Error *err) {
    if (too_long) length = 0;
    char *text = malloc(length + 1);
    if (!text) return out_of_memory(r, err, length + 1);
    memcpy(text, r->buffer + r->start, length);
    text[length] = '\0';
    if (length > 0 && text[length - 1] == '\r') text[length - 1] = '\0';
    r->start += consumed;
    r->lines++;
    *line = text;
    return 1;
}

int line_reader_next(LineReader *r, size_t max_bytes, char **line, bool *too_long, Error *err) {
    *line = NULL;
    *too_long = false;
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(r->buffer + r->start + scanned, '\n', r->end - r->start - scanned);
        size_t length = nl ? (size_t)(nl - (r->buffer + r->start)) : r->end - r->start;
        if (nl) {
            if (length > max_bytes) *too_long = true;
            return take_line(r, length, length + 1, *too_long, line, err);
        }
        if (length > max_bytes) {
            // Too long to keep: drop what is buffered and skip to the newline.
            *too_long = true;
            r->start = r->end;
            length = scanned = 0;
        }
        int more = fill(r, err);
        if (more < 0) return -1;
        if (more == 0) {
            // The end: a last line without its newline, or the end of an
            // over-long one, is still a line.
            if (length > 0 || *too_long) return take_line(r, length, length, *too_long, line, err);
            return 0;
        }
        scanned = length;
    }
}

bool line_reader_ready(LineReader *r) {
    if (r->at_end || r->read_errno || memchr(r->buffer + r->start, '\n', r->end - r->start)) {
        return true;
    }
    struct pollfd p = {r->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}
