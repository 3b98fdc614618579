#include "train/checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_tree.h"
#include "model/safetensors.h"

static const char FORMAT[] = "azul-training-state";

// The progress as JSON, or NULL when memory runs out: a state saved with a
// field missing could not be resumed, and it replaces the last good one.
static cJSON *progress_to_json(const TrainingProgress *p) {
    cJSON *progress = cJSON_CreateObject();
    bool ok = progress && cJSON_AddNumberToObject(progress, "step", (double)p->step) &&
              cJSON_AddNumberToObject(progress, "epoch", (double)p->epoch) &&
              cJSON_AddNumberToObject(progress, "batch", (double)p->batch) &&
              // JSON has no infinity: a run not yet validated has no best, written null
              (isfinite(p->best) ? cJSON_AddNumberToObject(progress, "best", p->best) != NULL
                                 : cJSON_AddNullToObject(progress, "best") != NULL) &&
              cJSON_AddNumberToObject(progress, "best_step", (double)p->best_step) &&
              cJSON_AddNumberToObject(progress, "evaluations_without_improvement",
                                      p->evaluations_without_improvement) &&
              cJSON_AddNumberToObject(progress, "elapsed", p->elapsed) &&
              cJSON_AddNumberToObject(progress, "tokens", p->tokens);
    if (ok) return progress;
    cJSON_Delete(progress);
    return NULL;
}

int checkpoint_save(const char *path, const Model *m, const AdamState *adam,
                    const char *tokenizers_json, const TrainingProgress *p,
                    const cJSON *options, Error *err) {
    SafetensorsOutput tensors[3];
    const char *names[3] = {"params", "adam_m", "adam_v"};
    const float *data[3] = {m->params, adam->m, adam->v};
    for (int i = 0; i < 3; i++) {
        tensors[i] = (SafetensorsOutput){names[i], "F32", 1, {(int64_t)m->n_params}, data[i],
                                         m->n_params * sizeof(float)};
    }
    cJSON *progress = progress_to_json(p);
    cJSON *config = model_config_to_json(&m->config);
    char *texts[3] = {config ? cJSON_PrintUnformatted(config) : NULL,
                      progress ? cJSON_PrintUnformatted(progress) : NULL, cJSON_PrintUnformatted(options)};
    cJSON_Delete(config);
    cJSON_Delete(progress);
    const char *keys[] = {"format", "config", "tokenizers", "progress", "options"};
    const char *values[] = {FORMAT, texts[0], tokenizers_json, texts[1], texts[2]};
    int status = texts[0] && texts[1] && texts[2]
                     ? safetensors_write(path, tensors, 3, keys, values, 5, err)
                     : error_out_of_memory(err, "the training state's metadata", 0);
    for (int i = 0; i < 3; i++) cJSON_free(texts[i]);
    return status;
}

static double number(const cJSON *object, const char *key, bool *ok) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble < 0) *ok = false;
    return *ok ? item->valuedouble : 0.0;
}

// A count: a whole number from 0 to max, checked before it is cast (a cast
// of a double out of range is undefined).
static double count(const cJSON *object, const char *key, double max, bool *ok) {
    double x = number(object, key, ok);
    if (x != floor(x) || x > max) *ok = false;
    return *ok ? x : 0.0;
}

// The progress, every field checked against its type and range.
static int read_progress(const cJSON *progress, TrainingProgress *p, Error *err) {
    // 2^53: every whole number up to it is exact as a double, and fits a long.
    const double most = 9007199254740992.0;
    bool ok = true;
    p->step = (long)count(progress, "step", most, &ok);
    p->epoch = (long)count(progress, "epoch", most, &ok);
    p->batch = (long)count(progress, "batch", most, &ok);
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(progress, "best");
    p->best = cJSON_IsNull(best) ? INFINITY : number(progress, "best", &ok);
    p->best_step = (long)count(progress, "best_step", most, &ok);
    p->evaluations_without_improvement = (int)count(progress, "evaluations_without_improvement", INT_MAX, &ok);
    p->elapsed = number(progress, "elapsed", &ok);
    p->tokens = number(progress, "tokens", &ok);
    if (!ok || p->best_step > p->step) return error_set(err, "\"progress\" is damaged");
    return 0;
}

