// A Chrome DevTools Protocol client over --remote-debugging-pipe (see cdp.h).
//
// Commands go out as {"id", "method", "params", "sessionId"} followed by a
// NUL; replies carry the same id, events carry a "method" and no id. Browser
// commands (Target.*, Browser.*) go without a sessionId, page commands with
// the flat session that Target.attachToTarget returned.
#include "tests/cdp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    START_MS = 60000,       // a cold start on a busy machine takes several seconds
    SCREENSHOT_MS = 30000,
    CLOSE_MS = 5000,        // Browser.close ends the process well within this
    READ_CHUNK = 1 << 16,   // one pipe's worth
    VIEWPORT_WIDTH = 1200,
    VIEWPORT_HEIGHT = 900,
    MAX_CLOSED_FD = 1 << 16,
};

struct Cdp {
    pid_t pid;                     // the browser, leader of its own process group
    int to_browser, from_browser;  // our ends of the browser's fds 3 and 4
    // Bytes read from the browser: [start, length) not yet handed out, of
    // which [start, scanned) are known to hold no NUL.
    char *inbox;
    size_t start, scanned, length, capacity;
    int next_id;
    char *session;                 // the page's flat session
    bool loaded;                   // a Page.loadEventFired arrived
    int console_errors;
    char *first_console_error;
    char *dir, *log_path;          // the profile and the browser's stderr live in dir
    char error[1024];
};

// ---------------------------------------------------------------- time and errors

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline) {
    long long left = deadline - now_ms();
    return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static void fail(Cdp *c, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(c->error, sizeof c->error, format, args);
    va_end(args);
}

// Puts "what: " in front of the current error.
static void fail_in(Cdp *c, const char *what) {
    char reason[sizeof c->error];
    memcpy(reason, c->error, sizeof reason);
    fail(c, "%s: %s", what, reason);
}

// ---------------------------------------------------------------- starting the browser

// In the child, between fork and exec: only async-signal-safe calls, since
// the test process may have threads (OpenMP) holding malloc's locks. The
// pipes become fds 3 and 4 and nothing else is inherited: a stray copy of
// some other pipe, held by a browser that outlives its test, would keep that
// pipe from ever reaching end-of-file.
static void exec_browser(char *const argv[], int commands, int replies, int log, int max_fd) {
    // Everything above 4 first, so that no dup2 below overwrites a source.
    int in = fcntl(commands, F_DUPFD, 5), out = fcntl(replies, F_DUPFD, 5), err = fcntl(log, F_DUPFD, 5);
    int null = open("/dev/null", O_RDONLY);
    if (in < 0 || out < 0 || err < 0 || null < 0) _exit(126);
    dup2(null, 0);
    dup2(err, 1);
    dup2(err, 2);
    dup2(in, 3);
    dup2(out, 4);
    for (int fd = 5; fd < max_fd; fd++) close(fd);
    // Its own process group, so that a browser that will not close can be
    // killed with its renderers.
    setpgid(0, 0);
    execv(argv[0], argv);
    static const char message[] = "cdp: cannot execute the browser\n";
    if (write(2, message, sizeof message - 1) < 0) _exit(127);
    _exit(127);
}

static int open_files_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur > MAX_CLOSED_FD) return MAX_CLOSED_FD;
    return (int)limit.rlim_cur;
}

// Our ends must not leak into other children, and must never block: every
// wait is a poll with a deadline.
static void keep_private(int fd) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int spawn_browser(Cdp *c, const char *chromium) {
    // A missing browser would otherwise only show as an early end-of-file.
    if (access(chromium, X_OK) != 0) return fail(c, "cannot run %s: %s", chromium, strerror(errno)), -1;
    char profile[PATH_MAX + 32], window[64];
    snprintf(profile, sizeof profile, "--user-data-dir=%s/profile", c->dir);
    snprintf(window, sizeof window, "--window-size=%d,%d", VIEWPORT_WIDTH, VIEWPORT_HEIGHT);
    // The flags of the --dump-dom check in test_attention.c, the pipe, and
    // about:blank as the first tab instead of the heavier new-tab page.
    char *argv[] = {(char *)chromium, "--headless", "--disable-gpu", "--no-first-run",
                    "--no-default-browser-check", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--enable-logging=stderr", "--v=0", window, profile, "--remote-debugging-pipe",
                    "about:blank", geteuid() == 0 ? "--no-sandbox" : NULL, NULL};
    int log = open(c->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) return fail(c, "cannot create %s: %s", c->log_path, strerror(errno)), -1;
    int commands[2], replies[2];
    if (pipe(commands) != 0) return fail(c, "pipe: %s", strerror(errno)), close(log), -1;
    if (pipe(replies) != 0) {
        fail(c, "pipe: %s", strerror(errno));
        close(commands[0]), close(commands[1]), close(log);
        return -1;
    }
    int max_fd = open_files_limit();
    c->pid = fork();
    if (c->pid == 0) exec_browser(argv, commands[0], replies[1], log, max_fd);
    if (c->pid > 0) setpgid(c->pid, c->pid);  // as the child does: whichever runs first
    close(commands[0]), close(replies[1]), close(log);
    c->to_browser = commands[1], c->from_browser = replies[0];
    keep_private(c->to_browser);
    keep_private(c->from_browser);
    if (c->pid < 0) return fail(c, "fork: %s", strerror(errno)), -1;
    return 0;
}

