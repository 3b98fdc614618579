// Writing a file so that it is never seen half-written: write a temporary
// file beside it, fsync, rename over the old one, fsync the directory.  A
// crash (or kill -9) at any moment leaves either the old file or the new one.
#ifndef AZUL_ATOMIC_FILE_H
#define AZUL_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

int atomic_write_file(const char *path, const void *data, size_t length, Error *err);

// Reads a whole file into a malloc'd, NUL-terminated buffer of at most
// max_length bytes; NULL with a message naming the file when it cannot be
// opened or read, is too large, or memory runs out.
char *read_whole_file(const char *path, size_t max_length, size_t *length, Error *err);

// Reads a whole stream (a pipe too) into a malloc'd, NUL-terminated buffer;
// NULL with a message naming the stream (`name`, as the user knows it) when
// reading fails or memory runs out.
char *read_whole_stream(FILE *f, const char *name, size_t *length, Error *err);

#endif
