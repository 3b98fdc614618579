// azul serve over real HTTP: the server runs as its own process on a free
// loopback port, and curl (Debian's) asks it things.  Each endpoint's answer
// is checked against what the other commands say; hostile requests get
// their error codes; 200 requests at once are all answered; Ctrl-C drains.
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "model/threads.h"
#include "tests/cdp.h"
#include "tests/http_client.h"
#include "tests/model_image.h"
#include "tests/test.h"

typedef struct {
    pid_t pid;
    char *dir;       // the server's stdout and stderr, and the requests' files
    char url[128];   // http://127.0.0.1:PORT/
} Server;

static void sleep_ms(int ms) {
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

// Starts `azul ARGS...` (a serve command) and waits for the line with its URL.
static Server server_start_args(const char *const *args) {
    Server s = {0, make_temp_dir(), ""};
    char *out = join(s.dir, "stdout"), *err = join(s.dir, "stderr");
    s.pid = spawn_azul_redirected(args, NULL, out, err, 0);
    for (int waited = 0; waited < 20000 && !s.url[0]; waited += 20) {
        char *text = slurp(out, NULL);
        const char *at = text ? strstr(text, " at http://") : NULL;
        if (at) sscanf(at + 4, "%127s", s.url);
        free(text);
        if (!s.url[0]) sleep_ms(20);
    }
    if (!s.url[0]) fail_msg("azul serve printed no URL; stderr:\n%s", slurp(err, NULL));
    free(out);
    free(err);
    return s;
}

// Starts `azul serve --model TOY --port 0 EXTRA...`.
static Server server_start(const char *const *extra) {
    const char *args[16] = {"serve", "--model", toy_model_dir(), "--port", "0"};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i] && n < 15; i++) args[n++] = extra[i];
    return server_start_args(args);
}

// Sends SIGINT and returns the exit status (-1: killed by a signal, or hung).
static int server_stop(Server *s, char **stderr_text) {
    kill(s->pid, SIGINT);
    int status = 0;
    pid_t done = 0;
    for (int waited = 0; waited < 15000 && done == 0; waited += 20) {
        done = waitpid(s->pid, &status, WNOHANG);
        if (done == 0) sleep_ms(20);
    }
    if (done == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        status = -1;
    } else {
        status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    char *err = join(s->dir, "stderr");
    if (stderr_text) *stderr_text = slurp(err, NULL);
    free(err);
    remove_tree(s->dir);
    free(s->dir);
    return status;
}

typedef struct {
    int status;
    char *body;
    char *headers;
} Answer;

// One request with curl: METHOD s->url + path, the body sent as is.
static Answer http(const Server *s, const char *method, const char *path, const char *body, size_t length) {
    static int count;
    char name[64], command[2048];
    snprintf(name, sizeof name, "request%d", count++);
    char *request = body ? write_temp_file(s->dir, name, body, length) : NULL;
    char *response = join(s->dir, "response"), *headers = join(s->dir, "headers");
    snprintf(command, sizeof command,
             "curl -s -m 60 -o '%s' -D '%s' -w '%%{http_code}' -X %s %s%s%s %s'%s%s'", response,
             headers, method, request ? "-H 'Content-Type: application/json' --data-binary '@" : "",
             request ? request : "", request ? "'" : "", "", s->url, path + 1);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    Answer a = {0, NULL, NULL};
    if (fscanf(p, "%d", &a.status) != 1) a.status = -1;
    pclose(p);
    a.body = slurp(response, NULL);
    a.headers = slurp(headers, NULL);
    if (!a.body) a.body = strdup("");
    if (!a.headers) a.headers = strdup("");
    free(request);
    free(response);
    free(headers);
    return a;
}

static Answer post(const Server *s, const char *path, const char *json) {
    return http(s, "POST", path, json, strlen(json));
}

static void answer_free(Answer *a) {
    free(a->body);
    free(a->headers);
}

// The answer's JSON, which must parse, with the expected status.
static cJSON *expect_json(const Answer *a, int status) {
    if (a->status != status) fail_msg("expected HTTP %d, got %d: %s", status, a->status, a->body);
    cJSON *json = cJSON_Parse(a->body);
    if (!json) fail_msg("not JSON: %s", a->body);
    return json;
}

static const char *string_of(const cJSON *o, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

// An error answer: the status, and {"error": "..."} containing the words.
static void expect_error(const Answer *a, int status, const char *words) {
    cJSON *json = expect_json(a, status);
    expect_contains(string_of(json, "error"), words);
    cJSON_Delete(json);
}

// ---------------------------------------------------------------- the endpoints

// GET /api/model: the config and vocabularies of the model file, and how it
// was trained; the page and its files come with their types and the policy.
static void the_model_and_the_page_are_served(void **state) {
    (void)state;
    Server s = server_start(NULL);
    Answer a = http(&s, "GET", "/api/model", NULL, 0);
    cJSON *m = expect_json(&a, 200);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(m, "config");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(config, "d_model")->valueint, 64);  // the toy preset
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(m, "source_vocab")->valueint,
                     cJSON_GetObjectItemCaseSensitive(config, "src_vocab")->valueint);
    assert_true(cJSON_GetObjectItemCaseSensitive(m, "parameters")->valuedouble > 1e5);
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(m, "training")));
    cJSON_Delete(m);
    answer_free(&a);
    const char *files[][2] = {{"/", "text/html"}, {"/playground.js", "text/javascript"},
                              {"/attention_view.js", "text/javascript"}, {"/playground.css", "text/css"}};
    for (size_t i = 0; i < 4; i++) {
        a = http(&s, "GET", files[i][0], NULL, 0);
        assert_int_equal(a.status, 200);
        expect_contains(a.headers, files[i][1]);
        expect_contains(a.headers, "Content-Security-Policy: default-src 'none'; script-src 'self'");
        assert_true(strlen(a.body) > 500);
        answer_free(&a);
    }
    char *err;
    assert_int_equal(server_stop(&s, &err), 0);
    expect_contains(err, "\"GET /api/model\" 200");  // the access log: one line per request
    free(err);
}

// POST /api/translate: the seed sentence, its n-best list in score order,
// its tokens, and a word alignment linking each word to its own.
static void translate_answers_with_tokens_and_alignment(void **state) {
    (void)state;
    Server s = server_start(NULL);
    Answer a = post(&s, "/api/translate", "{\"text\": \"The ball is blue\", \"beam\": 4, \"n_best\": 3}");
    cJSON *t = expect_json(&a, 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(t, "translations");
    assert_int_equal(cJSON_GetArraySize(list), 3);
    const cJSON *best = cJSON_GetArrayItem(list, 0);
    assert_string_equal(string_of(best, "text"), "La bola es azul");
    double previous = 1e9;
    for (int k = 0; k < 3; k++) {
        double score = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, k), "score")->valuedouble;
        assert_true(score <= previous);
        previous = score;
    }
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(best, "tokens");
    assert_int_equal(cJSON_GetArraySize(tokens), 4);
    assert_string_equal(string_of(cJSON_GetArrayItem(tokens, 1), "piece"), "\xE2\x96\x81" "bola");
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(t, "source_tokens");
    assert_int_equal(cJSON_GetArraySize(source), 5);  // four words and <eos>
    const cJSON *alignment = cJSON_GetObjectItemCaseSensitive(best, "alignment");
    assert_int_equal(cJSON_GetArraySize(alignment), 4);
    for (int w = 0; w < 4; w++) {  // the toy model aligns this sentence word by word
        const cJSON *pair = cJSON_GetArrayItem(alignment, w);
        assert_int_equal(cJSON_GetArrayItem(pair, 0)->valueint, w);
        assert_int_equal(cJSON_GetArrayItem(pair, 1)->valueint, w);
    }
    cJSON_Delete(t);
    answer_free(&a);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// POST /api/attention answers exactly what `azul attention --format json`
