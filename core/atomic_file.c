#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

// Sets err for a failed allocation of `bytes` while reading `name`.
static void *out_of_memory_reading(Error *err, const char *name, size_t bytes) {
    char what[512];
    snprintf(what, sizeof what, "reading %s", name);
    error_out_of_memory(err, what, bytes);
    return NULL;
}

int atomic_write_file(const char *path, const void *data, size_t length, Error *err) {
    size_t size = strlen(path) + 32;
    char *temporary = malloc(size);
    if (!temporary) return error_out_of_memory(err, "naming the temporary file of an atomic write", size);
    snprintf(temporary, size, "%s.tmp.%ld", path, (long)getpid());

    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int e = errno;
        free(temporary);
        return error_set(err, "cannot write %s: %s", path, strerror(e));
    }
    if (write_all(fd, data, length) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(temporary);
        free(temporary);
        return error_set(err, "cannot write %s: %s", path, strerror(e));
    }
    if (close(fd) < 0 || rename(temporary, path) < 0) {
        int e = errno;
        unlink(temporary);
        free(temporary);
        return error_set(err, "cannot write %s: %s", path, strerror(e));
    }

    // The rename is durable only once the directory entry is on disk.  The
    // temporary name lies in the file's directory (dirname cuts it in place).
    int dir = open(dirname(temporary), O_RDONLY);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    free(temporary);
    return 0;
}

char *read_whole_file(const char *path, size_t max_length, size_t *length, Error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        error_set(err, "%s is not a regular file", path);
        return NULL;
    }
    if ((unsigned long long)st.st_size > max_length) {
        fclose(f);
        error_set(err, "%s is too large (%lld bytes; at most %zu expected)", path,
                  (long long)st.st_size, max_length);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buffer = malloc(size + 1);
    if (!buffer) {
        fclose(f);
        return out_of_memory_reading(err, path, size + 1);
    }
    errno = 0;
    size_t got = fread(buffer, 1, size, f);
    int failed = ferror(f) || got != size, read_errno = errno;
    fclose(f);
    if (failed) {
        free(buffer);
        error_set(err, "cannot read %s: %s", path,
                  read_errno ? strerror(read_errno) : "the file shrank while it was read");
        return NULL;
    }
    buffer[size] = '\0';
    if (length) *length = size;
    return buffer;
}

char *read_whole_stream(FILE *f, const char *name, size_t *length, Error *err) {
    size_t capacity = 1 << 16, n = 0;
    char *buffer = malloc(capacity);
    if (!buffer) return out_of_memory_reading(err, name, capacity);
    for (;;) {
        if (n + 1 >= capacity) {
            char *larger = capacity <= SIZE_MAX / 2 ? realloc(buffer, capacity * 2) : NULL;
            if (!larger) {
                free(buffer);
                return out_of_memory_reading(err, name, capacity * 2);
            }
            buffer = larger;
            capacity *= 2;
        }
        errno = 0;
        size_t got = fread(buffer + n, 1, capacity - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int read_errno = errno;
        free(buffer);
        error_set(err, "cannot read %s: %s", name, read_errno ? strerror(read_errno) : "read error");
        return NULL;
    }
    buffer[n] = '\0';
    *length = n;
    return buffer;
}
