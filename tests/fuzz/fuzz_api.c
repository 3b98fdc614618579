// Fuzzes the playground's API (serve/api.h) as the HTTP server calls it:
// the first byte picks a route and method, the rest is the request body,
// with a tiny model loaded once.  Every reply must be well-formed JSON: an
// answer with 200, or {"error": "..."} with 400, 404 or 405 — never a crash,
// a hang, a 500 (only running out of memory gives one) or text that is not
// valid UTF-8.
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/utf8.h"
#include "serve/api.h"
#include "tests/fuzz/fuzz_common.h"

static const char DEFAULT_MODEL[] = "tests/fuzz/models/translate.safetensors";

static Api api;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("AZUL_FUZZ_MODEL");
    Error err;
    if (api_open(&api, path ? path : DEFAULT_MODEL, false, &err) < 0) {
        fuzz_fail(__FILE__, __LINE__, "api_open", "%s", err.message);
    }
    return 0;
}

static const struct {
    const char *method, *path;
} requests[] = {
    {"POST", "/api/translate"}, {"POST", "/api/attention"}, {"POST", "/api/explain"},
    {"GET", "/api/model"},      {"GET", "/api/history"},    {"GET", "/api/curves"},
    {"GET", "/api/translate"},  {"POST", "/nowhere"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const size_t n = sizeof requests / sizeof requests[0];
    const char *method = requests[data[0] % n].method, *path = requests[data[0] % n].path;
    // the body as the server holds it: the bytes, then a NUL
    char *body = malloc(size);
    FUZZ_CHECK(body, "out of memory");
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    Reply reply;
    api_answer(&api, method, path, body, size - 1, &reply);
    FUZZ_CHECK(reply.status == 200 || reply.status == 400 || reply.status == 404 || reply.status == 405,
               "%s %s answered %d: %.*s", method, path, reply.status, (int)reply.length, reply.body);
    FUZZ_CHECK(utf8_validate(reply.body, reply.length, NULL), "a reply that is not UTF-8");
    cJSON *json = cJSON_ParseWithLength(reply.body, reply.length);
    FUZZ_CHECK(json, "a reply that is not JSON: %.*s", (int)reply.length, reply.body);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    FUZZ_CHECK((reply.status == 200) == !cJSON_IsString(error), "status %d with error %s", reply.status,
               cJSON_IsString(error) ? error->valuestring : "(none)");
    cJSON_Delete(json);
    reply_free(&reply);
    free(body);
    return 0;
}