// prints for the same sentence; /api/explain's weights are those maps' own.
static void attention_and_explain_match_the_attention_command(void **state) {
    (void)state;
    const char *sentence = "The black cat drank the milk";
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", "json", sentence), 0);
    Server s = server_start(NULL);
    Answer a = post(&s, "/api/attention", "{\"text\": \"The black cat drank the milk\"}");
    assert_int_equal(a.status, 200);
    out[strcspn(out, "\n")] = '\0';
    assert_string_equal(a.body, out);
    cJSON *maps = cJSON_Parse(a.body);
    answer_free(&a);
    a = post(&s, "/api/explain", "{\"text\": \"The black cat drank the milk\", \"token\": \"gato\", \"layer\": 1, \"head\": 2}");
    cJSON *e = expect_json(&a, 200);
    assert_string_equal(string_of(e, "query"), "\xE2\x96\x81" "gato");
    int row = cJSON_GetObjectItemCaseSensitive(e, "row")->valueint;
    // the map of cross attention, layer 1, head 2, in the attention answer
    const cJSON *map = NULL, *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(maps, "attention")) {
        if (strcmp(string_of(m, "kind"), "cross") == 0 && cJSON_GetObjectItemCaseSensitive(m, "layer")->valueint == 1 &&
            cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, "head")) &&
            cJSON_GetObjectItemCaseSensitive(m, "head")->valueint == 2) {
            map = m;
        }
    }
    assert_non_null(map);
    const cJSON *weights = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(map, "weights"), row), *key;
    int j = 0;
    double sum = 0;
    cJSON_ArrayForEach(key, cJSON_GetObjectItemCaseSensitive(e, "keys")) {
        double w = cJSON_GetObjectItemCaseSensitive(key, "weight")->valuedouble;
        assert_true(fabs(w - cJSON_GetArrayItem(weights, j++)->valuedouble) < 1e-6);
        sum += w;
    }
    assert_int_equal(j, cJSON_GetArraySize(weights));
    assert_true(fabs(sum - 1) < 1e-5);
    assert_true(cJSON_GetObjectItemCaseSensitive(e, "own_difference")->valuedouble < 1e-4);
    cJSON_Delete(e);
    cJSON_Delete(maps);
    answer_free(&a);
    free(out);
    free(err);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// ---------------------------------------------------------------- hostile requests

// Runs a curl command that prints the status, and checks it.
static void expect_status_of(const char *command, int expected) {
    FILE *p = popen(command, "r");
    assert_non_null(p);
    int status = 0;
    if (fscanf(p, "%d", &status) != 1) status = -1;
    pclose(p);
    if (status != expected) fail_msg("%s\ngave HTTP %d, expected %d", command, status, expected);
}

