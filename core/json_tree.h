// Building cJSON trees when any allocation may fail.  cJSON's constructors
// return NULL when memory runs out, and adding NULL to a tree quietly does
// nothing: a tree built without checking each step comes out incomplete (a
// saved tokenizer missing tokens, an attention file missing rows) and is
// written as if whole.  These add and say whether it worked.
#ifndef AZUL_JSON_TREE_H
#define AZUL_JSON_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

// Adds item to array; false, with item deleted, when item is NULL (its
// constructor failed) or adding it fails.
bool json_append(cJSON *array, cJSON *item);

// Adds item to object under name, likewise.
bool json_attach(cJSON *object, const char *name, cJSON *item);

// An array of the n strings, or NULL when memory runs out.
cJSON *json_string_array(char *const *strings, size_t n);

#endif
