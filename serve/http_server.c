#include "serve/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/clock.h"
#include "serve/api_requests.h"
#include "serve/arrival_watch.h"

// The page loads its own script and styles and talks to its own API; nothing
// else may run, load or frame it.
static const char content_security_policy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct HttpServer {
    struct MHD_Daemon *daemon;
    ArrivalWatch *watch;
    Api *api;
    FILE *log;
    bool loopback;         // listening on a loopback address only
    atomic_int in_flight;  // requests begun and not yet answered
};

// Whether an address is one of this machine's loopback ones: 127.0.0.0/8,
// ::1, or 127.0.0.0/8 mapped into IPv6 (::ffff:127.0.0.1).
static bool loopback_address(const struct sockaddr_storage *address) {
    if (address->ss_family == AF_INET) {
        return ntohl(((const struct sockaddr_in *)address)->sin_addr.s_addr) >> 24 == 127;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *)address)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

// Whether a Host header names this machine: localhost or a loopback address
// ([...] for IPv6), with or without a port.
static bool local_host(const char *host) {
    if (!host) return false;
    char name[64];
    size_t n = host[0] == '[' ? strcspn(host + 1, "]") : strcspn(host, ":");
    const char *start = host[0] == '[' ? host + 1 : host;
    if (n >= sizeof name || (host[0] == '[' && start[n] != ']')) return false;
    memcpy(name, start, n);
    name[n] = '\0';
    const char *after = start + n + (host[0] == '[');
    if (*after != '\0' && *after != ':') return false;
    if (strcasecmp(name, "localhost") == 0) return true;
    struct sockaddr_storage address = {0};
    if (inet_pton(AF_INET, name, &((struct sockaddr_in *)&address)->sin_addr) == 1) {
        address.ss_family = AF_INET;
    } else if (inet_pton(AF_INET6, name, &((struct sockaddr_in6 *)&address)->sin6_addr) == 1) {
        address.ss_family = AF_INET6;
    } else {
        return false;
    }
    return loopback_address(&address);
}

// One request while its body arrives.
typedef struct {
    char *body;
    size_t length;
    bool too_large;
    bool answered;  // a 413 went out before the body arrived
    double started;
} Request;

// The client's text for the log: at most size - 1 bytes, no control
// characters (a terminal reading the log must not get escape sequences).
static void shown_text(const char *text, char *shown, size_t size) {
    size_t n = 0;
    for (const char *p = text; *p && n < size - 1; p++) shown[n++] = (unsigned char)*p < 0x20 || *p == 0x7F ? '?' : *p;
    shown[n] = '\0';
}

static void log_request(HttpServer *s, struct MHD_Connection *c, const char *method, const char *url,
                        int status, size_t bytes, double started) {
    if (!s->log) return;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[64] = "?";  // a numeric address: INET6_ADDRSTRLEN is 46
    if (info && info->client_addr) {
        socklen_t size = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                    : sizeof(struct sockaddr_in);
        getnameinfo(info->client_addr, size, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    }
    char shown_method[17], shown_url[201];
    shown_text(method, shown_method, sizeof shown_method);
    shown_text(url, shown_url, sizeof shown_url);
    fprintf(s->log, "%s \"%s %s\" %d %zu %.1f ms\n", host, shown_method, shown_url, status, bytes,
            (monotonic_seconds() - started) * 1e3);
    fflush(s->log);
}

static enum MHD_Result send_reply(HttpServer *s, struct MHD_Connection *c, const char *method,
                                  const char *url, Reply *reply, double started) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        reply->length, reply->body, reply->body_is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!r) {
        reply_free(reply);
        return MHD_NO;  // MHD closes the connection
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    MHD_add_response_header(r, "Content-Security-Policy", content_security_policy);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (reply->allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, reply->allow);
    if (reply->retry_after > 0) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%d", reply->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    enum MHD_Result queued = MHD_queue_response(c, (unsigned)reply->status, r);
    MHD_destroy_response(r);
    log_request(s, c, method, url, reply->status, reply->length, started);
    return queued;
}

static const char too_large_body[] = "{\"error\":\"the request body is over the limit of 65536 bytes\"}";

static enum MHD_Result too_large(HttpServer *s, struct MHD_Connection *c, const char *method,
                                 const char *url, double started) {
    Reply reply = {413, "application/json", (char *)too_large_body, sizeof too_large_body - 1, true, NULL, 0};
    return send_reply(s, c, method, url, &reply, started);
}

// A body that passes the limit as it arrives (chunked: no length said so
// first) gets its 413 at once, and the connection is closed unread: it may
// never end.  libmicrohttpd 0.9.75 takes no reply until a body has arrived
// whole, so the reply is written on its socket here (nothing else is being
// sent on it: no reply is queued), its end is sent, and MHD_NO has
// libmicrohttpd close the connection.
static enum MHD_Result too_large_unread(HttpServer *s, struct MHD_Connection *c, const char *method,
                                        const char *url, double started) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info) {
        char reply[512];
        int n = snprintf(reply, sizeof reply,
                         "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Type: application/json\r\n"
                         "Content-Security-Policy: %s\r\nContent-Length: %zu\r\n\r\n%s",
                         content_security_policy, sizeof too_large_body - 1, too_large_body);
        if (n > 0 && (size_t)n < sizeof reply) send(info->connect_fd, reply, (size_t)n, MSG_NOSIGNAL);
        shutdown(info->connect_fd, SHUT_WR);
    }
    log_request(s, c, method, url, 413, sizeof too_large_body - 1, started);
    return MHD_NO;
}

