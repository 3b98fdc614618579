#include "core/error.h"

#include <stdio.h>

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
