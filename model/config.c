#include "model/config.h"

#include <string.h>

typedef struct {
    const char *name;
    int d_model, n_heads, n_encoder_layers, n_decoder_layers, d_ff;
} Preset;

static const Preset presets[] = {
    {"toy", 64, 4, 2, 2, 256},
    {"small", 256, 8, 3, 3, 1024},
    {"base", 512, 8, 6, 6, 2048},
};

int model_config_preset(ModelConfig *c, const char *name, Error *err) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        c->d_model = presets[i].d_model;
        c->n_heads = presets[i].n_heads;
        c->n_encoder_layers = presets[i].n_encoder_layers;
        c->n_decoder_layers = presets[i].n_decoder_layers;
        c->d_ff = presets[i].d_ff;
        if (c->max_len == 0) c->max_len = 128;
        return 0;
    }
    return error_set(err, "unknown preset '%s' (toy, small or base)", name);
}

int model_config_head_size(const ModelConfig *c) { return c->d_model / c->n_heads; }

double model_config_sentence_bytes(const ModelConfig *c) {
    const double L = c->max_len, H = c->n_heads;
    return sizeof(float) * (2.0 * H * L * L + L * (8.0 * c->d_model + c->d_ff + c->tgt_vocab));
}

int model_config_check(const ModelConfig *c, Error *err) {
    struct { const char *name; int value, min, max; } sizes[] = {
        {"src_vocab", c->src_vocab, 5, 1 << 22},      {"tgt_vocab", c->tgt_vocab, 5, 1 << 22},
        {"d_model", c->d_model, 1, 1 << 14},          {"n_heads", c->n_heads, 1, 1 << 10},
        {"n_encoder_layers", c->n_encoder_layers, 1, 256},
        {"n_decoder_layers", c->n_decoder_layers, 1, 256},
        {"d_ff", c->d_ff, 1, 1 << 16},                {"max_len", c->max_len, 2, 1 << 16},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i].value < sizes[i].min || sizes[i].value > sizes[i].max) {
            return error_set(err, "model config: %s = %d is outside %d..%d", sizes[i].name,
                             sizes[i].value, sizes[i].min, sizes[i].max);
        }
    }
    if (c->d_model % c->n_heads != 0) {
        return error_set(err, "model config: d_model %d is not divisible by n_heads %d",
                         c->d_model, c->n_heads);
    }
    if (!(c->dropout >= 0 && c->dropout < 1)) {
        return error_set(err, "model config: dropout %g is outside [0, 1)", (double)c->dropout);
    }
    if (!(c->label_smoothing >= 0 && c->label_smoothing < 1)) {
        return error_set(err, "model config: label_smoothing %g is outside [0, 1)",
                         (double)c->label_smoothing);
    }
    if (c->tie_output && c->tgt_vocab <= 0) return error_set(err, "model config: bad tgt_vocab");
    // Valid sizes can still multiply to absurd memory (one head per channel and
    // 65,536 positions): refused here rather than OOM-killed on a long line.
    const double bytes = model_config_sentence_bytes(c), gib = 1024.0 * 1024.0 * 1024.0;
    if (bytes > MODEL_MAX_SENTENCE_GIB * gib) {
        return error_set(err, "model config: one sentence of max_len %d tokens needs about %.1f GiB "
                              "of activations (%d heads × %d² attention weights, twice); azul refuses "
                              "more than %d GiB: lower max_len or n_heads",
                         c->max_len, bytes / gib, c->n_heads, c->max_len, MODEL_MAX_SENTENCE_GIB);
    }
    return 0;
}

cJSON *model_config_to_json(const ModelConfig *c) {
    cJSON *j = cJSON_CreateObject();
    // each Add returns NULL when memory runs out: a config saved without a
    // field would make the model file unreadable
    bool ok = j && cJSON_AddNumberToObject(j, "src_vocab", c->src_vocab) &&
              cJSON_AddNumberToObject(j, "tgt_vocab", c->tgt_vocab) &&
              cJSON_AddNumberToObject(j, "d_model", c->d_model) &&
              cJSON_AddNumberToObject(j, "n_heads", c->n_heads) &&
              cJSON_AddNumberToObject(j, "n_encoder_layers", c->n_encoder_layers) &&
              cJSON_AddNumberToObject(j, "n_decoder_layers", c->n_decoder_layers) &&
              cJSON_AddNumberToObject(j, "d_ff", c->d_ff) &&
              cJSON_AddNumberToObject(j, "max_len", c->max_len) &&
              cJSON_AddNumberToObject(j, "dropout", c->dropout) &&
              cJSON_AddNumberToObject(j, "label_smoothing", c->label_smoothing) &&
              cJSON_AddBoolToObject(j, "pre_ln", c->pre_ln) &&
              cJSON_AddBoolToObject(j, "tie_output", c->tie_output);
    if (ok) return j;
    cJSON_Delete(j);
    return NULL;
}

static int get_int(const cJSON *j, const char *key, int *out, Error *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, key);
    // the range first: casting a double outside int's range is undefined
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble <= 1e9) ||
        item->valuedouble != (double)(int)item->valuedouble) {
        return error_set(err, "model config: \"%s\" must be a non-negative integer", key);
    }
    *out = (int)item->valuedouble;
    return 0;
}

static int get_float(const cJSON *j, const char *key, float *out, Error *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(item)) return error_set(err, "model config: \"%s\" must be a number", key);
    *out = (float)item->valuedouble;
    return 0;
}

static int get_bool(const cJSON *j, const char *key, bool *out, Error *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsBool(item)) return error_set(err, "model config: \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(item);
    return 0;
}

int model_config_from_json(ModelConfig *c, const cJSON *j, Error *err) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(j)) return error_set(err, "model config is not a JSON object");
    if (get_int(j, "src_vocab", &c->src_vocab, err) || get_int(j, "tgt_vocab", &c->tgt_vocab, err) ||
        get_int(j, "d_model", &c->d_model, err) || get_int(j, "n_heads", &c->n_heads, err) ||
        get_int(j, "n_encoder_layers", &c->n_encoder_layers, err) ||
        get_int(j, "n_decoder_layers", &c->n_decoder_layers, err) ||
        get_int(j, "d_ff", &c->d_ff, err) || get_int(j, "max_len", &c->max_len, err) ||
        get_float(j, "dropout", &c->dropout, err) ||
        get_float(j, "label_smoothing", &c->label_smoothing, err) ||
        get_bool(j, "pre_ln", &c->pre_ln, err) || get_bool(j, "tie_output", &c->tie_output, err)) {
        return -1;
    }
    return model_config_check(c, err);
}