// Each bad request gets its code and an {"error"} naming what is wrong; the
// server answers the next one as if nothing happened.
static void bad_requests_get_clear_errors(void **state) {
    (void)state;
    Server s = server_start(NULL);
    Answer a;
    const struct {
        const char *path, *body;
        int status;
        const char *words;
    } cases[] = {
        {"/api/translate", "{\"text\": \"The ball", 400, "not valid JSON"},
        {"/api/translate", "[1, 2]", 400, "must be a JSON object"},
        {"/api/translate", "{}", 400, "\"text\" must be given"},
        {"/api/translate", "{\"text\": 7}", 400, "\"text\" must be a string"},
        {"/api/translate", "{\"text\": \"hi\", \"beam\": 0}", 400, "\"beam\" must be a whole number from 1 to 16"},
        {"/api/translate", "{\"text\": \"hi\", \"beam\": 2.5}", 400, "\"beam\""},
        {"/api/translate", "{\"text\": \"hi\", \"beam\": 2, \"n_best\": 3}", 400, "must not exceed"},
        {"/api/translate", "{\"text\": \"   \"}", 400, "empty"},
        {"/api/translate", "{\"text\": \"caf\xC3\"}", 400, "UTF-8"},
        {"/api/attention", "{\"text\": \"\"}", 400, "empty"},
        {"/api/explain", "{\"text\": \"The ball is blue\"}", 400, "\"token\" must be given"},
        {"/api/explain", "{\"text\": \"The ball is blue\", \"token\": \"perro\"}", 400, "no query token"},
        {"/api/explain", "{\"text\": \"The ball is blue\", \"token\": \"#1\", \"kind\": \"x\"}", 400, "\"kind\""},
        {"/api/explain", "{\"text\": \"The ball is blue\", \"token\": \"#1\", \"layer\": 9}", 400, "\"layer\""},
        {"/api/translate", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         400, "more than the limit of 64 JSON values"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        a = post(&s, cases[i].path, cases[i].body);
        expect_error(&a, cases[i].status, cases[i].words);
        answer_free(&a);
    }
    // a sentence over the model's length limit
    char *long_text = malloc(40000);
    strcpy(long_text, "{\"text\": \"");
    for (int i = 0; i < 3000; i++) strcat(long_text, "blue ");
    strcat(long_text, "\"}");
    a = post(&s, "/api/translate", long_text);
    expect_error(&a, 400, "too long");
    answer_free(&a);
    free(long_text);
    a = http(&s, "GET", "/etc/passwd", NULL, 0);
    expect_error(&a, 404, "no such path");
    answer_free(&a);
    a = http(&s, "GET", "/api/translate", NULL, 0);
    expect_error(&a, 405, "/api/translate takes POST");
    expect_contains(a.headers, "Allow: POST");
    answer_free(&a);
    a = http(&s, "DELETE", "/api/model", NULL, 0);
    expect_error(&a, 405, "takes GET");
    answer_free(&a);
    // what another web site could make a browser send: a body that is not
    // JSON (no CORS preflight), a Host that is not this machine (DNS rebinding)
    char command[1024];
    snprintf(command, sizeof command, "curl -s -o /dev/null -w '%%{http_code}' -H 'Content-Type: text/plain' "
                                      "--data-binary '{\"text\": \"hi\"}' '%sapi/translate'", s.url);
    expect_status_of(command, 415);
    snprintf(command, sizeof command, "curl -s -o /dev/null -w '%%{http_code}' -H 'Host: rebound.example:80' "
                                      "'%sapi/model'", s.url);
    expect_status_of(command, 403);
    snprintf(command, sizeof command, "curl -s -o /dev/null -w '%%{http_code}' -H 'Host: localhost' "
                                      "'%sapi/model'", s.url);
    expect_status_of(command, 200);
    a = post(&s, "/api/translate", "{\"text\": \"The ball is blue\"}");
    cJSON *t = expect_json(&a, 200);  // still answering
    cJSON_Delete(t);
    answer_free(&a);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// A body of 64 KiB is read; one byte more is refused with 413, whether its
// length is declared up front or it arrives in chunks.
static void bodies_over_64_KiB_are_refused(void **state) {
    (void)state;
    Server s = server_start(NULL);
    const size_t limit = 64 * 1024;
    char *body = malloc(limit + 2);
    // {"text": "The ball is blue", "pad": "xxx...x"} padded to exactly the limit
    const char *head = "{\"text\": \"The ball is blue\", \"pad\": \"";
    strcpy(body, head);
    memset(body + strlen(head), 'x', limit - strlen(head) - 2);
    strcpy(body + limit - 2, "\"}");
    Answer a = http(&s, "POST", "/api/translate", body, limit);
    cJSON *t = expect_json(&a, 200);
    cJSON_Delete(t);
    answer_free(&a);
    body[limit - 2] = 'x';
    strcpy(body + limit - 1, "\"}");
    a = http(&s, "POST", "/api/translate", body, limit + 1);
    expect_error(&a, 413, "over the limit of 65536 bytes");
    answer_free(&a);
    // chunked: no length declared, so the server counts as the body arrives
    char *path = write_temp_file(s.dir, "big.json", body, limit + 1), command[1024];
    snprintf(command, sizeof command,
             "curl -s -m 60 -o /dev/null -w '%%{http_code}' -H 'Transfer-Encoding: chunked' "
             "-H 'Content-Type: application/json' --data-binary '@%s' '%sapi/translate'", path, s.url);
    FILE *p = popen(command, "r");
    int status = 0;
    assert_int_equal(fscanf(p, "%d", &status), 1);
    pclose(p);
    assert_int_equal(status, 413);
    free(path);
    free(body);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// A sentence made to break out of the page's markup comes back as the same
// characters in a JSON string: the page inserts it only as text.
static void markup_in_a_sentence_stays_text(void **state) {
    (void)state;
    Server s = server_start(NULL);
    const char *hostile = "</script><img src=x onerror=alert(1)>";
    Answer a = post(&s, "/api/translate", "{\"text\": \"</script><img src=x onerror=alert(1)>\"}");
    cJSON *t = expect_json(&a, 200);
    assert_string_equal(string_of(t, "source"), hostile);
    expect_contains(a.headers, "Content-Type: application/json");
    expect_contains(a.headers, "X-Content-Type-Options: nosniff");
    cJSON_Delete(t);
    answer_free(&a);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// ---------------------------------------------------------------- load and shutdown

// 200 requests at once (curl --parallel, 50 connections open together) over
// four sentences: every one is answered with its own translation, and the
// server is still up after.
static void two_hundred_concurrent_requests_are_all_answered(void **state) {
    (void)state;
    Server s = server_start(NULL);
    const char *sentences[4][2] = {{"The ball is blue", "La bola es azul"},
                                   {"The girl sees the truck", "La niña ve el camión"},
                                   {"The black cat drank the milk", "El gato negro bebió la leche"},
                                   {"The big dog eats a red apple", NULL}};
    char *bodies[4];
    for (int k = 0; k < 4; k++) {
        char name[32], json[256];
        snprintf(name, sizeof name, "body%d.json", k);
        snprintf(json, sizeof json, "{\"text\": \"%s\", \"beam\": %d}", sentences[k][0], 1 + k % 2 * 3);
        bodies[k] = write_temp_file(s.dir, name, json, strlen(json));
    }
    char *config_path = join(s.dir, "requests.curl");
    FILE *config = fopen(config_path, "w");
    assert_non_null(config);
    for (int i = 0; i < 200; i++) {
        fprintf(config, "url = \"%sapi/translate\"\ndata-binary = \"@%s\"\nheader = \"Content-Type: application/json\"\n"
                        "output = \"%s/answer%d.json\"\n%s", s.url, bodies[i % 4], s.dir, i, i < 199 ? "next\n" : "");
    }
    fclose(config);
    char command[1024];
    snprintf(command, sizeof command, "curl -s --no-progress-meter -m 120 --parallel --parallel-max 50 -K '%s'", config_path);
    assert_int_equal(system(command), 0);
    char *expected[4] = {NULL};
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "answer%d.json", i);
        char *path = join(s.dir, name), *text = slurp(path, NULL);
        cJSON *t = text ? cJSON_Parse(text) : NULL;
        if (!t) fail_msg("request %d: no JSON answer: %s", i, text ? text : "(nothing)");
        const char *got = string_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "translations"), 0), "text");
        // the same sentence with the same beam always translates the same
        if (!expected[i % 4]) expected[i % 4] = strdup(got);
        assert_string_equal(got, expected[i % 4]);
        if (sentences[i % 4][1]) assert_string_equal(got, sentences[i % 4][1]);
        cJSON_Delete(t);
        free(text);
        free(path);
    }
    Answer a = http(&s, "GET", "/api/model", NULL, 0);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    for (int k = 0; k < 4; k++) free(bodies[k]), free(expected[k]);
    free(config_path);
    char *err;
    assert_int_equal(server_stop(&s, &err), 0);
    int lines = 0;
    for (const char *p = err; (p = strstr(p, "\"POST /api/translate\" 200")); p++) lines++;
    assert_int_equal(lines, 200);
    free(err);
}

// Ctrl-C while a request is still arriving: the server stops taking new
// connections, answers that request in full, and exits 0.
static void ctrl_c_finishes_the_request_under_way(void **state) {
    (void)state;
    Server s = server_start(NULL);
    // a body sent slowly (20 KiB/s for 40 KiB): two seconds in flight
    char *body = malloc(41000);
    strcpy(body, "{\"text\": \"The ball is blue\", \"pad\": \"");
    size_t n = strlen(body);
    memset(body + n, 'x', 40000);
    strcpy(body + n + 40000, "\"}");
    char *client = make_temp_dir();  // the server's directory goes when it stops
    char *path = write_temp_file(client, "slow.json", body, strlen(body));
    char *answer = join(client, "slow.answer"), command[2048];
    snprintf(command, sizeof command,
             "curl -s -m 60 --limit-rate 20k -o '%s' -w '%%{http_code}' -H 'Content-Type: application/json' "
             "--data-binary '@%s' '%sapi/translate'", answer, path, s.url);
    FILE *p = popen(command, "r");
    sleep_ms(700);
    char *err;
    int exit_status = server_stop(&s, &err);  // SIGINT while the body arrives
    int status = 0;
    assert_int_equal(fscanf(p, "%d", &status), 1);
    pclose(p);
    assert_int_equal(exit_status, 0);
    assert_int_equal(status, 200);
    char *text = slurp(answer, NULL);
    expect_contains(text, "La bola es azul");
    expect_contains(err, "finishing the requests under way");
    // the request was answered after the interruption, not before it
    char *interrupted = strstr(err, "interrupted"), *logged = strstr(err, "\"POST /api/translate\" 200");
    assert_non_null(logged);
    assert_true(interrupted && interrupted < logged);
    free(text);
    free(err);
    free(answer);
    free(path);
    free(body);
    remove_tree(client);
    free(client);
}

