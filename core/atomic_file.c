#include "core/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

// Temporary files are named "NAME.tmp.PID.XXXXXX" beside NAME: the process
// id tells a stale one (its writer is gone) from one being written, and the
// six random letters make the name one that cannot be guessed in advance.
static const char TEMPORARY_INFIX[] = ".tmp.";

static uint64_t mix(uint64_t x) {  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t random_bits(void) {
    static uint64_t counter;
    uint64_t bits = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &bits, sizeof bits) != (ssize_t)sizeof bits) bits = 0;
        close(fd);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t local;  // its address differs from run to run (ASLR)
    return mix(bits ^ mix((uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^
                          (uint64_t)(uintptr_t)&local ^ ++counter));
}

// Creates a new temporary file beside path and returns its descriptor, with
// its malloc'd name in *temporary.  O_EXCL | O_NOFOLLOW: a file or symlink
// planted under the name is never opened, let alone followed; another name
// is tried instead.
static int create_temporary(const char *path, char **temporary, Error *err) {
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t size = strlen(path) + 48;
    char *name = malloc(size);
    if (!name) return error_out_of_memory(err, "naming the temporary file of an atomic write", size);
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t bits = random_bits();
        char suffix[7];
        for (int i = 0; i < 6; i++, bits >>= 6) suffix[i] = letters[bits % 62];
        suffix[6] = '\0';
        snprintf(name, size, "%s%s%ld.%s", path, TEMPORARY_INFIX, (long)getpid(), suffix);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            *temporary = name;
            return fd;
        }
        if (errno != EEXIST && errno != ELOOP) {
            int e = errno;
            free(name);
            return error_set(err, "cannot write %s: %s", path, ERRNO_TEXT(e));
        }
    }
    free(name);
    return error_set(err, "cannot write %s: no free temporary name beside it", path);
}

// Whether `entry` is a temporary of ours for the file named `base`, left by
// a process that no longer runs: "BASE.tmp.PID" (older versions) or
// "BASE.tmp.PID.XXXXXX".
static bool is_stale_temporary(const char *entry, const char *base) {
    size_t n = strlen(base), infix = sizeof TEMPORARY_INFIX - 1;
    if (strncmp(entry, base, n) != 0 || strncmp(entry + n, TEMPORARY_INFIX, infix) != 0) return false;
    const char *p = entry + n + infix;
    long pid = 0;
    for (; *p >= '0' && *p <= '9' && pid < 100000000; p++) pid = pid * 10 + (*p - '0');
    if (p == entry + n + infix || (*p != '\0' && (*p != '.' || strlen(p + 1) != 6))) return false;
    if (pid == (long)getpid()) return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

// Removes the temporaries that a killed writer left beside the file `base`
// in the directory dir_fd: only regular files of ours (never a symlink or
// anything planted by another user).  Best effort: what cannot be removed
// now is tried again at the next write.
static void remove_stale_temporaries_in(int dir_fd, const char *base) {
    int fd = dup(dir_fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        struct stat st;
        if (!is_stale_temporary(entry->d_name, base)) continue;
        if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == geteuid()) {
            unlinkat(dir_fd, entry->d_name, 0);
        }
    }
    closedir(dir);
}

// Makes the rename durable (the directory entry on disk) and cleans up after
// earlier writers that were killed.  A file system that cannot sync a
// directory at all says EINVAL; any other failure is an error.
static int sync_directory(const char *path, char *temporary, Error *err) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dir = open(dirname(temporary), O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // cuts in place
    if (dir < 0 || (fsync(dir) < 0 && errno != EINVAL)) {
        int e = errno;
        if (dir >= 0) close(dir);
        return error_set(err, "cannot write %s: its directory could not be synced to disk: %s", path,
                         ERRNO_TEXT(e));
    }
    remove_stale_temporaries_in(dir, base);
    close(dir);
    return 0;
}

void remove_stale_temporaries(const char *path) {
    char *copy = strdup(path);  // dirname cuts in place
    if (!copy) return;
    const char *slash = strrchr(path, '/');
    int dir = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        remove_stale_temporaries_in(dir, slash ? slash + 1 : path);
        close(dir);
    }
    free(copy);
}

int atomic_write_file(const char *path, const void *data, size_t length, Error *err) {
    char *temporary = NULL;
    int fd = create_temporary(path, &temporary, err);
    if (fd < 0) return -1;
    if (write_all(fd, data, length) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(temporary);
        free(temporary);
        return error_set(err, "cannot write %s: %s", path, ERRNO_TEXT(e));
    }
    if (close(fd) < 0 || rename(temporary, path) < 0) {
        int e = errno;
        unlink(temporary);
        free(temporary);
        return error_set(err, "cannot write %s: %s", path, ERRNO_TEXT(e));
    }
    int status = sync_directory(path, temporary, err);
    free(temporary);
    return status;
}

FILE *atomic_output_open(AtomicOutput *out, const char *path, Error *err) {
    memset(out, 0, sizeof *out);
    out->path = path;
    out->stream = open_memstream(&out->text, &out->length);
    if (!out->stream) error_set(err, "cannot write %s: %s", path, ERRNO_TEXT(errno));
    return out->stream;
}

int atomic_output_commit(AtomicOutput *out, Error *err) {
    bool failed = ferror(out->stream) != 0;
    int status;
    if (fclose(out->stream) != 0 || failed) {
        status = error_set(err, "cannot write %s: %s", out->path, "out of memory while rendering it");
    } else {
        status = atomic_write_file(out->path, out->text, out->length, err);
    }
    free(out->text);
    memset(out, 0, sizeof *out);
    return status;
}

char *read_whole_file(const char *path, size_t max_length, size_t *length, Error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, "cannot open %s: %s", path, ERRNO_TEXT(errno));
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
                  read_errno ? ERRNO_TEXT(read_errno) : "the file shrank while it was read");
        return NULL;
    }
    buffer[size] = '\0';
    if (length) *length = size;
    return buffer;
}

char *read_whole_stream(FILE *f, const char *name, size_t max_length, size_t *length, Error *err) {
    size_t capacity = 1 << 16, n = 0;
    char *buffer = malloc(capacity);
    if (!buffer) return out_of_memory_reading(err, name, capacity);
    for (;;) {
        if (n + 1 >= capacity) {
            // never more than one byte past the limit: enough to see it passed
            size_t wanted = capacity <= SIZE_MAX / 2 ? capacity * 2 : SIZE_MAX;
            if (max_length < SIZE_MAX - 2 && wanted > max_length + 2) wanted = max_length + 2;
            char *larger = wanted > capacity ? realloc(buffer, wanted) : NULL;
            if (!larger) {
                free(buffer);
                return out_of_memory_reading(err, name, wanted);
            }
            buffer = larger;
            capacity = wanted;
        }
        errno = 0;
        size_t got = fread(buffer + n, 1, capacity - n - 1, f);
        n += got;
        if (n > max_length) {
            free(buffer);
            error_set(err, "%s is larger than the limit of %zu bytes", name, max_length);
            return NULL;
        }
        if (got == 0) break;
    }
    if (ferror(f)) {
        int read_errno = errno;
        free(buffer);
        error_set(err, "cannot read %s: %s", name, read_errno ? ERRNO_TEXT(read_errno) : "read error");
        return NULL;
    }
    buffer[n] = '\0';
    *length = n;
    return buffer;
}
