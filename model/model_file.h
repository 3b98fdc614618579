// The model file: one self-contained model.safetensors holding the weights,
// with the model config and both tokenizers in the header's __metadata__,
// so that the file alone can translate.
//
//   __metadata__: {"format": "azul-model", "format_version": "1",
//                  "config": "{...}", "tokenizers": "{...}", "training": "{...}",
//                  "decoding": "{...}"}
//   tensors:      one F32 tensor per entry of the model's tensor table
//
// The network does not read text, so to this layer the tokenizers are an
// opaque JSON string that whoever translates (infer/translator.h) parses.
#ifndef AZUL_MODEL_FILE_H
#define AZUL_MODEL_FILE_H

#include "model/transformer.h"

// What a model file holds beside the network, each a JSON text or NULL:
// the tokenizers (NULL: a bare network, as the tests use); how it was
// trained (the options of its run, as azul train chose them); how to
// decode with it (the length penalty chosen on dev).
typedef struct {
    const char *tokenizers, *training, *decoding;
} ModelMetadata;

// Writes atomically: a crash leaves the previous file or the new one.
// meta may be NULL.
int model_save(const Model *m, const ModelMetadata *meta, const char *path, Error *err);

// Reads path, or path/model.safetensors when path is a directory, and builds m
// from the stored config with its weights read in place from the mapped file
// (nothing is copied; the file stays mapped until model_free).  Gives the
// tokenizers' JSON text (malloc'd, NULL when the file has none) unless
// tokenizers_json is NULL.  Every field is checked: a truncated, corrupted or
// mis-shaped file is refused with a message naming what is wrong, and
// nothing is left allocated.
int model_load(Model *m, char **tokenizers_json, const char *path, Error *err);

// path itself, or path/model.safetensors for a directory (malloc'd; NULL when
// out of memory).
char *model_file_path(const char *path);

#endif
