#include "serve/arrival_watch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"

typedef struct Watched {
    struct Watched *prev, *next;
    ArrivalWatch *watch;
    MHD_socket fd;
    double since;  // when the clock started, or -1 while a request is answered
    bool cut;
} Watched;

struct ArrivalWatch {
    pthread_mutex_t lock;  // held to change the list, and while a socket is shut down
    pthread_cond_t wake;   // stopping
    Watched *head;
    double seconds;
    bool stopping;
    pthread_t thread;
};

// libmicrohttpd tells of a closed connection before it closes the socket,
// and the list changes under the lock: a socket shut down here is still the
// connection's own, never a number the system has given to another.
static void cut_the_late(ArrivalWatch *w) {
    const double now = monotonic_seconds();
    for (Watched *c = w->head; c; c = c->next) {
        if (c->since >= 0 && !c->cut && now - c->since > w->seconds) {
            shutdown(c->fd, SHUT_RDWR);  // libmicrohttpd reads the end and closes
            c->cut = true;
        }
    }
}

static void *watch_main(void *context) {
    ArrivalWatch *w = context;
    // looked at ten times a limit, but not more often than every 50 ms
    const double every = w->seconds / 10 < 0.05 ? 0.05 : w->seconds / 10 > 1 ? 1 : w->seconds / 10;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        cut_the_late(w);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long nanoseconds = until.tv_nsec + (long)(every * 1e9);
        until.tv_sec += nanoseconds / 1000000000L;
        until.tv_nsec = nanoseconds % 1000000000L;
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

ArrivalWatch *arrival_watch_start(double seconds, Error *err) {
    ArrivalWatch *w = calloc(1, sizeof *w);
    if (!w) {
        error_out_of_memory(err, "the connections' watch", sizeof *w);
        return NULL;
    }
    w->seconds = seconds;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &monotonic);
    pthread_condattr_destroy(&monotonic);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        error_set(err, "cannot start the thread that watches the connections");
        return NULL;
    }
    return w;
}

void arrival_watch_stop(ArrivalWatch *w) {
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void watch_opened(ArrivalWatch *w, struct MHD_Connection *connection, void **socket_context) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    Watched *c = info ? calloc(1, sizeof *c) : NULL;
    *socket_context = c;
    if (!c) return;  // not watched: libmicrohttpd's idle timeout still applies
    *c = (Watched){NULL, NULL, w, info->connect_fd, monotonic_seconds(), false};
    pthread_mutex_lock(&w->lock);
    c->next = w->head;
    if (w->head) w->head->prev = c;
    w->head = c;
    pthread_mutex_unlock(&w->lock);
}

static void watch_closed(ArrivalWatch *w, void **socket_context) {
    Watched *c = *socket_context;
    if (!c) return;
    pthread_mutex_lock(&w->lock);
    if (c->prev) c->prev->next = c->next;
    else w->head = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);
    free(c);
    *socket_context = NULL;
}

void arrival_watch_notify(void *context, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_STARTED) watch_opened(context, connection, socket_context);
    else watch_closed(context, socket_context);
}

// Starts (since = now) or stops (since = -1) a connection's clock.
static void set_clock(struct MHD_Connection *connection, bool running) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    Watched *c = info ? info->socket_context : NULL;
    if (!c) return;
    pthread_mutex_lock(&c->watch->lock);
    c->since = running ? monotonic_seconds() : -1;
    pthread_mutex_unlock(&c->watch->lock);
}

void arrival_watch_arrived(struct MHD_Connection *connection) { set_clock(connection, false); }

void arrival_watch_answered(struct MHD_Connection *connection) { set_clock(connection, true); }
