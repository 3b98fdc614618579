// The playground's HTTP server, on GNU libmicrohttpd: a fixed pool of
// threads answers requests with serve/api.h, sharing one read-only model.
// Request bodies over API_MAX_BODY get 413 as soon as the limit is passed,
// and the connection is closed without reading the rest; a request must
// arrive whole within arrival_seconds (serve/arrival_watch.h); one address
// may hold connections_per_ip connections at once.  Every reply carries a
// Content-Security-Policy that allows the page's own files only; one
// access-log line per request.
#ifndef AZUL_HTTP_SERVER_H
#define AZUL_HTTP_SERVER_H

#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"
#include "serve/api.h"

typedef struct {
    const char *host;   // an address or a name; 127.0.0.1 unless told otherwise
    int port;           // 0: any free port (http_server_port says which)
    int threads;        // the pool's size
    FILE *log;          // the access log (stderr), or NULL for none
    double arrival_seconds;   // a request not arrived whole after this long is cut off
    int connections_per_ip;   // more from one address are refused at once
} HttpOptions;

// What a server is given unless told otherwise.
#define HTTP_DEFAULT_ARRIVAL_SECONDS 10.0
enum { HTTP_DEFAULT_CONNECTIONS_PER_IP = 100 };

typedef struct HttpServer HttpServer;

// Binds and starts answering; NULL with err (the address, the port in use).
HttpServer *http_server_start(const HttpOptions *options, Api *api, Error *err);
int http_server_port(const HttpServer *server);
// Whether it listens on a loopback address only (127.0.0.0/8, ::1, or one
// mapped into IPv6): the Host check against DNS rebinding is on then, and
// nothing beyond this machine can reach it.
bool http_server_loopback(const HttpServer *server);

// Stops taking connections, lets the requests being answered finish (for up
// to drain_seconds), then stops and frees everything.
void http_server_stop(HttpServer *server, double drain_seconds);

#endif
