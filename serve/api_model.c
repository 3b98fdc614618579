// The model the API serves: loading it, replacing it with a live run's
// newer one, and GET /api/model.
#define _GNU_SOURCE  // pthread_rwlockattr_setkind_np: glibc's rwlock lets readers starve a writer
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/json_tree.h"
#include "inspect/attention_history.h"
#include "model/model_file.h"
#include "model/safetensors.h"
#include "serve/api_requests.h"

// DIR/name (malloc'd), or NULL when memory runs out.
static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s", dir, name);
    return path;
}

// The file a live run's newest model is in: model.safetensors (the best) or
// last.safetensors (the latest checkpoint), whichever was written last; its
// time in *written.  NULL when the run has neither yet.
static char *newest_model(const char *run_dir, struct timespec *written) {
    static const char *const names[] = {"model.safetensors", "last.safetensors"};
    char *best = NULL;
    for (size_t i = 0; i < 2; i++) {
        char *path = path_in(run_dir, names[i]);
        struct stat st;
        bool newer = path && stat(path, &st) == 0 &&
                     (!best || st.st_mtim.tv_sec > written->tv_sec ||
                      (st.st_mtim.tv_sec == written->tv_sec && st.st_mtim.tv_nsec > written->tv_nsec));
        if (newer) {
            free(best);
            best = path;
            *written = st.st_mtim;
        } else {
            free(path);
        }
    }
    return best;
}

// A reply names no file of the server's: a saved option that is a path
// (--corpus, --valid, as they were typed) is cut to its file's name.
static void paths_to_names(cJSON *options) {
    cJSON *option;
    cJSON_ArrayForEach(option, options) {
        const char *slash = cJSON_IsString(option) ? strrchr(option->valuestring, '/') : NULL;
        if (slash) memmove(option->valuestring, slash + 1, strlen(slash + 1) + 1);
    }
}

// The training options saved in the model file, parsed, or JSON null.
static cJSON *saved_json(const Translator *t, const char *key) {
    const char *text = t->model.file ? safetensors_metadata(t->model.file, key) : NULL;
    Error ignored;
    cJSON *json = text ? json_parse_bounded(text, strlen(text), JSON_MAX_SETTINGS_VALUES, key, &ignored) : NULL;
    paths_to_names(json);
    return json ? json : cJSON_CreateNull();
}

// What GET /api/model says of a model, but for what may change between
// requests (the history appearing); NULL when memory runs out.
static char *describe(const Translator *t) {
    const ModelConfig *c = &t->model.config;
    cJSON *json = cJSON_CreateObject();
    bool ok = json && json_attach(json, "config", model_config_to_json(c)) &&
              cJSON_AddNumberToObject(json, "source_vocab", c->src_vocab) &&
              cJSON_AddNumberToObject(json, "target_vocab", c->tgt_vocab) &&
              cJSON_AddNumberToObject(json, "parameters", (double)t->model.n_params) &&
              cJSON_AddNumberToObject(json, "length_penalty", t->length_penalty) &&
              json_attach(json, "training", saved_json(t, "training"));
    char *text = ok ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    return text;
}

// A loaded model and its description; -1 with err.
static int load(const char *path, Translator **t, char **description, Error *err) {
    *t = malloc(sizeof **t);
    if (!*t) return error_out_of_memory(err, "loading the model", sizeof **t);
    if (translator_load(*t, path, err) < 0) {
        free(*t);
        return -1;
    }
    if (!(*description = describe(*t))) {
        translator_free(*t);
        free(*t);
        return error_out_of_memory(err, "describing the model", 4096);
    }
    return 0;
}

int api_open(Api *api, const char *path, bool live, Error *err) {
    memset(api, 0, sizeof *api);
    struct stat st;
    bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (live && !dir) return error_set(err, "--run %s: not a run directory", path);
    api->live = live;
    api->run_dir = dir ? strdup(path) : NULL;
    api->model_file = live ? newest_model(path, &api->model_written) : model_file_path(path);
    api->history = calloc(1, sizeof *api->history);
    if ((dir && !api->run_dir) || (!live && !api->model_file) || !api->history) {
        free(api->run_dir);
        free(api->model_file);
        free(api->history);
        return error_out_of_memory(err, "a path", 4096);
    }
    if (!api->model_file) {
        free(api->run_dir);
        free(api->history);
        return error_set(err, "%s has no model yet: a run writes model.safetensors at its first validation",
                         path);
    }
    if (load(api->model_file, &api->translator, &api->model_json, err) < 0) {
        free(api->run_dir);
        free(api->model_file);
        free(api->history);
        return -1;
    }
    api->model_version = 1;
    api->last_check = monotonic_seconds();
    api->request_seconds = API_DEFAULT_REQUEST_SECONDS;
    api->openmp_threads = 1;
    // Under steady requests glibc's default rwlock, which lets a reader in
    // while another reads, may never let a reload write: a reload waiting
    // here keeps new requests out until the ones under way are done.
    pthread_rwlockattr_t writers_first;
    pthread_rwlockattr_init(&writers_first);
    pthread_rwlockattr_setkind_np(&writers_first, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&api->lock, &writers_first);
    pthread_rwlockattr_destroy(&writers_first);
    pthread_mutex_init(&api->reload, NULL);
    pthread_mutex_init(&api->history->lock, NULL);
    return 0;
}

