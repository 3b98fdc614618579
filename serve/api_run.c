// What the playground shows of the run behind the model, read afresh at
// each request (a run may still be writing them):
//   GET /api/history  DIR/attention_history.json, as it is
//   GET /api/curves   {"train_loss": [[step, loss]], "valid_loss": [[step, loss]],
//                      "bleu": [[step, BLEU]]} from DIR/train.log
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "core/json_tree.h"
#include "inspect/attention_history.h"
#include "serve/api_requests.h"
#include "train/training_log.h"

// DIR/name into path; false with a 404 reply when the model has no run
// directory or the file is not there.
static bool run_file(const Api *api, const char *name, const char *what, char *path, size_t size,
                     Reply *reply) {
    if (!api->run_dir || snprintf(path, size, "%s/%s", api->run_dir, name) >= (int)size) {
        reply_error(reply, 404, "this model has no run directory beside it, so no %s", what);
        return false;
    }
    return true;
}

void answer_history(const Api *api, const char *body, size_t length, Reply *reply) {
    (void)body;
    (void)length;
    char path[4096];
    if (!run_file(api, ATTENTION_HISTORY_FILE, "attention history", path, sizeof path, reply)) return;
    if (access(path, F_OK) != 0) {
        reply_error(reply, 404, "this run has no attention history yet (azul train records one at each "
                                "validation, of its --watch sentences)");
        return;
    }
    Error err;
    cJSON *history = attention_history_load(path, &err);  // checked: the page trusts its shape
    if (!history) {
        reply_error(reply, 500, "%s", err.message);
        return;
    }
    reply_json(reply, 200, history);
}

// [[step, value], ...]; NULL when memory runs out.
static cJSON *points_json(const CurvePoint *points) {
    cJSON *list = cJSON_CreateArray();
    for (ptrdiff_t i = 0; list && i < arrlen(points); i++) {
        const double pair[2] = {points[i].step, points[i].value};
        if (!json_append(list, cJSON_CreateDoubleArray(pair, 2))) {
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}

void answer_curves(const Api *api, const char *body, size_t length, Reply *reply) {
    (void)body;
    (void)length;
    char path[4096];
    if (!run_file(api, "train.log", "training curves", path, sizeof path, reply)) return;
    if (access(path, F_OK) != 0) {
        reply_error(reply, 404, "this run has no train.log");
        return;
    }
    TrainingCurves c;
    Error err;
    if (training_curves_read(&c, path, &err) < 0) {
        reply_error(reply, 500, "%s", err.message);
        return;
    }
    cJSON *json = cJSON_CreateObject();
    bool ok = json && json_attach(json, "train_loss", points_json(c.train_loss)) &&
              json_attach(json, "valid_loss", points_json(c.valid_loss)) &&
              json_attach(json, "bleu", points_json(c.bleu));
    training_curves_free(&c);
    if (!ok) {
        cJSON_Delete(json);
        json = NULL;
    }
    reply_json(reply, 200, json);
}
