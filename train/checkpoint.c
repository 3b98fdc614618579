#include "train/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

static const char FORMAT[] = "azul-training-state";

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
    cJSON *progress = cJSON_CreateObject();
    cJSON_AddNumberToObject(progress, "step", (double)p->step);
    cJSON_AddNumberToObject(progress, "epoch", (double)p->epoch);
    cJSON_AddNumberToObject(progress, "batch", (double)p->batch);
    // JSON has no infinity: a run not yet validated has no best, written null
    if (isfinite(p->best)) cJSON_AddNumberToObject(progress, "best", p->best);
    else cJSON_AddNullToObject(progress, "best");
    cJSON_AddNumberToObject(progress, "best_step", (double)p->best_step);
    cJSON_AddNumberToObject(progress, "evaluations_without_improvement",
                            p->evaluations_without_improvement);
    cJSON_AddNumberToObject(progress, "elapsed", p->elapsed);
    cJSON_AddNumberToObject(progress, "tokens", p->tokens);
    cJSON *config = model_config_to_json(&m->config);
    char *texts[3] = {cJSON_PrintUnformatted(config), cJSON_PrintUnformatted(progress),
                      cJSON_PrintUnformatted(options)};
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
    if (!cJSON_IsNumber(item)) *ok = false;
    return cJSON_IsNumber(item) ? item->valuedouble : 0.0;
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
    cJSON *config_json = NULL, *tok_json = NULL, *progress = NULL;
    int status = -1;
    if (!format || strcmp(format, FORMAT) != 0) {
        error_set(&inner, "not an azul training state");
        goto fail;
    }
    config_json = cJSON_Parse(safetensors_metadata(&f, "config") ? safetensors_metadata(&f, "config") : "");
    tok_json = cJSON_Parse(safetensors_metadata(&f, "tokenizers") ? safetensors_metadata(&f, "tokenizers") : "");
    progress = cJSON_Parse(safetensors_metadata(&f, "progress") ? safetensors_metadata(&f, "progress") : "");
    *options = cJSON_Parse(safetensors_metadata(&f, "options") ? safetensors_metadata(&f, "options") : "");
    if (!config_json || !tok_json || !progress || !cJSON_IsObject(*options)) {
        error_set(&inner, "metadata is missing or damaged");
        goto fail;
    }
    ModelConfig config;
    if (model_config_from_json(&config, config_json, &inner) < 0) goto fail;
    if (model_parameter_count(&config) > f.size / sizeof(float)) {
        error_set(&inner, "the config is larger than the file");
        goto fail;
    }
    if (model_build(m, &config, 0, &inner) < 0 || adam_state_build(adam, m, &inner) < 0) goto fail;
    float *targets[3] = {m->params, adam->m, adam->v};
    const char *names[3] = {"params", "adam_m", "adam_v"};
    for (int i = 0; i < 3; i++) {
        const SafetensorsTensor *t = safetensors_find(&f, names[i]);
        if (!t || strcmp(t->dtype, "F32") != 0 || t->bytes != m->n_params * sizeof(float)) {
            error_set(&inner, "tensor \"%s\" is missing or of the wrong size", names[i]);
            goto fail;
        }
        memcpy(targets[i], t->data, t->bytes);
        for (size_t k = 0; k < m->n_params; k++) {
            if (!isfinite(targets[i][k])) {
                error_set(&inner, "tensor \"%s\" holds a NaN or infinite value", names[i]);
                goto fail;
            }
        }
    }
    if (tokenizer_pair_from_json(tokenizers, tok_json, &inner) < 0) goto fail;
    if (tokenizer_pair_check_sizes(tokenizers, config.src_vocab, config.tgt_vocab, &inner) < 0) goto fail;
    bool ok = true;
    p->step = (long)number(progress, "step", &ok);
    p->epoch = (long)number(progress, "epoch", &ok);
    p->batch = (long)number(progress, "batch", &ok);
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(progress, "best");
    p->best = cJSON_IsNull(best) ? INFINITY : number(progress, "best", &ok);
    p->best_step = (long)number(progress, "best_step", &ok);
    p->evaluations_without_improvement = (int)number(progress, "evaluations_without_improvement", &ok);
    p->elapsed = number(progress, "elapsed", &ok);
    p->tokens = number(progress, "tokens", &ok);
    if (!ok || p->step < 0 || p->epoch < 0 || p->batch < 0) {
        error_set(&inner, "\"progress\" is damaged");
        goto fail;
    }
    status = 0;
fail:
    cJSON_Delete(config_json);
    cJSON_Delete(tok_json);
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