// ---------------------------------------------------------------- many threads at once

// A run directory of the toy model's files and a long train.log (a few
// hundred lines: what a real run's log holds, and enough parsing for two
// requests to overlap); removed by remove_tree.
static char *long_run_dir(void) {
    char *dir = make_temp_dir();
    const char *names[] = {"model.safetensors", "attention_history.json"};
    for (size_t i = 0; i < 2; i++) {
        char *from = join(toy_model_dir(), names[i]);
        size_t length;
        char *text = slurp(from, &length);
        assert_non_null(text);
        free(write_temp_file(dir, names[i], text, length));
        free(text);
        free(from);
    }
    char *log = join(dir, "train.log");
    FILE *f = fopen(log, "w");
    assert_non_null(f);
    for (int step = 10; step <= 4000; step += 10) {
        fprintf(f, "{\"event\": \"train\", \"step\": %d, \"epoch\": 1, \"loss\": %.6f, \"lr\": 1e-3}\n", step,
                5.0 / (1 + step / 400.0));
        if (step % 200 == 0) {
            fprintf(f, "{\"event\": \"valid\", \"step\": %d, \"valid_loss\": %.6f, \"bleu\": %.4f}\n", step,
                    4.0 / (1 + step / 400.0), step / 100.0);
        }
    }
    fclose(f);
    free(log);
    return dir;
}

// Every route the server has, GET and POST.
static const struct {
    const char *method, *path, *body;
} every_route[] = {
    {"GET", "/", NULL},
    {"GET", "/playground.js", NULL},
    {"GET", "/playground.css", NULL},
    {"GET", "/attention_view.js", NULL},
    {"GET", "/attention_view.css", NULL},
    {"GET", "/favicon.ico", NULL},
    {"GET", "/api/model", NULL},
    {"GET", "/api/history", NULL},
    {"GET", "/api/curves", NULL},
    {"POST", "/api/translate", "{\"text\": \"The black cat drank the milk\", \"beam\": 4, \"n_best\": 3}"},
    {"POST", "/api/translate", "{\"text\": \"The ball is blue\"}"},
    {"POST", "/api/attention", "{\"text\": \"The girl sees the truck\"}"},
    {"POST", "/api/explain", "{\"text\": \"The ball is blue\", \"token\": \"#1\", \"layer\": 1, \"head\": 2}"},
};
enum { ROUTES = sizeof every_route / sizeof every_route[0], HAMMER_THREADS = 8, HAMMER_ROUNDS = 12 };

typedef struct {
    int port, first;                // the route this thread starts its rounds at
    HttpReply *expected;            // (ROUTES) the answers of one request at a time
    int differed[ROUTES];           // answers unlike the expected one
} Hammer;

static void *hammer(void *context) {
    Hammer *h = context;
    for (int round = 0; round < HAMMER_ROUNDS; round++) {
        for (int i = 0; i < ROUTES; i++) {
            const int r = (h->first + i) % ROUTES;
            // /api/curves three times a round: the route that was seen to differ
            for (int again = 0; again < (strcmp(every_route[r].path, "/api/curves") == 0 ? 3 : 1); again++) {
                HttpReply got = http_exchange(h->port, every_route[r].method, every_route[r].path,
                                              every_route[r].body, 30000);
                const HttpReply *want = &h->expected[r];
                if (got.status != want->status || got.length != want->length ||
                    memcmp(got.body, want->body, got.length) != 0) {
                    h->differed[r]++;
                }
                http_reply_free(&got);
            }
        }
    }
    return NULL;
}

// 8 threads ask every route again and again, each starting at another one:
// every answer is the one the same request gets alone.  (GET /api/curves
// once split its log with strtok, whose place is one for the process: 27
// of 1,200 answers differed.)
static void every_route_answers_eight_threads_as_it_answers_one(void **state) {
    (void)state;
    char *run = long_run_dir();
    Server s = server_start_args((const char *const[]){"serve", "--model", run, "--port", "0", NULL});
    const int port = http_port_of(s.url);
    HttpReply expected[ROUTES];
    for (int r = 0; r < ROUTES; r++) {
        expected[r] = http_exchange(port, every_route[r].method, every_route[r].path, every_route[r].body, 30000);
        if (expected[r].status != 200) fail_msg("%s %s: %d %s", every_route[r].method, every_route[r].path,
                                                expected[r].status, expected[r].body);
    }
    Hammer hammers[HAMMER_THREADS];
    pthread_t threads[HAMMER_THREADS];
    const double started = monotonic_seconds();
    for (int t = 0; t < HAMMER_THREADS; t++) {
        hammers[t] = (Hammer){port, t * ROUTES / HAMMER_THREADS, expected, {0}};
        assert_int_equal(pthread_create(&threads[t], NULL, hammer, &hammers[t]), 0);
    }
    for (int t = 0; t < HAMMER_THREADS; t++) pthread_join(threads[t], NULL);
    printf("  %d requests from %d threads in %.1f s\n", HAMMER_THREADS * HAMMER_ROUNDS * (ROUTES + 2),
           HAMMER_THREADS, monotonic_seconds() - started);
    char report[2048] = "";
    for (int r = 0; r < ROUTES; r++) {
        int differed = 0;
        for (int t = 0; t < HAMMER_THREADS; t++) differed += hammers[t].differed[r];
        if (differed) {
            snprintf(report + strlen(report), sizeof report - strlen(report), "  %s %s: %d answers differed\n",
                     every_route[r].method, every_route[r].path, differed);
        }
        http_reply_free(&expected[r]);
    }
    assert_int_equal(server_stop(&s, NULL), 0);
    remove_tree(run);
    free(run);
    if (report[0]) fail_msg("under 8 threads:\n%s", report);
}

// ---------------------------------------------------------------- bounded work

// {"text": "x" and 32,000 combining marks in the order Unicode normalisation
// sorts slowest (every U+0301 before every U+0316), "token": "#1"}: just under
// 64 KiB; malloc'd.
static char *slow_to_normalise_body(void) {
    const int marks = 32000;
    char *body = malloc(2 * (size_t)marks + 64), *p = body;
    p += sprintf(p, "{\"token\": \"#1\", \"text\": \"x");
    for (int i = 0; i < marks; i++, p += 2) memcpy(p, i < marks / 2 ? "\xCC\x81" : "\xCC\x96", 2);
    strcpy(p, "\"}");
    return body;
}