// A fresh directory under work_dir for the profile and the log, so that two
// browsers in one work_dir do not share either.
static int make_browser_dir(Cdp *c, const char *work_dir) {
    size_t n = strlen(work_dir) + sizeof "/chromium-XXXXXX";
    c->dir = malloc(n);
    c->log_path = malloc(n + sizeof "/stderr.log");
    if (!c->dir || !c->log_path) return fail(c, "out of memory"), -1;
    snprintf(c->dir, n, "%s/chromium-XXXXXX", work_dir);
    if (!mkdtemp(c->dir)) return fail(c, "cannot create a directory in %s: %s", work_dir, strerror(errno)), -1;
    if (strlen(c->dir) + 32 > PATH_MAX) return fail(c, "%s: path too long", c->dir), -1;
    snprintf(c->log_path, n + sizeof "/stderr.log", "%s/stderr.log", c->dir);
    return 0;
}

// ---------------------------------------------------------------- the pipe

static int write_all(Cdp *c, const char *bytes, size_t n, long long deadline) {
    while (n > 0) {
        struct pollfd p = {c->to_browser, POLLOUT, 0};
        int ready = poll(&p, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return fail(c, "timed out writing to the browser"), -1;
        ssize_t written = ready < 0 ? -1 : write(c->to_browser, bytes, n);
        if (written < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (written < 0) return fail(c, "the browser stopped reading: %s", strerror(errno)), -1;
        bytes += written;
        n -= (size_t)written;
    }
    return 0;
}

// Sends one command; params (NULL: none) is taken.
static int send_command(Cdp *c, int id, const char *session, const char *method, cJSON *params,
                        long long deadline) {
    cJSON *message = cJSON_CreateObject();
    cJSON_AddNumberToObject(message, "id", id);
    cJSON_AddStringToObject(message, "method", method);
    if (session) cJSON_AddStringToObject(message, "sessionId", session);
    if (!params) params = cJSON_CreateObject();
    if (!cJSON_AddItemToObject(message, "params", params)) cJSON_Delete(params);
    char *text = cJSON_PrintUnformatted(message);
    cJSON_Delete(message);
    if (!text) return fail(c, "out of memory"), -1;
    int status = write_all(c, text, strlen(text) + 1, deadline);  // the NUL ends the message
    cJSON_free(text);
    return status;
}

// Reads at least one more byte into the inbox, first dropping the messages
// already handed out and making room for a whole pipe's worth.
static int fill_inbox(Cdp *c, long long deadline) {
    memmove(c->inbox, c->inbox + c->start, c->length - c->start);
    c->length -= c->start, c->scanned -= c->start, c->start = 0;
    if (c->capacity - c->length < READ_CHUNK) {
        size_t capacity = c->capacity * 2 + READ_CHUNK;
        char *inbox = realloc(c->inbox, capacity);
        if (!inbox) return fail(c, "out of memory for a %zu-byte message", c->length), -1;
        c->inbox = inbox, c->capacity = capacity;
    }
    for (;;) {
        struct pollfd p = {c->from_browser, POLLIN, 0};
        int ready = poll(&p, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return fail(c, "timed out waiting for the browser"), -1;
        ssize_t got = ready < 0 ? -1 : read(c->from_browser, c->inbox + c->length, c->capacity - c->length);
        if (got > 0) return c->length += (size_t)got, 0;
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got == 0) return fail(c, "the browser exited (its log: %s)", c->log_path), -1;
        return fail(c, "reading from the browser: %s", strerror(errno)), -1;
    }
}

// The next whole message, or NULL at the deadline or when the browser is gone.
static cJSON *next_message(Cdp *c, long long deadline) {
    for (;;) {
        char *end = memchr(c->inbox + c->scanned, '\0', c->length - c->scanned);
        if (end) {
            const char *text = c->inbox + c->start;
            c->start = c->scanned = (size_t)(end - c->inbox) + 1;
            cJSON *message = cJSON_Parse(text);
            if (!message) fail(c, "the browser sent something that is not JSON: %.80s", text);
            return message;
        }
        c->scanned = c->length;
        if (fill_inbox(c, deadline) != 0) return NULL;
    }
}

// ---------------------------------------------------------------- events

static void record_console_error(Cdp *c, const char *kind, const char *text) {
    c->console_errors++;
    if (c->first_console_error) return;
    size_t n = strlen(kind) + strlen(text) + 3;
    c->first_console_error = malloc(n);
    if (c->first_console_error) snprintf(c->first_console_error, n, "%s: %s", kind, text);
}

static const char *string_at(const cJSON *object, const char *key) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, key));
}

