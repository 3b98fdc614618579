// Writing a file so that it is never seen half-written: write a temporary
// file beside it, fsync, rename over the old one, fsync the directory.  A
// crash (or kill -9) at any moment leaves either the old file or the new one.
#ifndef AZUL_ATOMIC_FILE_H
#define AZUL_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

// The temporary is "PATH.tmp.PID.XXXXXX" (random letters), created with
// O_EXCL | O_NOFOLLOW so that nothing planted under that name is written
// through.  A failed fsync of the file or of its directory is an error.
// Temporaries of the same file left by a writer that was killed (its process
// is gone) are removed afterwards.
int atomic_write_file(const char *path, const void *data, size_t length, Error *err);

// Removes the temporaries of path that killed writers left, as a write of
// path does afterwards: for a program that may end without writing path
// again (a resumed training run that never beats its best model), so that
// no temporary outlives it.  Best effort, as after a write.
void remove_stale_temporaries(const char *path);

// A stream whose text replaces path atomically when committed, for code that
// writes with stdio (the attention renderers): the text is kept in memory
// until then.
typedef struct {
    const char *path;
    char *text;
    size_t length;
    FILE *stream;
} AtomicOutput;

// The stream to write to, or NULL with err set when memory runs out.
FILE *atomic_output_open(AtomicOutput *out, const char *path, Error *err);
// Closes the stream and writes path atomically; -1 with err set (naming
// path) when a write failed.  Frees the text either way.
int atomic_output_commit(AtomicOutput *out, Error *err);

// Reads a whole file into a malloc'd, NUL-terminated buffer of at most
// max_length bytes; NULL with a message naming the file when it cannot be
// opened or read, is too large, or memory runs out.
char *read_whole_file(const char *path, size_t max_length, size_t *length, Error *err);

// Reads a whole stream (a pipe too) into a malloc'd, NUL-terminated buffer of
// at most max_length bytes; NULL with a message naming the stream (`name`, as
// the user knows it) when reading fails, memory runs out, or the stream holds
// more (found as soon as it is read, with at most one byte past the limit
// buffered: an endless pipe is never held whole).
char *read_whole_stream(FILE *f, const char *name, size_t max_length, size_t *length, Error *err);

#endif