// Such a sentence (4.7 s of normalisation before the Stream-Safe format) is
// refused as too long, by its bytes, before it is normalised: in well under
// 100 ms on each route that takes a sentence.
static void a_sentence_slow_to_normalise_is_refused_at_once(void **state) {
    (void)state;
    Server s = server_start(NULL);
    char *body = slow_to_normalise_body();
    assert_true(strlen(body) < 64 * 1024);
    const char *paths[] = {"/api/translate", "/api/attention", "/api/explain"};
    for (int i = 0; i < 3; i++) {
        const double started = monotonic_seconds();
        HttpReply r = http_exchange(http_port_of(s.url), "POST", paths[i], body, 30000);
        const double took = monotonic_seconds() - started;
        printf("  %s: %d in %.1f ms\n", paths[i], r.status, took * 1e3);
        assert_int_equal(r.status, 400);
        expect_contains(r.body, "too long: 64001 bytes, the model takes at most 4096");
        assert_true(took < 0.1);
        http_reply_free(&r);
    }
    free(body);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// Every attention map of a 120-word sentence and a 120-word target on the
// toy model is 2 layers × 5 maps × (121² + 121² + 121 × 121) = 439,230 weights,
// a JSON node each: over the limit of 400,000, refused with both numbers.
static void an_attention_reply_over_its_size_limit_is_refused(void **state) {
    (void)state;
    Server s = server_start(NULL);
    char *body = malloc(2000);
    strcpy(body, "{\"text\": \"");
    for (int i = 0; i < 120; i++) strcat(body, "blue ");
    strcat(body, "\", \"target\": \"");
    for (int i = 0; i < 120; i++) strcat(body, "azul ");
    strcat(body, "\"}");
    HttpReply r = http_exchange(http_port_of(s.url), "POST", "/api/attention", body, 30000);
    assert_int_equal(r.status, 400);
    expect_contains(r.body, "hold 439230 weights, over this server's limit of 400000 a reply");
    http_reply_free(&r);
    free(body);
    assert_int_equal(server_stop(&s, NULL), 0);
}

typedef struct {
    int port;
    const char *body;
    HttpReply reply;
    double took;
} SlowRequest;

static void *ask_slowly(void *context) {
    SlowRequest *r = context;
    const double started = monotonic_seconds();
    r->reply = http_exchange(r->port, "POST", "/api/translate", r->body, 60000);
    r->took = monotonic_seconds() - started;
    return NULL;
}

// A model that never ends a translation (its output bias says "a"), taking
// 1,024 tokens: a 500-word sentence with beam 16 searches 1,010 steps, many
// seconds.  Past --request-timeout (0.5 s) it is given up, 503 with
// Retry-After, while the other threads go on translating short sentences.
static void a_translation_over_its_time_limit_gets_503_while_others_go_on(void **state) {
    (void)state;
    char *model = model_that_says(4 + 'a', -1, 1024);
    Server s = server_start_args((const char *const[]){"serve", "--model", model, "--port", "0", "--threads",
                                                       "4", "--request-timeout", "0.5", NULL});
    char *body = malloc(4000);
    strcpy(body, "{\"beam\": 16, \"text\": \"");
    for (int i = 0; i < 500; i++) strcat(body, "blue ");
    strcat(body, "\"}");
    SlowRequest slow = {http_port_of(s.url), body, {0}, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, ask_slowly, &slow), 0);
    sleep_ms(50);
    for (int i = 0; i < 10; i++) {
        const double started = monotonic_seconds();
        HttpReply quick = http_exchange(slow.port, "POST", "/api/translate", "{\"text\": \"The ball is blue\"}", 30000);
        assert_int_equal(quick.status, 200);
        assert_true(monotonic_seconds() - started < 0.5);
        http_reply_free(&quick);
    }
    pthread_join(thread, NULL);
    printf("  the long translation: %d after %.2f s\n", slow.reply.status, slow.took);
    assert_int_equal(slow.reply.status, 503);
    expect_contains(slow.reply.head, "Retry-After: 1\r\n");
    expect_contains(slow.reply.body, "longer than this server's limit of 0.5 s a request (--request-timeout)");
    assert_true(slow.took >= 0.5 && slow.took < 3);
    http_reply_free(&slow.reply);
    free(body);
    assert_int_equal(server_stop(&s, NULL), 0);
    remove_tree(model);
    free(model);
}

// ---------------------------------------------------------------- slow and greedy clients

// A client sends its request's headers a byte every 100 ms: never idle for
// libmicrohttpd's timeout, it held its connection for as long as it went
// on.  With --client-timeout 1 it is cut off a second after it connected.
static void a_trickling_client_is_cut_off(void **state) {
    (void)state;
    Server s = server_start((const char *const[]){"--client-timeout", "1", NULL});
    const int fd = http_connect(http_port_of(s.url));
    assert_true(fd >= 0);
    const char *request = "GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slowly: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const double started = monotonic_seconds();
    bool cut = false;
    for (size_t i = 0; !cut && monotonic_seconds() - started < 3; i = (i + 1) % strlen(request)) {
        cut = !http_send(fd, request + i, 1) || http_closed_within(fd, 100);
    }
    const double took = monotonic_seconds() - started;
    close(fd);
    printf("  cut off after %.2f s\n", took);
    assert_true(cut);
    assert_true(took >= 0.9 && took < 2.5);
    HttpReply r = http_exchange(http_port_of(s.url), "GET", "/api/model", NULL, 10000);
    assert_int_equal(r.status, 200);  // and the server goes on
    http_reply_free(&r);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// --connections-per-ip 2: a third connection from the same address is
// closed unanswered; once one of the two goes, a new one is served.
static void one_address_holds_at_most_its_connections(void **state) {
    (void)state;
    Server s = server_start((const char *const[]){"--connections-per-ip", "2", NULL});
    const int port = http_port_of(s.url);
    int held[2] = {http_connect(port), http_connect(port)};
    assert_true(held[0] >= 0 && held[1] >= 0);
    sleep_ms(100);  // both accepted
    HttpReply r = http_exchange(port, "GET", "/api/model", NULL, 2000);
    assert_int_equal(r.status, -1);
    http_reply_free(&r);
    close(held[0]);
    sleep_ms(100);  // the server sees it close
    r = http_exchange(port, "GET", "/api/model", NULL, 10000);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    close(held[1]);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// A chunked body that never ends: past 64 KiB the server answers 413 and
// closes the connection while the client is still sending, instead of
// reading on to an end that never comes.
static void an_endless_body_is_answered_and_closed(void **state) {
    (void)state;
    Server s = server_start(NULL);
    const int fd = http_connect(http_port_of(s.url));
    const char *head = "POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    assert_true(http_send(fd, head, strlen(head)));
    char chunk[8192 + 16];
    int n = sprintf(chunk, "2000\r\n");
    memset(chunk + n, ' ', 8192);
    memcpy(chunk + n + 8192, "\r\n", 2);
    const size_t chunk_length = (size_t)n + 8192 + 2;
    const double started = monotonic_seconds();
    size_t sent = 0;
    bool answered = false;
    while (!answered && monotonic_seconds() - started < 3) {
        if (!http_send(fd, chunk, chunk_length)) break;  // closed while sending: also an end
        sent += 8192;
        struct pollfd p = {fd, POLLIN, 0};
        answered = sent > 64 * 1024 && poll(&p, 1, 50) > 0;
    }
    HttpReply r = http_read_reply(fd, 2000);
    const double took = monotonic_seconds() - started;
    close(fd);
    printf("  %d after %zu KiB sent, %.2f s\n", r.status, sent / 1024, took);
    assert_int_equal(r.status, 413);
    expect_contains(r.body, "over the limit of 65536 bytes");
    assert_true(took < 2);
    http_reply_free(&r);
    assert_int_equal(server_stop(&s, NULL), 0);
}

// ---------------------------------------------------------------- a run as it trains

static int array_size(const char *json, const char *name) {
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, name));
    cJSON_Delete(j);
    return n;
}