// An exception's message with its stack ("Error: boom\n    at f (file:///…)"),
// or the short text when the thrown value was not an Error.
static const char *exception_text(const cJSON *details) {
    const char *description = string_at(cJSON_GetObjectItemCaseSensitive(details, "exception"), "description");
    const char *text = string_at(details, "text");
    return description ? description : text ? text : "(no description)";
}

// console.error's arguments as the console shows them, space-separated.
static void describe_arguments(const cJSON *args, char *text, size_t n) {
    size_t used = 0;
    text[0] = '\0';
    const cJSON *arg;
    cJSON_ArrayForEach(arg, args) {
        const char *shown = string_at(arg, "value");  // strings
        if (!shown) shown = string_at(arg, "description");  // numbers, objects, errors
        if (!shown) shown = string_at(arg, "type");  // undefined
        if (!shown || used >= n) continue;
        used += (size_t)snprintf(text + used, n - used, "%s%s", used ? " " : "", shown);
    }
}

static void note_event(Cdp *c, const cJSON *message) {
    const char *method = string_at(message, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(message, "params");
    char text[1024];
    if (!method) return;
    if (strcmp(method, "Page.loadEventFired") == 0) {
        c->loaded = true;
    } else if (strcmp(method, "Runtime.exceptionThrown") == 0) {
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(params, "exceptionDetails");
        const char *kind = string_at(details, "text");  // "Uncaught", "Uncaught (in promise)"
        record_console_error(c, kind ? kind : "Uncaught", exception_text(details));
    } else if (strcmp(method, "Runtime.consoleAPICalled") == 0) {
        const char *type = string_at(params, "type");
        if (!type || (strcmp(type, "error") != 0 && strcmp(type, "assert") != 0)) return;
        describe_arguments(cJSON_GetObjectItemCaseSensitive(params, "args"), text, sizeof text);
        record_console_error(c, strcmp(type, "error") == 0 ? "console.error" : "console.assert", text);
    } else if (strcmp(method, "Log.entryAdded") == 0) {
        const cJSON *entry = cJSON_GetObjectItemCaseSensitive(params, "entry");
        const char *level = string_at(entry, "level"), *source = string_at(entry, "source");
        const char *message = string_at(entry, "text"), *url = string_at(entry, "url");
        if (!level || strcmp(level, "error") != 0) return;
        snprintf(text, sizeof text, "%s%s%s", message ? message : "", url ? " " : "", url ? url : "");
        record_console_error(c, source ? source : "log", text);  // "network: Failed to load…"
    } else if (strcmp(method, "Inspector.targetCrashed") == 0) {
        record_console_error(c, "crash", "the page's renderer crashed");
    }
}

// ---------------------------------------------------------------- commands

// The reply's "result", or NULL with the protocol's error message.
static cJSON *take_result(Cdp *c, const char *method, cJSON *reply) {
    cJSON *result = cJSON_DetachItemFromObjectCaseSensitive(reply, "result");
    if (!result) {
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(reply, "error");
        const char *message = string_at(error, "message"), *data = string_at(error, "data");
        fail(c, "%s: %s%s%s", method, message ? message : "no result in the reply", data ? ": " : "",
             data ? data : "");
    }
    cJSON_Delete(reply);
    return result;
}

// One command in the given session (NULL: to the browser itself).
static cJSON *call_in(Cdp *c, const char *session, const char *method, cJSON *params, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    int id = ++c->next_id;
    if (send_command(c, id, session, method, params, deadline) != 0) return fail_in(c, method), NULL;
    for (;;) {
        cJSON *message = next_message(c, deadline);
        if (!message) return fail_in(c, method), NULL;
        const cJSON *reply_id = cJSON_GetObjectItemCaseSensitive(message, "id");
        if (!reply_id) note_event(c, message);
        else if (cJSON_IsNumber(reply_id) && reply_id->valueint == id) return take_result(c, method, message);
        // Anything else is the late reply to a call that timed out.
        cJSON_Delete(message);
    }
}

cJSON *cdp_call(Cdp *c, const char *method, cJSON *params, int timeout_ms) {
    return call_in(c, c->session, method, params, timeout_ms);
}

// A page of its own (Target.createTarget), attached with a flat session so
// that its commands travel on the same pipe, tagged with a sessionId.
static int open_page(Cdp *c) {
    long long deadline = now_ms() + START_MS;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "url", "about:blank");
    cJSON *target = call_in(c, NULL, "Target.createTarget", params, remaining_ms(deadline));
    const char *target_id = string_at(target, "targetId");
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "targetId", target_id ? target_id : "");
    cJSON_AddBoolToObject(params, "flatten", 1);
    cJSON *attached = target_id ? call_in(c, NULL, "Target.attachToTarget", params, remaining_ms(deadline)) : NULL;
    if (!target_id) cJSON_Delete(params);
    const char *session = string_at(attached, "sessionId");
    if (session) c->session = strdup(session);
    if (target && !target_id) fail(c, "Target.createTarget: no targetId");
    if (attached && !session) fail(c, "Target.attachToTarget: no sessionId");
    cJSON_Delete(target);
    cJSON_Delete(attached);
    if (!c->session) return -1;
    const char *domains[] = {"Runtime.enable", "Page.enable", "Log.enable"};
    for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
        cJSON *done = cdp_call(c, domains[i], NULL, remaining_ms(deadline));
        if (!done) return -1;
        cJSON_Delete(done);
    }
    // New headless Chromium draws a pretend toolbar inside the window, so the
    // page would get 87 pixels less than --window-size; emulation makes the
    // viewport (and so every screenshot) exactly this size.
    params = cJSON_CreateObject();
    cJSON_AddNumberToObject(params, "width", VIEWPORT_WIDTH);
    cJSON_AddNumberToObject(params, "height", VIEWPORT_HEIGHT);
    cJSON_AddNumberToObject(params, "deviceScaleFactor", 1);
    cJSON_AddBoolToObject(params, "mobile", 0);
    cJSON *done = cdp_call(c, "Emulation.setDeviceMetricsOverride", params, remaining_ms(deadline));
    bool emulated = done != NULL;
    cJSON_Delete(done);
    return emulated ? 0 : -1;
}

