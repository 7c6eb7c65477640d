/*
 * slowguard.h - closes client connections that take too long to deliver a
 * request (slowloris): libevent's evhttp timeout is reset by every byte, so a
 * client sending one byte a second would hold a connection forever.
 *
 * Each connection (tracked from its bufferevent, created by the server's
 * bevcb) must complete a request within the deadline of being accepted or of
 * its previous request; otherwise its socket is shut down, evhttp sees the
 * end of the stream and frees the connection. A sweep runs twice a second.
 * Counted in metrics as slow_clients_closed.
 */
#ifndef LOGDIST_SLOWGUARD_H
#define LOGDIST_SLOWGUARD_H

#include <stdint.h>

struct event_base;
struct bufferevent;
struct evhttp_connection;
typedef struct slowguard slowguard_t;

slowguard_t *slowguard_new(struct event_base *base, uint32_t deadline_ms);

/* Start watching a new connection's bufferevent (takes a reference on it). */
void slowguard_track(slowguard_t *g, struct bufferevent *bev);

/* A request of this connection completed: its clock restarts. */
void slowguard_progress(slowguard_t *g, struct evhttp_connection *evcon);

/* Drop every reference (call after evhttp_free). NULL is fine. */
void slowguard_free(slowguard_t *g);

#endif
