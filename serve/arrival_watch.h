// A time limit on a request's arrival that a slow client cannot extend.
//
// libmicrohttpd's connection timeout counts idle time: a client that sends
// one header byte every few seconds is never idle that long, and holds its
// connection (and a slot of the connection limit) for as long as it likes.
// Here each connection has a clock that starts when it opens and again when
// a reply has gone; if the next request has not arrived whole when the
// limit passes, a thread of this watch shuts the socket down, and
// libmicrohttpd closes the connection.  While a request is being answered,
// its clock is stopped (the answer has its own limit, --request-timeout).
#ifndef AZUL_ARRIVAL_WATCH_H
#define AZUL_ARRIVAL_WATCH_H

#include <microhttpd.h>

#include "core/error.h"

typedef struct ArrivalWatch ArrivalWatch;

// Starts the watch's thread; NULL with err.
ArrivalWatch *arrival_watch_start(double seconds, Error *err);
// Stops the thread; the connections left are libmicrohttpd's to close.
void arrival_watch_stop(ArrivalWatch *watch);

// The daemon's MHD_OPTION_NOTIFY_CONNECTION callback (context: the watch):
// a connection opened (its clock starts) or closed (it leaves the watch).
void arrival_watch_notify(void *context, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);
// The request on the connection has arrived whole: its clock stops.
void arrival_watch_arrived(struct MHD_Connection *connection);
// Its reply has gone: the clock starts again, for the next request.
void arrival_watch_answered(struct MHD_Connection *connection);

#endif