Cdp *cdp_open(const char *chromium, const char *work_dir, char *why, size_t n) {
    signal(SIGPIPE, SIG_IGN);  // a dead browser makes writes fail with EPIPE instead
    Cdp *c = calloc(1, sizeof *c);
    char *inbox = malloc(READ_CHUNK);
    if (!c || !inbox) {
        snprintf(why, n, "out of memory");
        return free(c), free(inbox), NULL;
    }
    *c = (Cdp){.pid = -1, .to_browser = -1, .from_browser = -1, .inbox = inbox, .capacity = READ_CHUNK};
    if (make_browser_dir(c, work_dir) == 0 && spawn_browser(c, chromium) == 0 && open_page(c) == 0) return c;
    if (c->pid > 0 && !strstr(c->error, c->log_path)) snprintf(why, n, "%s (browser log: %s)", c->error, c->log_path);
    else snprintf(why, n, "%s", c->error);
    cdp_close(c);
    return NULL;
}

// ---------------------------------------------------------------- the page

static int wait_for_load(Cdp *c, long long deadline) {
    while (!c->loaded) {
        cJSON *message = next_message(c, deadline);
        if (!message) return fail_in(c, "waiting for the load event"), -1;
        if (!cJSON_GetObjectItemCaseSensitive(message, "id")) note_event(c, message);
        cJSON_Delete(message);
    }
    return 0;
}

int cdp_navigate(Cdp *c, const char *url, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "url", url);
    c->loaded = false;
    cJSON *result = cdp_call(c, "Page.navigate", params, timeout_ms);
    if (!result) return -1;
    // A missing file or host is not a protocol error but an errorText.
    const char *failure = string_at(result, "errorText");
    if (failure) fail(c, "Page.navigate %s: %s", url, failure);
    // Only a change of #fragment stays in the document: no loader, no load event.
    bool same_document = !cJSON_GetObjectItemCaseSensitive(result, "loaderId");
    cJSON_Delete(result);
    if (failure) return -1;
    return same_document ? 0 : wait_for_load(c, deadline);
}