static int model_version(const Server *s) {
    Answer a = http(s, "GET", "/api/model", NULL, 0);
    cJSON *m = expect_json(&a, 200);
    int version = cJSON_GetObjectItemCaseSensitive(m, "model_version")->valueint;
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "live")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "history")));
    cJSON_Delete(m);
    answer_free(&a);
    return version;
}

// azul serve --run on a run that goes on training: its curves and its
// attention history grow, and the newer model it writes is the one served.
static void a_live_run_is_followed_as_it_trains(void **state) {
    (void)state;
    char *run = make_temp_dir(), *out, *err;
    const char *train[] = {"train", "--corpus", "data/toy-en-es/train.tsv", "--valid", "data/toy-en-es/dev.tsv",
                           "--out", run, "--steps", "40", "--valid-every", "20", "--threads", "1", NULL};
    assert_int_equal(run_azul(train, NULL, &out, &err), 0);
    free(out);
    free(err);
    Server s = server_start_args((const char *const[]){"serve", "--run", run, "--port", "0", NULL});
    assert_int_equal(model_version(&s), 1);
    Answer a = http(&s, "GET", "/api/curves", NULL, 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(array_size(a.body, "valid_loss"), 2);
    answer_free(&a);
    // the run goes on while the server serves it
    assert_int_equal(RUN(NULL, &out, &err, "train", "--out", run, "--resume", "--steps", "80", "--threads", "1"), 0);
    free(out);
    free(err);
    sleep_ms(1100);  // the server looks at the run at most once a second
    assert_true(model_version(&s) >= 2);
    a = http(&s, "GET", "/api/curves", NULL, 0);
    assert_int_equal(array_size(a.body, "valid_loss"), 4);
    answer_free(&a);
    a = http(&s, "GET", "/api/history", NULL, 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(array_size(a.body, "steps"), 4);
    answer_free(&a);
    a = post(&s, "/api/translate", "{\"text\": \"The ball is blue\"}");
    assert_int_equal(a.status, 200);
    answer_free(&a);
    assert_int_equal(server_stop(&s, NULL), 0);
    remove_tree(run);
    free(run);
}

// Copies the toy model's file to dir/name, with a modification time `ahead`
// seconds from now (a run's newer checkpoint, without waiting for the clock).
static void put_model(const char *dir, const char *name, const char *text, size_t length, int ahead) {
    char *path = write_temp_file(dir, name, text, length);
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec += ahead;
    times[1] = times[0];
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    free(path);
}

static int lines_containing(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) n++;
    return n;
}

// A run writes a newest model that cannot be loaded: it is told once (it
// was tried again every second, its error dropped), the model before it
// goes on being served, a second broken version is told once more, and a
// good one then replaces the model.  (~6 s: the server looks at the run at
// most once a second, and "once" needs a few looks.)
static void a_broken_newest_model_is_told_once_and_the_old_one_served(void **state) {
    (void)state;
    char *run = make_temp_dir(), *history_path = join(toy_model_dir(), "attention_history.json");
    char *model_path = join(toy_model_dir(), "model.safetensors");
    size_t length;
    char *history = slurp(history_path, &length);
    free(write_temp_file(run, "attention_history.json", history, length));
    char *model = slurp(model_path, &length);
    put_model(run, "model.safetensors", model, length, 0);
    Server s = server_start_args((const char *const[]){"serve", "--run", run, "--port", "0", NULL});
    const int port = http_port_of(s.url);
    put_model(run, "last.safetensors", "not a model", 11, 5);
    for (int i = 0; i < 25; i++) {  // 2.5 s of requests: the run is looked at once a second
        HttpReply r = http_exchange(port, "POST", "/api/translate", "{\"text\": \"The ball is blue\"}", 10000);
        assert_int_equal(r.status, 200);
        expect_contains(r.body, "La bola es azul");
        http_reply_free(&r);
        sleep_ms(100);
    }
    assert_int_equal(model_version(&s), 1);
    put_model(run, "last.safetensors", "not a model either", 18, 10);  // a new version of it
    sleep_ms(1100);
    assert_int_equal(model_version(&s), 1);
    sleep_ms(1100);
    put_model(run, "last.safetensors", model, length, 15);
    sleep_ms(1100);
    assert_int_equal(model_version(&s), 2);
    char *err;
    assert_int_equal(server_stop(&s, &err), 0);
    if (lines_containing(err, "cannot be loaded") != 2) fail_msg("expected 2 failures told:\n%s", err);
    expect_contains(err, "the run's newest model, last.safetensors, cannot be loaded; still serving model version 1");
    free(err);
    free(model);
    free(model_path);
    free(history);
    free(history_path);
    remove_tree(run);
    free(run);
}

// ---------------------------------------------------------------- the command line

// Loopback unless told otherwise; flags and models checked before serving.
static void serve_checks_its_flags_and_model(void **state) {
    (void)state;
    Server s = server_start(NULL);
    expect_contains(s.url, "http://127.0.0.1:");
    char *out, *err;
    // the port is taken: a clear error, not a crash
    const char *port = strrchr(s.url, ':') + 1;
    char taken[16];
    snprintf(taken, sizeof taken, "%d", atoi(port));
    assert_int_equal(RUN(NULL, &out, &err, "serve", "--model", toy_model_dir(), "--port", taken), 1);
    expect_contains(err, "cannot listen on 127.0.0.1 port");
    free(out);
    free(err);
    assert_int_equal(server_stop(&s, NULL), 0);
    assert_int_equal(RUN(NULL, &out, &err, "serve", "--model", toy_model_dir(), "--port", "70000"), 2);
    expect_contains(err, "--port");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "serve", "--port", "0"), 2);
    expect_contains(err, "--model DIR|FILE or --run DIR is required");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "serve", "--model", "/nonexistent/model", "--port", "0"), 1);
    expect_contains(err, "/nonexistent/model");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "serve", "--model", toy_model_dir(), "--host", "no such host!", "--port", "0"), 1);
    expect_contains(err, "--host no such host!");
    free(out);
    free(err);
}

static const char *curl_missing(void) {
    return system("curl --version > /dev/null 2>&1") == 0 ? NULL : "no curl (apt-get install curl) for the HTTP tests";
}