// The first call for a request: its state, or an early 413 when its
// Content-Length already says the body is too large.
static enum MHD_Result begin(HttpServer *s, struct MHD_Connection *c, const char *method,
                             const char *url, void **state) {
    Request *request = calloc(1, sizeof *request);
    if (!request) return MHD_NO;
    request->started = monotonic_seconds();
    *state = request;
    atomic_fetch_add(&s->in_flight, 1);
    const char *declared = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (declared && strtoull(declared, NULL, 10) > API_MAX_BODY) {
        request->too_large = request->answered = true;
        return too_large(s, c, method, url, request->started);
    }
    return MHD_YES;
}

// A piece of the body: kept while the whole stays within the limit.
static void take_body(Request *request, const char *data, size_t size) {
    if (request->too_large || request->length + size > API_MAX_BODY) {
        request->too_large = true;
        return;
    }
    char *grown = realloc(request->body, request->length + size + 1);
    if (!grown) {
        request->too_large = true;  // cannot hold it: refused like an overlong one
        return;
    }
    memcpy(grown + request->length, data, size);
    request->body = grown;
    request->length += size;
    request->body[request->length] = '\0';
}

// Requests another web site could make a browser send: a POST that is not
// JSON (a form or text/plain needs no CORS preflight), or, on a loopback
// address, a Host that is not this machine's (DNS rebinding).  The reply is
// made for them.
static bool refused(const HttpServer *s, struct MHD_Connection *c, const char *method, Reply *reply) {
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (strcmp(method, "POST") == 0 && (!type || strncasecmp(type, "application/json", 16) != 0)) {
        reply_error(reply, 415, "a request body must be sent as Content-Type: application/json");
        return true;
    }
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (s->loopback && !local_host(host)) {
        reply_error(reply, 403, "this server answers requests for localhost or a loopback address only");
        return true;
    }
    return false;
}

static enum MHD_Result on_request(void *context, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
    (void)version;
    HttpServer *s = context;
    if (!*state) return begin(s, c, method, url, state);
    Request *request = *state;
    if (*upload_size > 0) {
        take_body(request, upload, *upload_size);
        *upload_size = 0;
        if (!request->too_large || request->answered) return MHD_YES;
        request->answered = true;
        return too_large_unread(s, c, method, url, request->started);
    }
    if (request->answered) return MHD_YES;
    request->answered = true;
    arrival_watch_arrived(c);
    if (request->too_large) return too_large(s, c, method, url, request->started);
    Reply reply = {0};
    if (refused(s, c, method, &reply)) return send_reply(s, c, method, url, &reply, request->started);
    api_answer(s->api, method, url, request->body, request->length, &reply);
    return send_reply(s, c, method, url, &reply, request->started);
}

static void on_completed(void *context, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why) {
    (void)why;
    HttpServer *s = context;
    Request *request = *state;
    if (!request) return;
    arrival_watch_answered(c);
    free(request->body);
    free(request);
    *state = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

// The address to listen on; 0, or -1 with err.
static int resolve(const HttpOptions *o, struct sockaddr_storage *address, Error *err) {
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int status = getaddrinfo(o->host, NULL, &hints, &found);
    if (status != 0 || !found) {
        return error_set(err, "--host %s: %s", o->host, status ? gai_strerror(status) : "no address");
    }
    memcpy(address, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (address->ss_family == AF_INET) ((struct sockaddr_in *)address)->sin_port = htons((uint16_t)o->port);
    else ((struct sockaddr_in6 *)address)->sin6_port = htons((uint16_t)o->port);
    return 0;
}

HttpServer *http_server_start(const HttpOptions *o, Api *api, Error *err) {
    struct sockaddr_storage address;
    if (resolve(o, &address, err) < 0) return NULL;
    HttpServer *s = calloc(1, sizeof *s);
    if (!s) {
        error_out_of_memory(err, "starting the server", sizeof *s);
        return NULL;
    }
    s->api = api;
    s->log = o->log;
    if (!(s->watch = arrival_watch_start(o->arrival_seconds, err))) {
        free(s);
        return NULL;
    }
    s->loopback = loopback_address(&address);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC;
    if (address.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    // an IPv4 address written as IPv6 (::ffff:127.0.0.1) binds only on a
    // socket that takes IPv4 too
    if (address.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&address)->sin6_addr)) {
        flags |= MHD_USE_DUAL_STACK;
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, arrival_watch_notify, s->watch,
                                 // idle keep-alive connections go after as long as a request may take to come
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->arrival_seconds + 0.999),
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->connections_per_ip,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_END);
    if (!s->daemon) {
        error_set(err, "cannot listen on %s port %d (in use, or not an address of this machine)", o->host,
                  o->port);
        arrival_watch_stop(s->watch);
        free(s);
        return NULL;
    }
    return s;
}

bool http_server_loopback(const HttpServer *s) { return s->loopback; }

int http_server_port(const HttpServer *s) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : -1;
}

void http_server_stop(HttpServer *s, double drain_seconds) {
    MHD_socket listening = MHD_quiesce_daemon(s->daemon);  // no new connections from here
    const double until = monotonic_seconds() + drain_seconds;
    while (atomic_load(&s->in_flight) > 0 && monotonic_seconds() < until) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    MHD_stop_daemon(s->daemon);
    if (listening != MHD_INVALID_SOCKET) close(listening);  // ours, but only once the threads are gone
    arrival_watch_stop(s->watch);  // after the daemon: every connection has left it
    free(s);
}