// Copies the tensor `name` into target (n floats): a flat F32 vector of
// exactly the model's size, every value finite (and, for the second
// moment, not negative: its square root divides the update).
static int read_vector(const SafetensorsFile *f, const char *name, float *target, size_t n,
                       bool non_negative, Error *err) {
    const SafetensorsTensor *t = safetensors_find(f, name);
    if (!t || strcmp(t->dtype, "F32") != 0 || t->rank != 1 || t->shape[0] != (int64_t)n ||
        t->bytes != n * sizeof(float)) {
        return error_set(err, "tensor \"%s\" is missing or not of the model's shape (%zu floats)", name, n);
    }
    memcpy(target, t->data, t->bytes);
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(target[k])) {
            return error_set(err, "tensor \"%s\" holds a NaN or infinite value at %zu", name, k);
        }
        if (non_negative && target[k] < 0) {
            return error_set(err, "tensor \"%s\" holds a negative value at %zu", name, k);
        }
    }
    return 0;
}

// A metadata value parsed, as long as it holds at most max_values JSON
// values; NULL with err set when it is missing, larger or not JSON.
static cJSON *parse_metadata(const SafetensorsFile *f, const char *key, size_t max_values, Error *err) {
    const char *text = safetensors_metadata(f, key);
    char what[64];
    snprintf(what, sizeof what, "metadata \"%s\"", key);
    if (!text) {
        error_set(err, "%s is missing", what);
        return NULL;
    }
    return json_parse_bounded(text, strlen(text), max_values, what, err);
}

int checkpoint_load(const char *path, Model *m, AdamState *adam, TokenizerPair *tokenizers,
                    TrainingProgress *p, cJSON **options, Error *err) {
    memset(m, 0, sizeof *m);
    memset(adam, 0, sizeof *adam);
    memset(tokenizers, 0, sizeof *tokenizers);
    *options = NULL;
    SafetensorsFile f;
    if (safetensors_read(&f, path, err) < 0) return -1;
    Error inner;
    const char *format = safetensors_metadata(&f, "format");
    cJSON *config_json = NULL, *progress = NULL;
    int status = -1;
    if (!format || strcmp(format, FORMAT) != 0) {
        error_set(&inner, "not an azul training state");
        goto fail;
    }
    if (!(config_json = parse_metadata(&f, "config", JSON_MAX_SETTINGS_VALUES, &inner)) ||
        !(progress = parse_metadata(&f, "progress", JSON_MAX_SETTINGS_VALUES, &inner)) ||
        !(*options = parse_metadata(&f, "options", JSON_MAX_SETTINGS_VALUES, &inner))) {
        goto fail;
    }
    if (!cJSON_IsObject(*options)) {
        error_set(&inner, "metadata \"options\" is not a JSON object");
        goto fail;
    }
    ModelConfig config;
    if (model_config_from_json(&config, config_json, &inner) < 0) goto fail;
    if (model_parameter_count(&config) > f.size / sizeof(float)) {
        error_set(&inner, "the config is larger than the file");
        goto fail;
    }
    if (model_build(m, &config, 0, &inner) < 0 || adam_state_build(adam, m, &inner) < 0) goto fail;
    if (read_vector(&f, "params", m->params, m->n_params, false, &inner) < 0 ||
        read_vector(&f, "adam_m", adam->m, m->n_params, false, &inner) < 0 ||
        read_vector(&f, "adam_v", adam->v, m->n_params, true, &inner) < 0) {
        goto fail;
    }
    // parsed only now that the config says how many values they can need
    const char *tokenizers_text = safetensors_metadata(&f, "tokenizers");
    if (!tokenizers_text) {
        error_set(&inner, "metadata \"tokenizers\" is missing");
        goto fail;
    }
    if (tokenizer_pair_from_text(tokenizers, tokenizers_text,
                                 tokenizer_pair_max_json_values(config.src_vocab, config.tgt_vocab),
                                 &inner) < 0) {
        goto fail;
    }
    if (tokenizer_pair_check_sizes(tokenizers, config.src_vocab, config.tgt_vocab, &inner) < 0) goto fail;
    if (read_progress(progress, p, &inner) < 0) goto fail;
    status = 0;
fail:
    cJSON_Delete(config_json);
    cJSON_Delete(progress);
    safetensors_free(&f);
    if (status < 0) {
        model_free(m);
        adam_state_free(adam);
        tokenizer_pair_free(tokenizers);
        cJSON_Delete(*options);
        *options = NULL;
        return error_set(err, "%s: %s", path, inner.message);
    }
    return 0;
}
