// The playground's answers, apart from HTTP: one request (method, path,
// body) in, one reply (status, type, body) out.  serve/http_server.c puts
// them on the wire; the tests call them directly too.
//
//   GET  /                     the playground page (and its .js and .css)
//   GET  /api/model            config, vocabulary sizes, how it was trained
//   POST /api/translate        {"text", "beam"?, "n_best"?} → translations with
//                              scores, tokens and word alignments
//   POST /api/attention        {"text", "target"?} → what `azul attention
//                              --format json` prints for the same sentence
//   POST /api/explain          {"text", "token", "kind"?, "layer"?, "head"?,
//                              "target"?} → the numbers `--explain` prints
//
// Errors are {"error": "..."} with 400 (a bad request), 404 (no such path)
// or 405 (a path that does not take that method).  No request names a file:
// the paths are this fixed list.
#ifndef AZUL_API_H
#define AZUL_API_H

#include <stdbool.h>
#include <stddef.h>

#include "infer/translator.h"

// What every request shares, read-only once made.
typedef struct {
    Translator *translator;
    char *model_json;       // GET /api/model's answer, made once
} Api;

typedef struct {
    int status;
    const char *content_type;
    char *body;             // malloc'd, unless body_is_static
    size_t length;
    bool body_is_static;
    const char *allow;      // for 405: the methods the path takes
} Reply;

// The largest beam a request may ask for, and the largest request body (the
// HTTP layer answers 413 beyond it).
enum { API_MAX_BEAM = 16, API_MAX_BODY = 64 * 1024 };

// Makes the answers that never change; -1 with err when memory runs out or
// the model's metadata cannot be read.
int api_init(Api *api, Translator *translator, Error *err);
void api_free(Api *api);

// Answers one request; safe to call from several threads at once.  path has
// no query string.  Never fails: running out of memory is a 500 reply.
void api_answer(const Api *api, const char *method, const char *path, const char *body,
                size_t length, Reply *reply);
void reply_free(Reply *reply);

#endif
