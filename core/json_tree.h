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

#include "core/error.h"

// Adds item to array; false, with item deleted, when item is NULL (its
// constructor failed) or adding it fails.
bool json_append(cJSON *array, cJSON *item);

// Adds item to object under name, likewise.
bool json_attach(cJSON *object, const char *name, cJSON *item);

// An array of the n strings, or NULL when memory runs out.
cJSON *json_string_array(char *const *strings, size_t n);

// ---------------------------------------------------------------- reading

// Reading untrusted JSON.  cJSON makes one node (some 80 bytes with malloc's
// overhead, plus a copy of each key) per value, so that a file allowed by a
// byte limit alone multiplies by about 40 in memory: 100 MiB of "[0,0,0,..."
// become 4 GB of nodes before any check on what they mean.  Each reader
// therefore bounds the values first, from what a legitimate file of its kind
// can hold, in one pass over the text that allocates nothing.

// The deepest nesting of arrays and objects read.  azul's formats nest at
// most 4 deep (a tokenizer pair's merges); cJSON's own limit is 1,000.
enum { JSON_MAX_DEPTH = 64 };

// The values in an object of named settings: a model's config, a run's saved
// options and progress, a line of train.log.  They hold dozens.
enum { JSON_MAX_SETTINGS_VALUES = 10000 };

// An upper bound on the values cJSON would make from length bytes of text
// (one for the whole, one per '[' or '{', one per ',' outside strings: every
// value but the first of an array or object follows a comma), counting no
// further than stop_after + 1; *depth receives the deepest nesting.  Text
// that is not JSON is counted as well as it can be: cJSON stops at its
// first error, having made no more nodes than that prefix counts.
size_t json_count_values(const char *text, size_t length, size_t stop_after, int *depth);

// Fails, with err saying "<what> holds more than the limit of N JSON values"
// (or nests deeper than JSON_MAX_DEPTH), when cJSON would build more than
// max_values values from the text.
int json_check_size(const char *text, size_t length, size_t max_values, const char *what,
                    Error *err);

// Parses length bytes of text (no NUL needed) after json_check_size; NULL,
// with err set ("<what> is not valid JSON" when cJSON refuses it, which it
// also does when memory runs out), on failure.
cJSON *json_parse_bounded(const char *text, size_t length, size_t max_values, const char *what,
                          Error *err);

#endif
