#include "core/error.h"

#include <stdio.h>
#include <string.h>

int error_set(Error *err, const char *format, ...) {
    if (err) {
        va_list args;
        va_start(args, format);
        vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
    }
    return -1;
}

int error_out_of_memory(Error *err, const char *what, size_t bytes) {
    return error_set(err, "out of memory: %s needs %zu bytes more than the system gives", what, bytes);
}

const char *error_errno_text(int errnum, char *buffer, size_t size) {
    // the POSIX strerror_r (this file is built without _GNU_SOURCE): 0, or an
    // error when errnum is unknown or the text is longer than the buffer
    if (strerror_r(errnum, buffer, size) != 0) snprintf(buffer, size, "error %d", errnum);
    return buffer;
}
