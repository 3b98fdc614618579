// A tiny Chrome DevTools Protocol client for the browser tests.
//
// It drives headless Chromium over --remote-debugging-pipe: the browser reads
// JSON commands, each ended by a NUL byte, from its fd 3 and writes replies
// and events the same way to its fd 4. No websocket, no HTTP port, nothing
// but a fork, two pipes and cJSON. Every wait has a deadline, so a browser
// that hangs or dies fails the test instead of hanging it.
//
//     Cdp *c = cdp_open("/usr/bin/chromium", dir, why, sizeof why);
//     cdp_navigate(c, "file:///tmp/page.html", 10000);
//     char *ready = cdp_eval(c, "document.body.dataset.ready", 5000);  // "\"1\""
//     cdp_screenshot(c, "build/test-output/page.png");
//     if (cdp_console_errors(c)) fail_msg("%s", cdp_first_console_error(c));
//     cdp_close(c);
#ifndef AZUL_TESTS_CDP_H
#define AZUL_TESTS_CDP_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct Cdp Cdp;

// Starts headless Chromium with a fresh profile in a new directory under
// work_dir (which also holds the browser's stderr, see cdp_log_path), opens
// one page and enables its Runtime, Page and Log domains. Returns NULL with
// the reason in why (n bytes) on failure. Sets SIGPIPE to SIG_IGN for the
// whole process: a browser that dies must turn writes into errors, not kill
// the test run.
Cdp *cdp_open(const char *chromium, const char *work_dir, char *why, size_t n);

// Sends one command (params taken, may be NULL) to the page and waits up to
// timeout_ms for its reply. Returns the reply's "result" (the caller
// cJSON_Deletes it), or NULL with the reason in cdp_error. Events that arrive
// meanwhile are inspected for console errors (below).
cJSON *cdp_call(Cdp *c, const char *method, cJSON *params, int timeout_ms);

// Loads url and waits for its load event. 0, or -1 (see cdp_error).
int cdp_navigate(Cdp *c, const char *url, int timeout_ms);

// Evaluates js in the page, awaiting it when it is a Promise. Returns the
// value as malloc'd JSON text ("true", "\"La bola es azul\"", "null" for
// undefined; NaN, Infinity, -0 and BigInts as JavaScript writes them), or
// NULL when it threw or timed out (cdp_error says which).
char *cdp_eval(Cdp *c, const char *js, int timeout_ms);

// Writes a PNG of the page's viewport to png_path. 0, or -1.
int cdp_screenshot(Cdp *c, const char *png_path);

// Console errors seen so far: uncaught exceptions, console.error and failed
// console.assert calls, and the browser's own error entries (a resource that
// failed to load, say).
int cdp_console_errors(const Cdp *c);
const char *cdp_first_console_error(const Cdp *c);  // NULL when there is none

// Why the last call failed.
const char *cdp_error(const Cdp *c);

// The file holding the browser's stderr, to read when something goes wrong.
const char *cdp_log_path(const Cdp *c);

// Asks the browser to close, kills it if it lingers, frees everything (the
// profile directory stays under work_dir, for the caller to remove).
void cdp_close(Cdp *c);

#endif
