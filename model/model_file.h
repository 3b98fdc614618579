// The model file: one self-contained model.safetensors holding the weights,
// with the model config and both tokenizers in the header's __metadata__,
// so that the file alone can translate.
//
//   __metadata__: {"format": "azul-model", "format_version": "1",
//                  "config": "{...}", "tokenizers": "{...}"}
//   tensors:      one F32 tensor per entry of the model's tensor table
#ifndef AZUL_MODEL_FILE_H
#define AZUL_MODEL_FILE_H

#include "model/transformer.h"
#include "tokenizer/tokenizer_pair.h"

// Writes atomically: a crash leaves the previous file or the new one.
// tokenizers may be NULL (a bare network, as the tests use).
int model_save(const Model *m, const TokenizerPair *tokenizers, const char *path, Error *err);

// Reads path, or path/model.safetensors when path is a directory, builds m
// from the stored config and fills tokenizers (unless NULL).  Every field is
// checked: a truncated, corrupted or mis-shaped file is refused with a
// message naming what is wrong, and nothing is left allocated.
int model_load(Model *m, TokenizerPair *tokenizers, const char *path, Error *err);

// path itself, or path/model.safetensors for a directory (malloc'd).
char *model_file_path(const char *path);

#endif
