// The playground's answers, apart from HTTP: one request (method, path,
// body) in, one reply (status, type, body) out.  serve/http_server.c puts
// them on the wire; the tests call them directly too.
//
//   GET  /                     the playground page (and its .js and .css)
//   GET  /api/model            config, vocabulary sizes, how it was trained,
//                              whether the run has an attention history
//   GET  /api/history          the run's attention history (azul train --watch)
//   GET  /api/curves           the run's loss and BLEU curves, from its train.log
//   POST /api/translate        {"text", "beam"?, "n_best"?} → translations with
//                              scores, tokens and word alignments
//   POST /api/attention        {"text", "target"?} → what `azul attention
//                              --format json` prints for the same sentence
//   POST /api/explain          {"text", "token", "kind"?, "layer"?, "head"?,
//                              "target"?} → the numbers `--explain` prints
//
// Errors are {"error": "..."} with 400 (a bad request), 404 (no such path),
// 405 (a path that does not take that method) or 503 with Retry-After (a
// translation over the request's time limit); the HTTP layer adds 403
// (another site's request), 413 (a body over 64 KiB) and 415 (a body not
// sent as JSON), and 500 means memory ran out.  A request HTTP itself
// refuses (headers too large, no Host) gets libmicrohttpd's own page.  No
// request names a file: the paths are this fixed list.
#ifndef AZUL_API_H
#define AZUL_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "infer/translator.h"

// What every request shares.  The model is read-only; on a run still
// training (live) it is replaced when the run writes a newer one.
typedef struct {
    pthread_rwlock_t lock;  // held to read by each request, to write by a reload (which
                            // goes first: new readers wait while a reload waits)
    Translator *translator;
    char *model_json;       // GET /api/model's answer, made with each model
    char *run_dir;          // the model's run directory, or NULL for a bare model file
    bool live;              // --run: serve the newest model of the run as it trains
    pthread_mutex_t reload; // one reload at a time
    char *model_file;       // the file loaded, and when it was written
    struct timespec model_written;
    double last_check;      // when a live run was last looked at
    int model_version;      // 1, 2, ... with each reload
    char *failed_file;      // the newest model that could not be loaded, and when it was
    struct timespec failed_written;  // written: not tried again until it changes
    FILE *log;              // where a failed reload is told (stderr), or NULL
    struct HistoryCache *history;  // the run's attention history as last read
    // Bounds on one request's work, API_DEFAULT_* until the caller sets them:
    double request_seconds;  // a translation still going after this long is given up: 503
    int openmp_threads;      // each request's OpenMP team: pool threads × this ≤ cores
} Api;

// The attention history as last read and checked, sent as it is while the
// file stays the same (a page following a run asks every few seconds).
typedef struct HistoryCache {
    pthread_mutex_t lock;
    char *text;
    size_t length;
    struct timespec written;
} HistoryCache;

typedef struct {
    int status;
    const char *content_type;
    char *body;             // malloc'd, unless body_is_static
    size_t length;
    bool body_is_static;
    const char *allow;      // for 405: the methods the path takes
    int retry_after;        // for 503: the seconds to wait before asking again (0: no header)
} Reply;

// The largest beam a request may ask for, and the largest request body (the
// HTTP layer answers 413 beyond it).
enum { API_MAX_BEAM = 16, API_MAX_BODY = 64 * 1024 };
// The most attention weights one /api/attention reply holds: each is a JSON
// node while the reply is made (~64 bytes) and ~10 bytes of it, so this is
// ~25 MB and ~4 MB; a base model reaches it at about 50 tokens each side.
// A sentence over it is refused (400) rather than sent in pieces.
enum { API_MAX_ATTENTION_WEIGHTS = 400 * 1000 };
#define API_DEFAULT_REQUEST_SECONDS 5.0

// Loads the model at path (a run directory or a model file); with live, path
// is a run directory whose newest model (model.safetensors or
// last.safetensors) is served, and replaced by a newer one when the run
// writes it; a newest model that cannot be loaded is told once to api->log
// and the one before it kept.  -1 with err.
int api_open(Api *api, const char *path, bool live, Error *err);
void api_close(Api *api);

// Answers one request; safe to call from several threads at once.  path has
// no query string.  Never fails: running out of memory is a 500 reply.
void api_answer(Api *api, const char *method, const char *path, const char *body, size_t length,
                Reply *reply);
void reply_free(Reply *reply);

#endif
