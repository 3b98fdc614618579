// What the API's handlers share (serve/api.c): replies and request fields.
// Each handler answers one route; see serve/api.h for the list.
#ifndef AZUL_API_REQUESTS_H
#define AZUL_API_REQUESTS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "serve/api.h"

// A live run's newest model replaces the served one when the run has
// written a newer one (looked at once a second at most).
void api_reload_if_newer(Api *api);

// The reply becomes json (deleted here) with status, or a 500 when json is
// NULL or cannot be printed (memory ran out).
void reply_json(Reply *reply, int status, cJSON *json);
// The reply becomes {"error": message} with status.
void reply_error(Reply *reply, int status, const char *format, ...) __attribute__((format(printf, 3, 4)));

// When the request's search gives up (infer/search.h): now plus the API's
// request_seconds.
double request_deadline(const Api *api);
// A search that failed: 503 with Retry-After when it failed because its
// deadline passed, else status with the search's message.
void reply_search_failed(Reply *reply, const Api *api, double deadline, int status, const char *message);

// The request body as a JSON object (bounded: a request holds a few
// fields), or NULL with a 400 reply.
cJSON *request_parse(const char *body, size_t length, Reply *reply);
// A string field (*value untouched when it is absent and not required), or
// false with a 400 reply.
bool request_string(const cJSON *request, const char *name, bool required, const char **value,
                    Reply *reply);
// A whole number from low to high (*value keeps its default when absent), or
// false with a 400 reply.
bool request_int(const cJSON *request, const char *name, int low, int high, int *value, Reply *reply);

void answer_model(const Api *api, const char *body, size_t length, Reply *reply);
void answer_history(const Api *api, const char *body, size_t length, Reply *reply);
void answer_curves(const Api *api, const char *body, size_t length, Reply *reply);
void answer_translate(const Api *api, const char *body, size_t length, Reply *reply);
void answer_attention(const Api *api, const char *body, size_t length, Reply *reply);
void answer_explain(const Api *api, const char *body, size_t length, Reply *reply);

#endif