// A by-value RemoteObject as JSON text, malloc'd.
static char *remote_value_json(const cJSON *remote) {
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(remote, "value");
    const char *unserializable = string_at(remote, "unserializableValue");
    if (!value) return strdup(unserializable ? unserializable : "null");
    char *printed = cJSON_PrintUnformatted(value);
    char *json = printed ? strdup(printed) : NULL;  // malloc'd, whatever cJSON's hooks are
    cJSON_free(printed);
    return json;
}

char *cdp_eval(Cdp *c, const char *js, int timeout_ms) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "expression", js);
    cJSON_AddBoolToObject(params, "awaitPromise", 1);
    cJSON_AddBoolToObject(params, "returnByValue", 1);
    cJSON *result = cdp_call(c, "Runtime.evaluate", params, timeout_ms);
    if (!result) return NULL;
    const cJSON *thrown = cJSON_GetObjectItemCaseSensitive(result, "exceptionDetails");
    char *json = NULL;
    if (thrown) fail(c, "Runtime.evaluate: the script threw %s", exception_text(thrown));
    else if (!(json = remote_value_json(cJSON_GetObjectItemCaseSensitive(result, "result")))) fail(c, "out of memory");
    cJSON_Delete(result);
    return json;
}

static int base64_digit(char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

// Base64 as the protocol sends it (RFC 4648: padded, no line breaks) to
// bytes, malloc'd; NULL when malformed.
static unsigned char *base64_decode(const char *text, size_t *n) {
    size_t length = strlen(text);
    unsigned char *bytes = length % 4 == 0 ? malloc(length / 4 * 3 + 1) : NULL;
    if (!bytes) return NULL;
    *n = 0;
    for (size_t i = 0; i < length; i += 4) {
        // '=' pads only the last group, at its end.
        int padding = i + 4 < length ? 0 : text[i + 3] != '=' ? 0 : text[i + 2] != '=' ? 1 : 2;
        uint32_t group = 0;
        for (int k = 0; k < 4; k++) {
            int digit = k < 4 - padding ? base64_digit(text[i + (size_t)k]) : 0;
            if (digit < 0) return free(bytes), NULL;
            group = group << 6 | (uint32_t)digit;
        }
        bytes[(*n)++] = (unsigned char)(group >> 16);
        if (padding < 2) bytes[(*n)++] = (unsigned char)(group >> 8);
        if (padding < 1) bytes[(*n)++] = (unsigned char)group;
    }
    return bytes;
}

static int write_file(Cdp *c, const char *path, const unsigned char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail(c, "cannot create %s: %s", path, strerror(errno)), -1;
    bool written = fwrite(bytes, 1, n, f) == n;
    if (fclose(f) != 0 || !written) return fail(c, "cannot write %s", path), -1;
    return 0;
}

int cdp_screenshot(Cdp *c, const char *png_path) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "format", "png");
    cJSON *result = cdp_call(c, "Page.captureScreenshot", params, SCREENSHOT_MS);
    if (!result) return -1;
    const char *data = string_at(result, "data");
    size_t n = 0;
    unsigned char *png = data ? base64_decode(data, &n) : NULL;
    int status = -1;
    if (png) status = write_file(c, png_path, png, n);
    else fail(c, "Page.captureScreenshot: no base64 image in the reply");
    free(png);
    cJSON_Delete(result);
    return status;
}

int cdp_console_errors(const Cdp *c) { return c->console_errors; }
const char *cdp_first_console_error(const Cdp *c) { return c->first_console_error; }
const char *cdp_error(const Cdp *c) { return c->error; }
const char *cdp_log_path(const Cdp *c) { return c->log_path; }

// ---------------------------------------------------------------- closing

// Waits up to CLOSE_MS for the browser to exit, then kills its process group
// (renderers and zygotes with it). The group cannot have been reused: its
// leader is our child, not yet reaped.
static void reap(pid_t pid) {
    long long deadline = now_ms() + CLOSE_MS;
    for (;;) {
        pid_t done = waitpid(pid, NULL, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR)) return;
        if (now_ms() >= deadline) break;
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);  // in case it never made its own group
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

void cdp_close(Cdp *c) {
    if (!c) return;
    if (c->pid > 0 && c->to_browser >= 0) {
        cJSON_Delete(call_in(c, NULL, "Browser.close", NULL, CLOSE_MS));
    }
    // Closing our ends is the browser's other cue to exit.
    if (c->to_browser >= 0) close(c->to_browser);
    if (c->from_browser >= 0) close(c->from_browser);
    if (c->pid > 0) reap(c->pid);
    free(c->inbox);
    free(c->session);
    free(c->first_console_error);
    free(c->dir);
    free(c->log_path);
    free(c);
}
