// A small HTTP/1.1 client on a raw socket, for the server tests curl cannot
// do at will: thousands of requests from threads without a process each, a
// client that sends its request a byte at a time, a body that never ends.
#ifndef AZUL_TESTS_HTTP_CLIENT_H
#define AZUL_TESTS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int status;     // -1: the connection closed (or the time ran out) before a status line
    char *head;     // the status line and the headers (malloc'd, "" when none)
    char *body;     // what followed them (malloc'd, NUL-terminated)
    size_t length;  // of body
} HttpReply;

// A connection to 127.0.0.1:port, or -1.
int http_connect(int port);
// Sends all of data; false when the server has closed or reset the connection.
bool http_send(int fd, const char *data, size_t length);
// Reads until the server closes the connection (the requests made here say
// Connection: close) or timeout_ms passes, and parses what came.
HttpReply http_read_reply(int fd, int timeout_ms);
// Whether the server closes the connection within timeout_ms (what it sends
// meanwhile is read and dropped).
bool http_closed_within(int fd, int timeout_ms);
// One request on a connection of its own: a JSON body when body is not NULL.
HttpReply http_exchange(int port, const char *method, const char *path, const char *body, int timeout_ms);
void http_reply_free(HttpReply *reply);

// The port of a URL such as http://127.0.0.1:8080/.
int http_port_of(const char *url);

#endif