// The status of GET url + path with the given Host header (curl: the
// server may listen on any loopback address).
static int status_with_host(const char *url, const char *path, const char *host) {
    char command[1024];
    snprintf(command, sizeof command, "curl -s -g -o /dev/null -w '%%{http_code}' -H 'Host: %s' '%s%s'", host, url,
             path + 1);
    FILE *p = popen(command, "r");
    int status = -1;
    if (!p || fscanf(p, "%d", &status) != 1) status = -1;
    if (p) pclose(p);
    return status;
}

// Every loopback form keeps the Host check against DNS rebinding (127.0.0.2
// and ::ffff:127.0.0.1 counted as the network before), and its own address
// is a good Host.
static void every_loopback_address_keeps_the_host_check(void **state) {
    (void)state;
    const char *hosts[][2] = {{"127.0.0.2", "127.0.0.2"}, {"::ffff:127.0.0.1", "[::ffff:127.0.0.1]"}};
    for (int i = 0; i < 2; i++) {
        Server s = server_start((const char *const[]){"--host", hosts[i][0], NULL});
        char own[128];
        snprintf(own, sizeof own, "%s:%d", hosts[i][1], http_port_of(s.url));
        assert_int_equal(status_with_host(s.url, "/api/model", "rebound.example"), 403);
        assert_int_equal(status_with_host(s.url, "/api/model", own), 200);
        assert_int_equal(status_with_host(s.url, "/api/model", "localhost"), 200);
        char *err;
        assert_int_equal(server_stop(&s, &err), 0);
        assert_null(strstr(err, "warning"));
        free(err);
    }
}

// --host 0.0.0.0 says what it opens to the network.
static void listening_beyond_loopback_warns(void **state) {
    (void)state;
    Server s = server_start((const char *const[]){"--host", "0.0.0.0", NULL});
    char *err;
    assert_int_equal(server_stop(&s, &err), 0);
    expect_contains(err, "azul: warning: listening on 0.0.0.0, beyond this machine: whoever can reach port ");
    expect_contains(err, "can translate with the model, inspect its attention, read its config and training "
                         "options; there is no authentication");
    free(err);
}

// No reply names a path of the server's: the saved --corpus and --valid are
// their files' names, and an error about a run's file leaves its directory out.
static void no_reply_names_a_path_of_the_server(void **state) {
    (void)state;
    char *run = long_run_dir();
    Server s = server_start_args((const char *const[]){"serve", "--model", run, "--port", "0", NULL});
    const int port = http_port_of(s.url);
    HttpReply r = http_exchange(port, "GET", "/api/model", NULL, 10000);
    assert_int_equal(r.status, 200);
    expect_contains(r.body, "\"corpus\":\"train.tsv\",\"valid\":\"dev.tsv\"");
    assert_null(strstr(r.body, "toy-en-es"));
    http_reply_free(&r);
    free(write_temp_file(run, "attention_history.json", "{\"broken", 8));
    char *log = join(run, "train.log");
    assert_int_equal(chmod(log, 0), 0);
    const char *paths[] = {"/api/history", "/api/curves"};
    for (int i = 0; i < 2; i++) {
        r = http_exchange(port, "GET", paths[i], NULL, 10000);
        if (getuid() != 0 || i == 0) {  // root reads a file of mode 0
            assert_int_equal(r.status, 500);
            expect_contains(r.body, i == 0 ? "attention_history.json" : "train.log");
            if (strstr(r.body, run)) fail_msg("%s names the run's directory: %s", paths[i], r.body);
        }
        http_reply_free(&r);
    }
    chmod(log, 0644);
    free(log);
    assert_int_equal(server_stop(&s, NULL), 0);
    remove_tree(run);
    free(run);
}

// ---------------------------------------------------------------- in a browser

// Evaluates js (an expression, or a Promise) and fails the test unless its
// JSON value is `expected`.
static void expect_eval(Cdp *c, const char *js, const char *expected) {
    char *got = cdp_eval(c, js, 20000);
    if (!got) fail_msg("%s\nfailed: %s", js, cdp_error(c));
    if (strcmp(got, expected) != 0) fail_msg("%s\ngave %s, expected %s", js, got, expected);
    free(got);
}

// A Promise that resolves to `condition` once it holds, or to its last
// value after 15 s (the page's own timers keep running meanwhile).
static char *until(const char *condition) {
    static char js[1024];
    snprintf(js, sizeof js,
             "new Promise(done => { const started = Date.now(); const check = () => {"
             " let v; try { v = (%s); } catch (e) { v = false; }"
             " if (v || Date.now() - started > 15000) done(v); else setTimeout(check, 50); }; check(); })",
             condition);
    return js;
}

static void type_into_the_box(Cdp *c, const char *text) {
    expect_eval(c, "(() => { const t = document.getElementById('text'); t.focus(); t.select(); return true; })()", "true");
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "text", text);
    cJSON *result = cdp_call(c, "Input.insertText", params, 10000);  // as typing it would
    if (!result) fail_msg("typing: %s", cdp_error(c));
    cJSON_Delete(result);
}

// The playground of a run (serve --run): its curves, and the history slider
// dragged from the last validation to the first.
static void drag_through_a_run(Cdp *c) {
    char *run = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                         "data/toy-en-es/dev.tsv", "--out", run, "--steps", "60", "--valid-every", "20",
                         "--log-every", "20", "--threads", "1"), 0);
    free(out);
    free(err);
    Server s = server_start_args((const char *const[]){"serve", "--run", run, "--port", "0", NULL});
    if (cdp_navigate(c, s.url, 20000) < 0) fail_msg("%s", cdp_error(c));
    expect_eval(c, until("!document.getElementById('history-panel').hidden"), "true");
    expect_eval(c, until("document.getElementById('curves').dataset.points"), "\"6\"");  // 3 train, 3 dev
    expect_eval(c, "document.querySelector('#history .history-step').max", "\"2\"");
    expect_eval(c, "document.getElementById('history').dataset.step", "\"60\"");
    expect_eval(c, "(() => { const s = document.querySelector('#history .history-step'); s.value = 0;"
                   " s.dispatchEvent(new Event('input')); return document.getElementById('history').dataset.step; })()",
                "\"20\"");
    expect_eval(c, "document.querySelector('#history .history-caption').textContent.startsWith('step 20: dev loss')",
                "true");
    expect_eval(c, "document.getElementById('history-view').dataset.thumbnails", "\"8\"");
    if (cdp_console_errors(c)) fail_msg("console error: %s", cdp_first_console_error(c));
    assert_int_equal(server_stop(&s, NULL), 0);
    // the same slider on the page of `azul attention --format html --history`
    char *page = join(run, "history.html"), url[4200];
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--format", "html", "--history", run, "-o", page), 0);
    free(out);
    free(err);
    snprintf(url, sizeof url, "file://%s", page);
    if (cdp_navigate(c, url, 20000) < 0) fail_msg("%s", cdp_error(c));
    expect_eval(c, until("document.body.dataset.ready"), "\"1\"");
    expect_eval(c, "(() => { const s = document.querySelector('#history .history-step'); s.value = 1;"
                   " s.dispatchEvent(new Event('input')); return document.getElementById('history').dataset.step; })()",
                "\"40\"");
    expect_eval(c, "document.getElementById('view').dataset.thumbnails", "\"8\"");
    expect_eval(c, "document.body.dataset.errors || 0", "0");
    if (cdp_console_errors(c)) fail_msg("console error: %s", cdp_first_console_error(c));
    free(page);
    remove_tree(run);
    free(run);
}

