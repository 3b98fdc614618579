#include "core/atomic_file.h"
#include "cli/report.h"  // TODO(layers): die() goes

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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

int atomic_write_file(const char *path, const void *data, size_t length, Error *err) {
    size_t path_length = strlen(path);
    char *temporary = malloc(path_length + 32);
    if (!temporary) die("out of memory");
    snprintf(temporary, path_length + 32, "%s.tmp.%ld", path, (long)getpid());

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
    free(temporary);

    // The rename is durable only once the directory entry is on disk.
    char *copy = strdup(path);
    if (!copy) die("out of memory");
    int dir = open(dirname(copy), O_RDONLY);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    free(copy);
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
    if (!buffer) die("out of memory");
    size_t got = fread(buffer, 1, size, f);
    int failed = ferror(f) || got != size;
    fclose(f);
    if (failed) {
        free(buffer);
        error_set(err, "cannot read %s", path);
        return NULL;
    }
    buffer[size] = '\0';
    if (length) *length = size;
    return buffer;
}

char *read_whole_stream(FILE *f, size_t *length) {
    size_t capacity = 1 << 16, n = 0;
    char *buffer = malloc(capacity);
    if (!buffer) die("out of memory");
    for (;;) {
        if (n + 1 >= capacity) {
            capacity *= 2;
            buffer = realloc(buffer, capacity);
            if (!buffer) die("out of memory reading input (%zu bytes)", capacity);
        }
        size_t got = fread(buffer + n, 1, capacity - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    buffer[n] = '\0';
    *length = n;
    return buffer;
}
