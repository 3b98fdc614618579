#include "model/model_file.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_ds.h>

#include "core/json_tree.h"
#include "model/safetensors.h"

static const char FORMAT_NAME[] = "azul-model";
static const char FORMAT_VERSION[] = "1";

char *model_file_path(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    char *out = malloc(n + sizeof "/model.safetensors");
    if (!out) return NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, n + sizeof "/model.safetensors", "%s/model.safetensors", path);
    } else {
        memcpy(out, path, n + 1);
    }
    return out;
}

int model_save(const Model *m, const ModelMetadata *meta, const char *path, Error *err) {
    size_t n = (size_t)arrlen(m->tensors);
    SafetensorsOutput *out = calloc(n ? n : 1, sizeof *out);
    if (!out) return error_out_of_memory(err, "saving the model", n * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const TensorInfo *t = &m->tensors[i];
        out[i].name = t->name;
        out[i].dtype = "F32";
        out[i].rank = t->ndim;
        out[i].shape[0] = t->shape[0];
        out[i].shape[1] = t->shape[1];
        out[i].data = t->data;
        out[i].bytes = t->size * sizeof(float);
    }
    cJSON *config = model_config_to_json(&m->config);
    char *config_text = config ? cJSON_PrintUnformatted(config) : NULL;
    cJSON_Delete(config);
    int status;
    if (!config_text) {
        status = error_out_of_memory(err, "saving the model's config", 0);
    } else {
        const char *keys[6] = {"format", "format_version", "config"};
        const char *values[6] = {FORMAT_NAME, FORMAT_VERSION, config_text};
        size_t entries = 3;
        const ModelMetadata none = {0}, *given = meta ? meta : &none;
        if (given->tokenizers) keys[entries] = "tokenizers", values[entries++] = given->tokenizers;
        if (given->training) keys[entries] = "training", values[entries++] = given->training;
        if (given->decoding) keys[entries] = "decoding", values[entries++] = given->decoding;
        status = safetensors_write(path, out, n, keys, values, entries, err);
    }
    cJSON_free(config_text);
    free(out);
    return status;
}

// What model_load reads the weights through.
typedef struct {
    const SafetensorsFile *file;
    bool copy;          // the file's floats are not 4-byte aligned: copy them out
    float *copies;      // then here, in table order
} Loading;

// The tensor the table wants, checked against the file: present, F32, the
// config's shape, finite.
static const float *find_weights(void *context, const TensorInfo *t, Error *err) {
    Loading *l = context;
    const SafetensorsTensor *s = safetensors_find(l->file, t->name);
    if (!s) {
        error_set(err, "tensor \"%s\" is missing", t->name);
        return NULL;
    }
    bool shape_ok = strcmp(s->dtype, "F32") == 0 && s->rank == t->ndim &&
                    s->shape[0] == t->shape[0] && (t->ndim == 1 || s->shape[1] == t->shape[1]);
    if (!shape_ok) {
        if (t->ndim == 2) {
            error_set(err, "tensor \"%s\" should be F32 of shape [%d, %d], as the config says",
                      t->name, t->shape[0], t->shape[1]);
        } else {
            error_set(err, "tensor \"%s\" should be F32 of shape [%d], as the config says", t->name,
                      t->shape[0]);
        }
        return NULL;
    }
    const float *data = s->data;
    if (l->copy) {
        memcpy(l->copies + t->offset, s->data, s->bytes);
        data = l->copies + t->offset;
    }
    for (size_t k = 0; k < t->size; k++) {
        if (!isfinite(data[k])) {
            error_set(err, "tensor \"%s\" holds a NaN or infinite value", t->name);
            return NULL;
        }
    }
    return data;
}

static int check_metadata(const SafetensorsFile *f, ModelConfig *config, Error *err) {
    const char *format = safetensors_metadata(f, "format");
    const char *version = safetensors_metadata(f, "format_version");
    const char *config_text = safetensors_metadata(f, "config");
    if (!format || strcmp(format, FORMAT_NAME) != 0) {
        return error_set(err, "not an azul model (metadata \"format\" is not \"azul-model\")");
    }
    if (!version || strcmp(version, FORMAT_VERSION) != 0) {
        return error_set(err, "model format version %s is not supported (this azul reads %s)",
                         version ? version : "(none)", FORMAT_VERSION);
    }
    if (!config_text) return error_set(err, "metadata \"config\" is missing");
    cJSON *config_json = json_parse_bounded(config_text, strlen(config_text), JSON_MAX_SETTINGS_VALUES,
                                            "metadata \"config\"", err);
    int status = config_json ? model_config_from_json(config, config_json, err) : -1;
    cJSON_Delete(config_json);
    if (status < 0) return -1;
    // A hostile config must not make us allocate more than the file could hold.
    if (model_parameter_count(config) > f->size / sizeof(float)) {
        return error_set(err, "the config implies %zu parameters, more than the file's %zu bytes hold",
                         model_parameter_count(config), f->size);
    }
    return 0;
}

// Every tensor of the file must be one the config implies.
static int check_no_strangers(const SafetensorsFile *f, const Model *m, Error *err) {
    for (ptrdiff_t i = 0; i < arrlen(f->tensors); i++) {
        if (!model_find_tensor(m, f->tensors[i].name)) {
            return error_set(err, "unexpected tensor \"%s\" (not part of this config)",
                             f->tensors[i].name);
        }
    }
    return 0;
}

static bool all_aligned(const SafetensorsFile *f) {
    for (ptrdiff_t i = 0; i < arrlen(f->tensors); i++) {
        if ((uintptr_t)f->tensors[i].data % _Alignof(float) != 0) return false;
    }
    return true;
}

int model_load(Model *m, char **tokenizers_json, const char *given_path, Error *err) {
    memset(m, 0, sizeof *m);
    if (tokenizers_json) *tokenizers_json = NULL;
    char *path = model_file_path(given_path);
    if (!path) return error_out_of_memory(err, "a file name", strlen(given_path));
    SafetensorsFile *f = calloc(1, sizeof *f);
    Error inner;
    ModelConfig config;
    Loading loading = {f, false, NULL};
    int status = f ? safetensors_read(f, path, err) : error_out_of_memory(err, "loading", sizeof *f);
    if (status < 0) goto failed_to_read;  // err already names the file
    status = check_metadata(f, &config, &inner);
    if (status == 0 && !all_aligned(f)) {
        // A file from elsewhere whose floats are not aligned: read it into memory.
        loading.copy = true;
        loading.copies = malloc(model_parameter_count(&config) * sizeof(float) + 1);
        if (!loading.copies) status = error_out_of_memory(&inner, "the weights", f->size);
    }
    if (status == 0) status = model_build_from(m, &config, find_weights, &loading, &inner);
    if (status == 0) status = check_no_strangers(f, m, &inner);
    if (status == 0 && tokenizers_json) {
        const char *text = safetensors_metadata(f, "tokenizers");
        if (text && !(*tokenizers_json = strdup(text))) {
            status = error_out_of_memory(&inner, "the tokenizers", strlen(text));
        }
    }
    if (status < 0) {
        error_set(err, "%s: %s", path, inner.message);
        model_free(m);
        free(loading.copies);
        if (tokenizers_json) {
            free(*tokenizers_json);
            *tokenizers_json = NULL;
        }
        goto failed_to_read;
    }
    m->params = loading.copies;  // NULL when the weights live in the mapped file
    m->file = f;
    free(path);
    return 0;
failed_to_read:
    if (f) safetensors_free(f);
    free(f);
    free(path);
    return -1;
}
