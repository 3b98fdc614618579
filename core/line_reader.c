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
    if (r->lines == 0) return error_set(err, "cannot read %s: %s", r->name, ERRNO_TEXT(r->read_errno));
    return error_set(err, "cannot read %s after line %zu: %s", r->name, r->lines,
                     ERRNO_TEXT(r->read_errno));
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

// Hands out the first `length` buffered bytes as a line and consumes
// `consumed` bytes; a line too long to have been kept (*refused already set)
// or holding a NUL byte is handed out empty, with err saying why.
static int take_line(LineReader *r, size_t max_bytes, size_t length, size_t consumed,
                     bool *refused, char **line, Error *err) {
    const char *nul = *refused ? NULL : memchr(r->buffer + r->start, '\0', length);
    if (*refused) {
        error_set(err, "%s:%zu: line longer than the limit of %zu bytes", r->name, r->lines + 1,
                  max_bytes);
    } else if (nul) {
        error_set(err, "%s:%zu: NUL byte at byte %zu (a line must be text)", r->name, r->lines + 1,
                  (size_t)(nul - (r->buffer + r->start)));
        *refused = true;
    }
    if (*refused) length = 0;
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

int line_reader_next(LineReader *r, size_t max_bytes, char **line, bool *refused, Error *err) {
    *line = NULL;
    *refused = false;
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(r->buffer + r->start + scanned, '\n', r->end - r->start - scanned);
        size_t length = nl ? (size_t)(nl - (r->buffer + r->start)) : r->end - r->start;
        if (nl) {
            if (length > max_bytes) *refused = true;
            return take_line(r, max_bytes, length, length + 1, refused, line, err);
        }
        if (length > max_bytes) {
            // Too long to keep: drop what is buffered and skip to the newline.
            *refused = true;
            r->start = r->end;
            length = scanned = 0;
        }
        int more = fill(r, err);
        if (more < 0) return -1;
        if (more == 0) {
            // The end: a last line without its newline, or the end of an
            // over-long one, is still a line.
            if (length > 0 || *refused) return take_line(r, max_bytes, length, length, refused, line, err);
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