// Headless Chromium drives the playground as a learner would: types the
// seed sentence, waits for its translation, finds the alignment links and
// heat maps drawn, clicks "bola" for its explanation, and leaves a
// screenshot; a sentence of markup stays text; no console error anywhere.
static void the_playground_works_in_a_browser(void **state) {
    (void)state;
    Server s = server_start(NULL);
    char why[512];
    Cdp *c = cdp_open(find_chromium(), s.dir, why, sizeof why);
    if (!c) fail_msg("%s", why);
    if (cdp_navigate(c, s.url, 20000) < 0) fail_msg("%s", cdp_error(c));
    expect_eval(c, until("document.getElementById('model-info').textContent.includes('toy preset')"), "true");
    type_into_the_box(c, "The ball is blue");
    expect_eval(c, until("document.body.dataset.translation"), "\"La bola es azul\"");
    // one link per aligned word pair, and every cross-attention map drawn
    expect_eval(c, "document.querySelectorAll('#alignment-links line').length", "4");
    expect_eval(c, "document.getElementById('attention').dataset.thumbnails", "\"8\"");
    expect_eval(c, "document.querySelectorAll('#attention .attention-headview line').length > 4", "true");
    expect_eval(c, "document.querySelectorAll('#nbest li').length", "4");
    // "bola": its cross-attention, step by step, looking at "ball"
    expect_eval(c, "(() => { const b = [...document.querySelectorAll('#tokens .token.clickable')]"
                   ".find(t => t.firstChild.textContent === '\u2581bola'); b.click(); return true; })()", "true");
    expect_eval(c, until("document.getElementById('explanation').dataset.query"), "\"\u2581bola\"");
    expect_eval(c, "document.querySelectorAll('#explanation tr').length", "6");  // a header and 5 keys
    expect_eval(c, "document.getElementById('explanation').textContent.includes('looks most at \"\u2581ball\"')", "true");
    mkdir("build", 0755);
    mkdir("build/test-output", 0755);
    expect_eval(c, "(window.scrollTo(0, 0), true)", "true");
    if (cdp_screenshot(c, "build/test-output/playground.png") < 0) fail_msg("%s", cdp_error(c));
    // markup typed as a sentence is shown as its characters, never parsed
    type_into_the_box(c, "</script><img src=x onerror=alert(1)>");
    expect_eval(c, until("document.getElementById('source-words').textContent.includes('<img')"), "true");
    expect_eval(c, "document.querySelectorAll('img').length", "0");
    expect_eval(c, "document.body.dataset.errors || 0", "0");
    if (cdp_console_errors(c)) fail_msg("console error: %s", cdp_first_console_error(c));
    assert_int_equal(server_stop(&s, NULL), 0);
    drag_through_a_run(c);
    cdp_close(c);
    struct stat st;
    assert_int_equal(stat("build/test-output/playground.png", &st), 0);
    printf("  screenshot: build/test-output/playground.png (%lld bytes)\n", (long long)st.st_size);
}

// The requests a server answers at once and the OpenMP team of each, as its
// first line says them.
static void threads_of(const Server *s, int *requests, int *team) {
    char *out = join(s->dir, "stdout"), *text = slurp(out, NULL);
    const char *at = text ? strstr(text, "/ (") : NULL, *once = at ? strstr(at, " at once, ") : NULL;
    if (!once || sscanf(at, "/ (%d request", requests) != 1 ||
        sscanf(once, " at once, %d OpenMP", team) != 1) {
        fail_msg("no thread counts in: %s", text ? text : "(nothing)");
    }
    free(text);
    free(out);
}

// Each request of the pool computes with its own OpenMP team: together they
// never outnumber the cores, by default or when asked for fewer requests.
static void the_pool_and_its_teams_fit_the_cores(void **state) {
    (void)state;
    const int cores = omp_get_num_procs();
    int requests, team;
    Server s = server_start(NULL);
    threads_of(&s, &requests, &team);
    assert_int_equal(server_stop(&s, NULL), 0);
    assert_true(requests >= 1 && team >= 1);
    assert_true(requests * team <= (cores > 1 ? cores : 1));
    s = server_start((const char *const[]){"--threads", "1", NULL});
    threads_of(&s, &requests, &team);
    assert_int_equal(server_stop(&s, NULL), 0);
    assert_int_equal(requests, 1);
    assert_int_equal(team, cores);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(the_model_and_the_page_are_served),
    cmocka_unit_test(the_pool_and_its_teams_fit_the_cores),
    cmocka_unit_test(translate_answers_with_tokens_and_alignment),
    cmocka_unit_test(attention_and_explain_match_the_attention_command),
    cmocka_unit_test(bad_requests_get_clear_errors),
    cmocka_unit_test(bodies_over_64_KiB_are_refused),
    cmocka_unit_test(markup_in_a_sentence_stays_text),
    cmocka_unit_test(two_hundred_concurrent_requests_are_all_answered),
    cmocka_unit_test(every_route_answers_eight_threads_as_it_answers_one),
    cmocka_unit_test(a_sentence_slow_to_normalise_is_refused_at_once),
    cmocka_unit_test(an_attention_reply_over_its_size_limit_is_refused),
    cmocka_unit_test(a_translation_over_its_time_limit_gets_503_while_others_go_on),
    cmocka_unit_test(a_trickling_client_is_cut_off),
    cmocka_unit_test(one_address_holds_at_most_its_connections),
    cmocka_unit_test(an_endless_body_is_answered_and_closed),
    cmocka_unit_test(a_broken_newest_model_is_told_once_and_the_old_one_served),
    cmocka_unit_test(ctrl_c_finishes_the_request_under_way),
    cmocka_unit_test(a_live_run_is_followed_as_it_trains),
    cmocka_unit_test(serve_checks_its_flags_and_model),
    cmocka_unit_test(every_loopback_address_keeps_the_host_check),
    cmocka_unit_test(listening_beyond_loopback_warns),
    cmocka_unit_test(no_reply_names_a_path_of_the_server),
};
TEST_GROUP_UNLESS(serve_tests, tests, curl_missing);

static const char *browser_or_curl_missing(void) {
    if (!find_chromium()) return "no Chromium (apt-get install chromium) for the playground check";
    return curl_missing();
}

static const struct CMUnitTest browser[] = {
    cmocka_unit_test(the_playground_works_in_a_browser),
};
TEST_GROUP_UNLESS(playground_tests, browser, browser_or_curl_missing);