void api_close(Api *api) {
    translator_free(api->translator);
    free(api->translator);
    free(api->model_json);
    free(api->run_dir);
    free(api->model_file);
    free(api->failed_file);
    free(api->history->text);
    pthread_mutex_destroy(&api->history->lock);
    free(api->history);
    pthread_rwlock_destroy(&api->lock);
    pthread_mutex_destroy(&api->reload);
    memset(api, 0, sizeof *api);
}

static bool same_version(const char *path, struct timespec written, const char *other,
                         struct timespec other_written) {
    return other && strcmp(path, other) == 0 && written.tv_sec == other_written.tv_sec &&
           written.tv_nsec == other_written.tv_nsec;
}

// The newest model, when it is neither the one served nor one that failed
// (NULL otherwise, or when the last look was under a second ago).
static char *model_to_load(Api *api, struct timespec *written) {
    double now = monotonic_seconds();
    if (now - api->last_check < 1.0) return NULL;
    api->last_check = now;
    char *newest = newest_model(api->run_dir, written);
    if (newest && (same_version(newest, *written, api->model_file, api->model_written) ||
                   same_version(newest, *written, api->failed_file, api->failed_written))) {
        free(newest);
        newest = NULL;
    }
    return newest;
}

// A model that cannot be loaded is told once, and not tried again until
// its file changes (a run writes it anew at its next checkpoint).
static void remember_failure(Api *api, char *path, struct timespec written, const Error *why) {
    if (api->log) {
        const char *name = strrchr(path, '/');
        fprintf(api->log, "azul: the run's newest model, %s, cannot be loaded; still serving model version %d: %s\n",
                name ? name + 1 : path, api->model_version, why->message);
        fflush(api->log);
    }
    free(api->failed_file);
    api->failed_file = path;
    api->failed_written = written;
}

void api_reload_if_newer(Api *api) {
    // one thread looks (and loads); the others go on with the model they have
    if (pthread_mutex_trylock(&api->reload) != 0) return;
    struct timespec written = {0, 0};
    char *newest = model_to_load(api, &written);
    Translator *fresh;
    char *description;
    Error why;
    if (newest && load(newest, &fresh, &description, &why) < 0) {
        remember_failure(api, newest, written, &why);
    } else if (newest) {
        pthread_rwlock_wrlock(&api->lock);  // waits for the requests using the old one
        Translator *old = api->translator;
        char *old_description = api->model_json, *old_file = api->model_file;
        api->translator = fresh;
        api->model_json = description;
        api->model_file = newest;
        api->model_written = written;
        api->model_version++;
        pthread_rwlock_unlock(&api->lock);
        translator_free(old);
        free(old);
        free(old_description);
        free(old_file);
    }
    pthread_mutex_unlock(&api->reload);
}

// GET /api/model: the description, and what this server has of the run.
void answer_model(const Api *api, const char *body, size_t length, Reply *reply) {
    (void)body;
    (void)length;
    cJSON *json = cJSON_Parse(api->model_json);
    char *history = api->run_dir ? path_in(api->run_dir, ATTENTION_HISTORY_FILE) : NULL;
    struct stat st;
    const char *file = strrchr(api->model_file, '/');
    bool ok = json && cJSON_AddBoolToObject(json, "live", api->live) &&
              cJSON_AddBoolToObject(json, "history", history && stat(history, &st) == 0) &&
              cJSON_AddStringToObject(json, "model_file", file ? file + 1 : api->model_file) &&
              cJSON_AddNumberToObject(json, "model_version", api->model_version);
    free(history);
    if (!ok) {
        cJSON_Delete(json);
        json = NULL;
    }
    reply_json(reply, 200, json);
}
