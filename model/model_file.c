#include "model/model_file.h"
#include "cli/report.h"  // TODO(layers): die() goes

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_ds.h>

#include "model/safetensors.h"

static const char FORMAT_NAME[] = "azul-model";
static const char FORMAT_VERSION[] = "1";

char *model_file_path(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    char *out = malloc(n + sizeof "/model.safetensors");
    if (!out) die("out of memory");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, n + sizeof "/model.safetensors", "%s/model.safetensors", path);
    } else {
        memcpy(out, path, n + 1);
    }
    return out;
}

int model_save(const Model *m, const TokenizerPair *tokenizers, const char *path, Error *err) {
    size_t n = (size_t)arrlen(m->tensors);
    SafetensorsOutput *out = calloc(n ? n : 1, sizeof *out);
    if (!out) die("out of memory");
    for (size_t i = 0; i < n; i++) {
        const TensorInfo *t = &m->tensors[i];
        out[i].name = t->name;
        out[i].dtype = "F32";
        out[i].rank = t->ndim;
        out[i].shape[0] = t->shape[0];
        out[i].shape[1] = t->shape[1];
        out[i].data = m->params + t->offset;
        out[i].bytes = t->size * sizeof(float);
    }
    cJSON *config = model_config_to_json(&m->config);
    char *config_text = cJSON_PrintUnformatted(config);
    cJSON_Delete(config);
    char *tokenizer_text = NULL;
    if (tokenizers) {
        cJSON *json = tokenizer_pair_to_json(tokenizers);
        tokenizer_text = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
    }
    const char *keys[] = {"format", "format_version", "config", "tokenizers"};
    const char *values[] = {FORMAT_NAME, FORMAT_VERSION, config_text, tokenizer_text};
    int status = safetensors_write(path, out, n, keys, values, tokenizers ? 4 : 3, err);
    cJSON_free(config_text);
    cJSON_free(tokenizer_text);
    free(out);
    return status;
}

static int refuse(SafetensorsFile *f, Model *m, TokenizerPair *tokenizers, Error *err,
                  const char *path, const char *message) {
    Error copy;
    error_set(&copy, "%s: %s", path, message);
    safetensors_free(f);
    model_free(m);
    if (tokenizers) tokenizer_pair_free(tokenizers);
    return error_set(err, "%s", copy.message);
}

int model_load(Model *m, TokenizerPair *tokenizers, const char *given_path, Error *err) {
    memset(m, 0, sizeof *m);
    if (tokenizers) memset(tokenizers, 0, sizeof *tokenizers);
    char *path = model_file_path(given_path);
    SafetensorsFile f;
    if (safetensors_read(&f, path, err) < 0) {
        free(path);
        return -1;
    }
    char message[1024];
    int status = -1;
    const char *format = safetensors_metadata(&f, "format");
    const char *version = safetensors_metadata(&f, "format_version");
    const char *config_text = safetensors_metadata(&f, "config");
    if (!format || strcmp(format, FORMAT_NAME) != 0) {
        status = refuse(&f, m, tokenizers, err, path, "not an azul model (metadata \"format\" is not \"azul-model\")");
        goto done;
    }
    if (!version || strcmp(version, FORMAT_VERSION) != 0) {
        snprintf(message, sizeof message, "model format version %s is not supported (this azul reads %s)",
                 version ? version : "(none)", FORMAT_VERSION);
        status = refuse(&f, m, tokenizers, err, path, message);
        goto done;
    }
    ModelConfig config;
    cJSON *config_json = config_text ? cJSON_Parse(config_text) : NULL;
    Error inner;
    int config_status = config_json ? model_config_from_json(&config, config_json, &inner)
                                    : error_set(&inner, "metadata \"config\" is missing or not JSON");
    cJSON_Delete(config_json);
    if (config_status < 0) {
        status = refuse(&f, m, tokenizers, err, path, inner.message);
        goto done;
    }
    // A hostile config must not make us allocate more than the file could hold.
    if (model_parameter_count(&config) > f.size / sizeof(float)) {
        snprintf(message, sizeof message, "the config implies %zu parameters, more than the file's %zu bytes hold",
                 model_parameter_count(&config), f.size);
        status = refuse(&f, m, tokenizers, err, path, message);
        goto done;
    }
    if (model_build(m, &config, 0, &inner) < 0) {
        status = refuse(&f, m, tokenizers, err, path, inner.message);
        goto done;
    }

    // Every tensor the config implies must be there with its exact shape, and
    // nothing else may be.
    for (ptrdiff_t i = 0; i < arrlen(m->tensors); i++) {
        const TensorInfo *t = &m->tensors[i];
        const SafetensorsTensor *s = safetensors_find(&f, t->name);
        if (!s) {
            snprintf(message, sizeof message, "tensor \"%s\" is missing", t->name);
            status = refuse(&f, m, tokenizers, err, path, message);
            goto done;
        }
        bool shape_ok = strcmp(s->dtype, "F32") == 0 && s->rank == t->ndim &&
                        s->shape[0] == t->shape[0] && (t->ndim == 1 || s->shape[1] == t->shape[1]);
        if (!shape_ok) {
            char shape[48];
            if (t->ndim == 2) snprintf(shape, sizeof shape, "[%d, %d]", t->shape[0], t->shape[1]);
            else snprintf(shape, sizeof shape, "[%d]", t->shape[0]);
            snprintf(message, sizeof message, "tensor \"%s\" should be F32 of shape %s, as the config says",
                     t->name, shape);
            status = refuse(&f, m, tokenizers, err, path, message);
            goto done;
        }
        memcpy(m->params + t->offset, s->data, t->size * sizeof(float));
        for (size_t k = 0; k < t->size; k++) {
            if (!isfinite(m->params[t->offset + k])) {
                snprintf(message, sizeof message, "tensor \"%s\" holds a NaN or infinite value", t->name);
                status = refuse(&f, m, tokenizers, err, path, message);
                goto done;
            }
        }
    }
    for (ptrdiff_t i = 0; i < arrlen(f.tensors); i++) {
        if (!model_find_tensor(m, f.tensors[i].name)) {
            snprintf(message, sizeof message, "unexpected tensor \"%s\" (not part of this config)",
                     f.tensors[i].name);
            status = refuse(&f, m, tokenizers, err, path, message);
            goto done;
        }
    }

    if (tokenizers) {
        const char *text = safetensors_metadata(&f, "tokenizers");
        cJSON *json = text ? cJSON_Parse(text) : NULL;
        int ok = json ? tokenizer_pair_from_json(tokenizers, json, &inner)
                      : error_set(&inner, "metadata \"tokenizers\" is missing or not JSON");
        cJSON_Delete(json);
        if (ok < 0) {
            status = refuse(&f, m, NULL, err, path, inner.message);
            goto done;
        }
        if ((int)tokenizer_vocab_size(&tokenizers->source) != config.src_vocab ||
            (int)tokenizer_vocab_size(&tokenizers->target) != config.tgt_vocab) {
            status = refuse(&f, m, tokenizers, err, path,
                            "the tokenizers' vocabulary sizes differ from the config's");
            goto done;
        }
    }
    safetensors_free(&f);
    status = 0;
done:
    free(path);
    return status;
}
