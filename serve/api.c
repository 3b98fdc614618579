// The routes of the playground's API and the replies they share: JSON bodies,
// {"error"} replies, the request's fields read with their limits.
#include "serve/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/json_tree.h"
#include "core/utf8.h"
#include "model/threads.h"
#include "serve/api_requests.h"
#include "serve/playground.h"

// A request holds a few fields: anything near this many values is not one.
enum { REQUEST_MAX_VALUES = 64 };

static const char out_of_memory_body[] = "{\"error\":\"the server ran out of memory\"}";

static void reply_out_of_memory(Reply *reply) {
    reply_free(reply);
    *reply = (Reply){500, "application/json", (char *)out_of_memory_body, sizeof out_of_memory_body - 1, true, NULL, 0};
}

void reply_json(Reply *reply, int status, cJSON *json) {
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;  // cJSON allocates with malloc
    cJSON_Delete(json);
    if (!text) {
        reply_out_of_memory(reply);
        return;
    }
    reply_free(reply);
    *reply = (Reply){status, "application/json", text, strlen(text), false, NULL, 0};
}

void reply_error(Reply *reply, int status, const char *format, ...) {
    char message[1200];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    // the message may quote the client's text: valid UTF-8 without controls
    // in the reply whatever was sent (and whatever the cut above split)
    char *shown = utf8_printable(message);
    cJSON *json = shown ? cJSON_CreateObject() : NULL;
    if (json && !cJSON_AddStringToObject(json, "error", shown)) {
        cJSON_Delete(json);
        json = NULL;
    }
    free(shown);
    reply_json(reply, status, json);
}

void reply_free(Reply *reply) {
    if (!reply->body_is_static) free(reply->body);
    reply->body = NULL;
}

cJSON *request_parse(const char *body, size_t length, Reply *reply) {
    Error err;
    cJSON *json = json_parse_bounded(body, length, REQUEST_MAX_VALUES, "the request body", &err);
    if (!json) {
        reply_error(reply, 400, "%s", err.message);
        return NULL;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        reply_error(reply, 400, "the request body must be a JSON object");
        return NULL;
    }
    return json;
}

bool request_string(const cJSON *request, const char *name, bool required, const char **value,
                    Reply *reply) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(request, name);
    if (!item && !required) return true;
    if (!cJSON_IsString(item)) {
        reply_error(reply, 400, "\"%s\" must be %s string", name, item ? "a" : "given, as a");
        return false;
    }
    *value = item->valuestring;
    return true;
}

bool request_int(const cJSON *request, const char *name, int low, int high, int *value, Reply *reply) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(request, name);
    if (!item) return true;  // *value keeps its default
    double x = cJSON_IsNumber(item) ? item->valuedouble : -1e300;
    if (!(x >= low && x <= high && x == (double)(int)x)) {
        reply_error(reply, 400, "\"%s\" must be a whole number from %d to %d", name, low, high);
        return false;
    }
    *value = (int)x;
    return true;
}

double request_deadline(const Api *api) {
    return monotonic_seconds() + api->request_seconds;
}

void reply_search_failed(Reply *reply, const Api *api, double deadline, int status, const char *message) {
    if (!search_past_deadline(deadline)) {
        reply_error(reply, status, "%s", message);
        return;
    }
    reply_error(reply, 503, "the translation took longer than this server's limit of %g s a request "
                            "(--request-timeout); try a shorter sentence or a smaller beam", api->request_seconds);
    reply->retry_after = 1;  // the other requests go on meanwhile: a retry may find a free thread
}

// ---------------------------------------------------------------- routes

typedef void (*Handler)(const Api *api, const char *body, size_t length, Reply *reply);

// The tab's icon: a blue square with an "a" (browsers ask for /favicon.ico
// whatever the page says).
static const char favicon_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" "
    "fill=\"#1f5fbf\"/><text x=\"8\" y=\"12.5\" font-size=\"12\" font-family=\"sans-serif\" fill=\"white\" "
    "text-anchor=\"middle\">a</text></svg>";

// The page and what it loads, each a string built into the program.
static const struct {
    const char *path, *text, *type;
} files[] = {
    {"/", playground_html, "text/html; charset=utf-8"},
    {"/playground.js", playground_js, "text/javascript; charset=utf-8"},
    {"/playground.css", playground_css, "text/css; charset=utf-8"},
    {"/attention_view.js", attention_view_js, "text/javascript; charset=utf-8"},
    {"/attention_view.css", attention_view_css, "text/css; charset=utf-8"},
    {"/favicon.ico", favicon_svg, "image/svg+xml"},
};

static const struct {
    const char *method, *path;
    Handler handler;
} routes[] = {
    {"GET", "/api/model", answer_model},
    {"GET", "/api/history", answer_history},
    {"GET", "/api/curves", answer_curves},
    {"POST", "/api/translate", answer_translate},
    {"POST", "/api/attention", answer_attention},
    {"POST", "/api/explain", answer_explain},
};

// A file of the page: true with the reply made, or 405 for another method.
static bool answer_file(const char *method, const char *path, Reply *reply) {
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(files[i].path, path) != 0) continue;
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
            *reply = (Reply){200, files[i].type, (char *)files[i].text, strlen(files[i].text), true, NULL, 0};
        } else {
            reply_error(reply, 405, "%s takes GET, HEAD, not %s", path, method);
            reply->allow = "GET, HEAD";
        }
        return true;
    }
    return false;
}

void api_answer(Api *api, const char *method, const char *path, const char *body, size_t length,
                Reply *reply) {
    *reply = (Reply){0};
    if (answer_file(method, path, reply)) return;
    const char *allow = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, path) != 0) continue;
        bool head = strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0;
        if (strcmp(routes[i].method, method) == 0 || head) {
            if (api->live) api_reload_if_newer(api);
            // this thread's OpenMP team (the setting is the calling thread's own)
            omp_set_num_threads(api->openmp_threads);
            pthread_rwlock_rdlock(&api->lock);  // the model stays while the request uses it
            routes[i].handler(api, body ? body : "", body ? length : 0, reply);
            pthread_rwlock_unlock(&api->lock);
            return;
        }
        allow = strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" : routes[i].method;
    }
    if (allow) {
        reply_error(reply, 405, "%s takes %s, not %s", path, allow, method);
        reply->allow = allow;
        return;
    }
    bool show = strlen(path) <= 200;  // the client's text: quoted only when short
    reply_error(reply, 404, "no such path%s%s (the API is /api/model, /api/translate, /api/attention "
                            "and /api/explain)", show ? ": " : "", show ? path : "");
}
