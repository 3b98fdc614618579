#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "core/json_tree.h"

enum {
    MAX_HEADER_BYTES = 100 * 1024 * 1024,  // the format's own reference limit
};
static const size_t MAX_FILE_BYTES = (size_t)16 << 30;

static int dtype_size(const char *dtype) {
    static const struct { const char *name; int size; } types[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
        {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, dtype) == 0) return types[i].size;
    }
    return 0;
}

static int by_offset(const void *x, const void *y) {
    const SafetensorsTensor *a = x, *b = y;
    const char *pa = a->data, *pb = b->data;
    return (pa > pb) - (pa < pb);
}

static int fail(SafetensorsFile *f, Error *err, const char *path, const char *what,
                const char *name) {
    Error inner;
    if (name) error_set(&inner, "%s: tensor \"%s\": %s", path, name, what);
    else error_set(&inner, "%s: %s", path, what);
    safetensors_free(f);
    return error_set(err, "%s", inner.message);
}

// Maps path when it is a regular file; otherwise reads it whole.
static int open_file(SafetensorsFile *f, const char *path, Error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return error_set(err, "cannot open %s: %s", path, ERRNO_TEXT(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        return error_set(err, "cannot read %s: %s", path, ERRNO_TEXT(saved));
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {  // a pipe, a device, an empty file: read it
        close(fd);
        f->buffer = read_whole_file(path, MAX_FILE_BYTES, &f->size, err);
        return f->buffer ? 0 : -1;
    }
    if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
        close(fd);
        return error_set(err, "%s is %lld bytes, larger than the limit of %zu bytes (16 GiB) for a "
                              "safetensors file", path, (long long)st.st_size, MAX_FILE_BYTES);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED) return error_set(err, "cannot map %s: %s", path, ERRNO_TEXT(saved));
    f->buffer = p;
    f->size = (size_t)st.st_size;
    f->mapped = true;
    return 0;
}

// Checks the header's length, then parses it into f->header; on failure f
// is freed and err names path.
static int parse_header(SafetensorsFile *f, const char *path, uint64_t *header_length, Error *err) {
    if (f->size < 8) return fail(f, err, path, "truncated: shorter than the 8-byte header length", NULL);
    uint64_t length = 0;
    for (int i = 7; i >= 0; i--) length = length << 8 | (unsigned char)f->buffer[i];
    char what[160];
    if (length > MAX_HEADER_BYTES) {
        snprintf(what, sizeof what, "header length %llu is larger than the limit of %d bytes (100 MiB)",
                 (unsigned long long)length, MAX_HEADER_BYTES);
        return fail(f, err, path, what, NULL);
    }
    if (length < 2 || length > f->size - 8) {
        snprintf(what, sizeof what, "header length %llu does not fit the file (%zu bytes)",
                 (unsigned long long)length, f->size);
        return fail(f, err, path, what, NULL);
    }
    // counted before cJSON builds a node: 100 MiB of dense JSON would be GBs of them
    Error inner;
    if (json_check_size(f->buffer + 8, (size_t)length, SAFETENSORS_MAX_HEADER_VALUES, "header", &inner) < 0) {
        return fail(f, err, path, inner.message, NULL);
    }
    f->header = cJSON_ParseWithLength(f->buffer + 8, (size_t)length);
    if (!cJSON_IsObject(f->header)) return fail(f, err, path, "header is not a JSON object", NULL);
    *header_length = length;
    return 0;
}

int safetensors_read(SafetensorsFile *f, const char *path, Error *err) {
    memset(f, 0, sizeof *f);
    if (open_file(f, path, err) < 0) return -1;
    uint64_t header_length;
    if (parse_header(f, path, &header_length, err) < 0) return -1;

    const char *data = f->buffer + 8 + header_length;
    size_t data_size = f->size - 8 - (size_t)header_length;
    const cJSON *item;
    cJSON_ArrayForEach(item, f->header) {
        if (strcmp(item->string, "__metadata__") == 0) {
            const cJSON *value;
            cJSON_ArrayForEach(value, item) {
                if (!cJSON_IsString(value)) return fail(f, err, path, "metadata values must be strings", NULL);
            }
            if (!cJSON_IsObject(item)) return fail(f, err, path, "__metadata__ is not an object", NULL);
            f->metadata = item;
            continue;
        }
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (!cJSON_IsString(dtype) || !dtype_size(dtype->valuestring)) {
            return fail(f, err, path, "missing or unknown dtype", item->string);
        }
        if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > SAFETENSORS_MAX_RANK) {
            return fail(f, err, path, "shape is not an array of at most 8 sizes", item->string);
        }
        SafetensorsTensor t = {item->string, dtype->valuestring, cJSON_GetArraySize(shape), {0}, NULL, 0};
        // Multiply with an overflow check: a hostile shape must not wrap around.
        uint64_t elements = 1;
        int d = 0;
        const cJSON *dim;
        cJSON_ArrayForEach(dim, shape) {
            if (!cJSON_IsNumber(dim) || dim->valuedouble < 0 || dim->valuedouble > 1e15 ||
                dim->valuedouble != (double)(int64_t)dim->valuedouble) {
                return fail(f, err, path, "a dimension is not a non-negative integer", item->string);
            }
            uint64_t size = (uint64_t)dim->valuedouble;
            t.shape[d++] = (int64_t)size;
            if (size != 0 && elements > f->size / size) {
                return fail(f, err, path, "shape is larger than the file", item->string);
            }
            elements *= size;
        }
        const cJSON *b = cJSON_GetArrayItem(offsets, 0), *e = cJSON_GetArrayItem(offsets, 1);
        if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !cJSON_IsNumber(b) ||
            !cJSON_IsNumber(e) || b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
            e->valuedouble > (double)data_size || b->valuedouble != (double)(size_t)b->valuedouble ||
            e->valuedouble != (double)(size_t)e->valuedouble) {
            return fail(f, err, path, "data_offsets lie outside the file (truncated?)", item->string);
        }
        size_t begin = (size_t)b->valuedouble, end = (size_t)e->valuedouble;
        if ((uint64_t)(end - begin) != elements * (uint64_t)dtype_size(t.dtype)) {
            return fail(f, err, path, "byte range does not match dtype × shape", item->string);
        }
        t.data = data + begin;
        t.bytes = end - begin;
        arrput(f->tensors, t);
    }
    // No two tensors may share bytes.
    size_t n = (size_t)arrlen(f->tensors);
    SafetensorsTensor *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        safetensors_free(f);
        return error_out_of_memory(err, "checking the tensors' byte ranges", n * sizeof *sorted);
    }
    // A header without tensors leaves f->tensors NULL, and memcpy from NULL
    // is undefined even for no bytes.
    if (n > 0) memcpy(sorted, f->tensors, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_offset);
    for (size_t i = 1; i < n; i++) {
        if ((const char *)sorted[i - 1].data + sorted[i - 1].bytes > (const char *)sorted[i].data) {
            const char *name = sorted[i].name;
            free(sorted);
            return fail(f, err, path, "overlaps another tensor", name);
        }
    }
    free(sorted);
    return 0;
}

