// POST /api/attention {"text", "target"?}: every attention map of the
// sentence, exactly as `azul attention --format json` prints them (all
// kinds, layers, heads and their means).
// POST /api/explain {"text", "token", "kind"?, "layer"?, "head"?, "target"?}:
// one query's walk-through, the numbers `azul attention --explain` prints.
#include <string.h>

#include "inspect/attention_explain.h"
#include "inspect/attention_render.h"
#include "serve/api_requests.h"

// The maps of the request's text (translated greedily, or its "target"
// teacher-forced); false with the reply made when they cannot be.
static bool request_maps(const Api *api, const cJSON *request, AttentionMaps *maps, const char **text,
                         Reply *reply) {
    const char *target = NULL;
    if (!request_string(request, "text", true, text, reply) ||
        !request_string(request, "target", false, &target, reply)) {
        return false;
    }
    Error err;
    const double deadline = request_deadline(api);
    if (attention_maps_compute_until(maps, api->translator, *text, target, deadline, &err) < 0) {
        reply_search_failed(reply, api, deadline, 400, err.message);
        return false;
    }
    return true;
}

// What /api/attention sends: every kind, layer and head and the heads' mean.
static size_t weights_of_every_map(const AttentionMaps *maps) {
    size_t n = 0;
    for (int k = 0; k < ATTENTION_KINDS; k++) {
        n += (size_t)maps->n_layers[k] * (size_t)(maps->H + 1) * (size_t)attention_rows(maps, (AttentionKind)k) *
             (size_t)attention_cols(maps, (AttentionKind)k);
    }
    return n;
}

void answer_attention(const Api *api, const char *body, size_t length, Reply *reply) {
    cJSON *request = request_parse(body, length, reply);
    if (!request) return;
    AttentionMaps maps;
    const char *text;
    if (request_maps(api, request, &maps, &text, reply)) {
        const size_t weights = weights_of_every_map(&maps);
        if (weights > API_MAX_ATTENTION_WEIGHTS) {
            reply_error(reply, 400, "the attention maps of this sentence hold %zu weights, over this server's "
                                    "limit of %d a reply; try a shorter sentence, or azul attention", weights,
                        API_MAX_ATTENTION_WEIGHTS);
        } else {
            const AttentionSelection every = {7u, LAYER_ALL, HEAD_ALL_AND_MEAN};  // --format json's default
            reply_json(reply, 200, attention_json(&maps, &every, text));
        }
        attention_maps_free(&maps);
    }
    cJSON_Delete(request);
}

// "kind" (default cross), "layer" (default the last) and "head" (default 0)
// of the explanation, within the model's; false with a 400 reply.
static bool explain_where(const cJSON *request, const AttentionMaps *maps, AttentionKind *kind,
                          int *layer, int *head, Reply *reply) {
    const char *name = "cross";
    if (!request_string(request, "kind", false, &name, reply)) return false;
    *kind = ATTENTION_KINDS;
    for (int k = 0; k < ATTENTION_KINDS; k++) {
        if (strcmp(name, attention_kind_name((AttentionKind)k)) == 0) *kind = (AttentionKind)k;
    }
    if (*kind == ATTENTION_KINDS) {
        reply_error(reply, 400, "\"kind\" must be \"encoder\", \"decoder\" or \"cross\"");
        return false;
    }
    *layer = maps->n_layers[*kind] - 1;
    *head = 0;
    return request_int(request, "layer", 0, maps->n_layers[*kind] - 1, layer, reply) &&
           request_int(request, "head", 0, maps->H - 1, head, reply);
}

static void explain(const cJSON *request, const AttentionMaps *maps, const char *text, Reply *reply) {
    AttentionKind kind;
    int layer, head;
    const char *token;
    if (!explain_where(request, maps, &kind, &layer, &head, reply) ||
        !request_string(request, "token", true, &token, reply)) {
        return;
    }
    int row = attention_find_query(maps, kind, token);
    if (row < 0) {
        reply_error(reply, 400, "no query token \"%.100s\" in %s attention (give its text, or #N for row N)",
                    token, attention_kind_name(kind));
        return;
    }
    Explanation e;
    Error err;
    if (attention_explain_compute(&e, maps, kind, layer, head, row, &err) < 0) {
        reply_error(reply, 500, "%s", err.message);
        return;
    }
    cJSON *json = explanation_json(&e);
    explanation_free(&e);
    if (json && (!cJSON_AddStringToObject(json, "source", text) ||
                 !cJSON_AddStringToObject(json, "translation", maps->translation))) {
        cJSON_Delete(json);
        json = NULL;
    }
    reply_json(reply, 200, json);
}

void answer_explain(const Api *api, const char *body, size_t length, Reply *reply) {
    cJSON *request = request_parse(body, length, reply);
    if (!request) return;
    AttentionMaps maps;
    const char *text;
    if (request_maps(api, request, &maps, &text, reply)) {
        explain(request, &maps, text, reply);
        attention_maps_free(&maps);
    }
    cJSON_Delete(request);
}
