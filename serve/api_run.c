// What the playground shows of the run behind the model, read afresh at
// each request (a run may still be writing them):
//   GET /api/history  DIR/attention_history.json, as it is (once checked)
//   GET /api/curves   {"train_loss": [[step, loss]], "valid_loss": [[step, loss]],
//                      "bleu": [[step, BLEU]]} from DIR/train.log
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"

#include <stb/stb_ds.h>

#include "core/json_tree.h"
#include "inspect/attention_history.h"
#include "serve/api_requests.h"
#include "train/training_curves.h"

// An error about a file of the run, its directory left out: a reply names
// no path of the server's.
static void reply_run_error(Reply *reply, const Api *api, const char *message) {
    char shown[sizeof(Error)];
    size_t n = 0, dir = strlen(api->run_dir);
    for (const char *p = message; *p && n < sizeof shown - 1;) {
        if (strncmp(p, api->run_dir, dir) == 0 && p[dir] == '/') {
            p += dir + 1;
            continue;
        }
        shown[n++] = *p++;
    }
    shown[n] = '\0';
    reply_error(reply, 500, "%s", shown);
}

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

// The history file's text, checked, into the cache (when the file changed
// since it was last read); false with the reply made when it cannot be.
static bool cache_history(const Api *api, HistoryCache *cache, const char *path, Reply *reply) {
    struct stat st;
    if (stat(path, &st) != 0) {
        reply_error(reply, 404, "this run has no attention history yet (azul train records one at each "
                                "validation, of its --watch sentences)");
        return false;
    }
    if (cache->text && st.st_mtim.tv_sec == cache->written.tv_sec && st.st_mtim.tv_nsec == cache->written.tv_nsec &&
        (size_t)st.st_size == cache->length) {
        return true;
    }
    Error err;
    size_t length;
    char *text = read_whole_file(path, ATTENTION_HISTORY_MAX_BYTES, &length, &err);
    cJSON *checked = text ? attention_history_parse(text, length, path, &err) : NULL;  // the page trusts its shape
    if (!checked) {
        free(text);
        reply_run_error(reply, api, err.message);
        return false;
    }
    cJSON_Delete(checked);
    free(cache->text);
    cache->text = text;
    cache->length = length;
    cache->written = st.st_mtim;
    return true;
}

void answer_history(const Api *api, const char *body, size_t length, Reply *reply) {
    (void)body;
    (void)length;
    char path[4096];
    if (!run_file(api, ATTENTION_HISTORY_FILE, "attention history", path, sizeof path, reply)) return;
    HistoryCache *cache = api->history;
    pthread_mutex_lock(&cache->lock);
    if (cache_history(api, cache, path, reply)) {
        char *copy = malloc(cache->length + 1);  // the cache may change while this one is sent
        if (copy) {
            memcpy(copy, cache->text, cache->length + 1);
            *reply = (Reply){200, "application/json", copy, cache->length, false, NULL, 0};
        } else {
            reply_error(reply, 500, "the server ran out of memory");
        }
    }
    pthread_mutex_unlock(&cache->lock);
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
        reply_run_error(reply, api, err.message);
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
