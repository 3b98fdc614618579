#include "tests/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

int http_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool http_send(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return false;
        data += sent;
        length -= (size_t)sent;
    }
    return true;
}

// Appends what arrives to *text until the peer closes (true) or the time
// runs out (false).
static bool read_until_closed(int fd, int timeout_ms, char **text, size_t *length) {
    size_t capacity = 1 << 16;
    *text = malloc(capacity);
    *length = 0;
    const double until = monotonic_seconds() + timeout_ms / 1e3;
    for (;;) {
        int left = (int)((until - monotonic_seconds()) * 1e3);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) break;
        if (*length + 4096 + 1 > capacity) *text = realloc(*text, capacity *= 2);
        ssize_t got = recv(fd, *text + *length, capacity - *length - 1, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {  // closed, or reset
            (*text)[*length] = '\0';
            return true;
        }
        *length += (size_t)got;
    }
    (*text)[*length] = '\0';
    return false;
}

HttpReply http_read_reply(int fd, int timeout_ms) {
    char *text;
    size_t length;
    read_until_closed(fd, timeout_ms, &text, &length);
    HttpReply r = {-1, NULL, NULL, 0};
    char *end = strstr(text, "\r\n\r\n");
    if (sscanf(text, "HTTP/1.%*d %d", &r.status) != 1 || !end) r.status = -1;
    size_t head = end ? (size_t)(end - text) + 4 : 0;
    r.head = strndup(text, head);
    r.length = length - head;
    r.body = malloc(r.length + 1);
    memcpy(r.body, text + head, r.length + 1);
    free(text);
    return r;
}

bool http_closed_within(int fd, int timeout_ms) {
    char *text;
    size_t length;
    bool closed = read_until_closed(fd, timeout_ms, &text, &length);
    free(text);
    return closed;
}

HttpReply http_exchange(int port, const char *method, const char *path, const char *body, int timeout_ms) {
    int fd = http_connect(port);
    if (fd < 0) return (HttpReply){-1, strdup(""), strdup(""), 0};
    char head[512];
    int n = body ? snprintf(head, sizeof head,
                            "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                            method, path, strlen(body))
                 : snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                            method, path);
    HttpReply r = {-1, NULL, NULL, 0};
    if (http_send(fd, head, (size_t)n) && (!body || http_send(fd, body, strlen(body)))) {
        r = http_read_reply(fd, timeout_ms);
    } else {
        r = (HttpReply){-1, strdup(""), strdup(""), 0};
    }
    close(fd);
    return r;
}

void http_reply_free(HttpReply *reply) {
    free(reply->head);
    free(reply->body);
    reply->head = reply->body = NULL;
}

int http_port_of(const char *url) {
    const char *colon = strrchr(url, ':');
    return colon ? atoi(colon + 1) : -1;
}
