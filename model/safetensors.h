// The safetensors format (Hugging Face): an 8-byte little-endian header
// length N, N bytes of JSON naming each tensor's dtype, shape and byte range,
// then the raw little-endian data.  A string-to-string "__metadata__" object
// rides along in the header.  Python's `safetensors` opens these files.
//
// The reader trusts nothing: the header length, every dtype, shape and
// offset is checked against the file before anything is read through it.
#ifndef AZUL_SAFETENSORS_H
#define AZUL_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/error.h"

enum { SAFETENSORS_MAX_RANK = 8 };

// The most JSON values a header may hold (checked before it is parsed).  A
// tensor's entry is 6 values and rank more ({"dtype", "shape": [...],
// "data_offsets": [b, e]}), metadata one per key; azul's largest model (256
// layers a stack) has 10,760 tensors, some 86,000 values, and a file from
// elsewhere of 70,000 tensors of rank 8 still fits.  At the limit cJSON
// builds about 150 MB; the 100 MiB a header may have would let it build 4 GB.
enum { SAFETENSORS_MAX_HEADER_VALUES = 1000 * 1000 };

typedef struct {
    const char *name;
    const char *dtype;                  // "F32", "I32", ...
    int rank;
    int64_t shape[SAFETENSORS_MAX_RANK];
    const void *data;                   // inside the file buffer
    size_t bytes;
} SafetensorsTensor;

typedef struct SafetensorsFile {
    char *buffer;                       // the whole file: mapped read-only, or read into memory
    size_t size;
    bool mapped;
    cJSON *header;
    SafetensorsTensor *tensors;         // stb_ds array
    const cJSON *metadata;              // the "__metadata__" object, or NULL
} SafetensorsFile;

// Maps a regular file read-only (its pages are read when first touched and
// never copied); anything else (a pipe, say) is read into memory.
int safetensors_read(SafetensorsFile *f, const char *path, Error *err);
void safetensors_free(SafetensorsFile *f);
const SafetensorsTensor *safetensors_find(const SafetensorsFile *f, const char *name);
// A metadata value, or NULL when absent.
const char *safetensors_metadata(const SafetensorsFile *f, const char *key);

// Writing: collect tensors (the data is not copied until written), then write
// the file atomically (temporary file, fsync, rename).
typedef struct {
    const char *name;
    const char *dtype;
    int rank;
    int64_t shape[SAFETENSORS_MAX_RANK];
    const void *data;
    size_t bytes;
} SafetensorsOutput;

int safetensors_write(const char *path, const SafetensorsOutput *tensors, size_t n,
                      const char *const *metadata_keys, const char *const *metadata_values,
                      size_t n_metadata, Error *err);

#endif