void safetensors_free(SafetensorsFile *f) {
    if (f->mapped) munmap(f->buffer, f->size);
    else free(f->buffer);
    cJSON_Delete(f->header);
    arrfree(f->tensors);
    memset(f, 0, sizeof *f);
}

const SafetensorsTensor *safetensors_find(const SafetensorsFile *f, const char *name) {
    for (ptrdiff_t i = 0; i < arrlen(f->tensors); i++) {
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    }
    return NULL;
}

const char *safetensors_metadata(const SafetensorsFile *f, const char *key) {
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(f->metadata, key);
    return cJSON_IsString(value) ? value->valuestring : NULL;
}

// One tensor's header entry: {"dtype", "shape", "data_offsets"}; NULL when
// memory runs out.
static cJSON *tensor_entry(const SafetensorsOutput *t, size_t offset) {
    cJSON *entry = cJSON_CreateObject(), *shape = NULL, *offsets = NULL;
    bool ok = entry && cJSON_AddStringToObject(entry, "dtype", t->dtype) &&
              (shape = cJSON_AddArrayToObject(entry, "shape")) != NULL &&
              (offsets = cJSON_AddArrayToObject(entry, "data_offsets")) != NULL;
    for (int d = 0; ok && d < t->rank; d++) ok = json_append(shape, cJSON_CreateNumber((double)t->shape[d]));
    ok = ok && json_append(offsets, cJSON_CreateNumber((double)offset)) &&
         json_append(offsets, cJSON_CreateNumber((double)(offset + t->bytes)));
    if (ok) return entry;
    cJSON_Delete(entry);
    return NULL;
}

int safetensors_write(const char *path, const SafetensorsOutput *tensors, size_t n,
                      const char *const *metadata_keys, const char *const *metadata_values,
                      size_t n_metadata, Error *err) {
    // Every step is checked: a header with a key or a tensor left out (a
    // failed allocation) would be written, and replace a good file.
    cJSON *header = cJSON_CreateObject(), *metadata = NULL;
    bool ok = header && (n_metadata == 0 || (metadata = cJSON_AddObjectToObject(header, "__metadata__")) != NULL);
    for (size_t i = 0; ok && i < n_metadata; i++) {
        ok = cJSON_AddStringToObject(metadata, metadata_keys[i], metadata_values[i]) != NULL;
    }
    size_t offset = 0;
    for (size_t i = 0; ok && i < n; i++) {
        ok = json_attach(header, tensors[i].name, tensor_entry(&tensors[i], offset));
        offset += tensors[i].bytes;
    }
    if (!ok) {
        cJSON_Delete(header);
        return error_out_of_memory(err, "the safetensors header", 0);
    }
    char *json = cJSON_PrintUnformatted(header);
    cJSON_Delete(header);
    if (!json) return error_out_of_memory(err, "the safetensors header", offset / 1024);
    // Pad the header with spaces to a multiple of 8 so that the data is aligned.
    size_t json_length = strlen(json), padded = (json_length + 7) / 8 * 8;
    size_t total = 8 + padded + offset;
    char *buffer = malloc(total);
    if (!buffer) {
        cJSON_free(json);
        return error_out_of_memory(err, path, total);
    }
    for (int i = 0; i < 8; i++) buffer[i] = (char)((uint64_t)padded >> (8 * i) & 0xFF);
    memcpy(buffer + 8, json, json_length);
    memset(buffer + 8 + json_length, ' ', padded - json_length);
    cJSON_free(json);
    char *p = buffer + 8 + padded;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, tensors[i].data, tensors[i].bytes);
        p += tensors[i].bytes;
    }
    int status = atomic_write_file(path, buffer, total, err);
    free(buffer);
    return status;
}
