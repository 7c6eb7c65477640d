/*
 * conn.h - logdistd's connection layer: one listening socket and the client
 * connections it accepts, on one libevent loop, with a protocol framer
 * (HTTP/1.1 today; syslog and Fluent forward next) turning bytes into requests.
 *
 * The layer owns accept, non-blocking reads and writes, TLS (OpenSSL directly
 * on the socket: no bufferevents), the per-connection buffers, timeouts and
 * every limit that applies before a request exists:
 *   - connections are counted from accept(): --max-connections covers silent
 *     ones, --max-connections-per-ip bounds one address; a connection over a
 *     limit is refused by the framer's refuse hook (HTTP: 503) and closed;
 *   - a header deadline (--idle-timeout-s from accept or from the previous
 *     request) closes slow clients (slowloris) and idle keep-alive connections;
 *   - a global budget of body bytes in flight (conn_budget_*), shared by every
 *     listener of the process, bounds memory before any packet exists: a
 *     connection that cannot reserve its body stops being read.
 * Reads go into one contiguous buffer per connection, grown to what the framer
 * asks for (a whole Content-Length body in one read); the framer may take the
 * buffer over (zero copy to the scanner) with conn_take_input().
 *
 * Threads: a listener and its connections live on one loop; nothing here is
 * shared between loops except the counters (atomics) and the per-IP table
 * (its own lock). Error convention: 0 or negative errno.
 */
#ifndef LOGDIST_INGRESS_CONN_H
#define LOGDIST_INGRESS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/tls.h"

struct event_base;
typedef struct conn conn_t;
typedef struct listener listener_t;

/* ---- framer: what a protocol implements -------------------------------- */

typedef struct framer_ops {
    const char *name; /* "http" */
    /* A connection was accepted (TLS not yet negotiated): create its protocol
     * state. NULL refuses the connection (closed at once). */
    void *(*open)(conn_t *c, void *proto_ctx);
    /* Bytes arrived: in[0..len) is everything unconsumed (contiguous). Return
     * how many bytes were consumed (0..len); the rest stays for the next call.
     * `in` is valid only during the call. The layer calls again at once while
     * a call consumed something and bytes remain (one request per call is
     * fine), and again after conn_resume_read() when bytes are buffered.
     * Never called re-entrantly, nor after conn_close/conn_close_after_write.
     * A framer that wants no more input calls conn_pause_read(); one that
     * wants the connection gone calls conn_close() (or conn_close_after_write()).
     * The first buffer holds 16 KiB: when it is full and nothing was consumed
     * reading stops until the framer asks for more (conn_expect_input). */
    size_t (*on_data)(void *st, const char *in, size_t len);
    /* The peer closed its write side (EOF) with `pending` bytes unconsumed.
     * Called once; the framer decides (answer then close, or close). */
    void (*on_eof)(void *st, size_t pending);
    /* Everything queued with conn_write() has reached the socket. */
    void (*on_drained)(void *st);
    /* A limit of the layer refuses this connection before any request was
     * read (reason: "max-connections", "max-connections-per-ip", "draining"):
     * write a refusal with conn_write(); the layer then closes it (after the
     * TLS handshake on a TLS listener; bounded to 2 s). The layer counts it:
     * connections_refused, or connections_shed for "draining". May be NULL. */
    void (*refuse)(void *st, const char *reason);
    /* The header deadline passed (or a write stalled): `reading_request` says
     * whether part of a request had arrived. The framer may write a last
     * answer (HTTP: 408); the layer closes the connection after it (at once
     * for a stalled write). The framer counts it (slow_clients_closed); a TLS
     * handshake that times out is closed and counted by the layer. */
    void (*on_timeout)(void *st, bool reading_request);
    /* The connection is being freed: release the protocol state. */
    void (*close)(void *st);
} framer_ops_t;

/* ---- limits shared by every listener ------------------------------------ */

#define CONN_GROUPS 2 /* 0: ingest listeners (every loop), 1: the admin listener */

typedef struct conn_limits {
    uint32_t max_connections;        /* open at once, all listeners of this group (0 = none) */
    uint32_t group;                  /* < CONN_GROUPS: whose connections count against
                                        max_connections (an agent flood cannot lock out
                                        a separate admin listener) */
    uint32_t max_connections_per_ip; /* (0 = none) */
    uint32_t header_timeout_ms;      /* TLS handshake + first request from accept, a later
                                        request from its first byte (0 = none) */
    uint32_t idle_timeout_ms;        /* keep-alive idle, and a stalled write (0 = none) */
    size_t max_input_bytes;          /* largest contiguous input buffer one connection
                                        may ask for (0 = unbounded) */
} conn_limits_t;

/* ---- body budget (global, atomic) --------------------------------------- */

/* Set the process-wide bound on body bytes buffered before they become
 * packets (0 = unbounded). Call before serving. */
void conn_budget_set_limit(uint64_t bytes);
uint64_t conn_budget_limit(void);
/* Reserve n bytes: true, or false when the budget would be exceeded. */
bool conn_budget_reserve(uint64_t n);
void conn_budget_release(uint64_t n);
uint64_t conn_budget_used(void);

/* ---- listener ---------------------------------------------------------- */

/* Bind host:port (0 = ephemeral), with SO_REUSEPORT when `reuseport` (one
 * listener per ingest thread on the same port). `tls` may be NULL (plain) and
 * must outlive the listener. `ops`/`proto_ctx` are the framer. NULL with a log
 * line on failure. */
listener_t *listener_new(struct event_base *base, const char *host, uint16_t port,
                         bool reuseport, tls_server_t *tls, const conn_limits_t *limits,
                         const framer_ops_t *ops, void *proto_ctx);
uint16_t listener_port(const listener_t *l);
/* Serve an already connected stream socket as if it had been accepted
 * (tests, the fuzz target over a socketpair, socket activation): counted and
 * limited like any other. The listener takes the descriptor (closed on
 * failure). peer_addr may be NULL ("local"). 0 or negative errno. */
int listener_adopt(listener_t *l, int fd, const char *peer_addr);
/* A listener with no socket of its own, for listener_adopt() only. */
listener_t *listener_new_unbound(struct event_base *base, tls_server_t *tls,
                                 const conn_limits_t *limits, const framer_ops_t *ops,
                                 void *proto_ctx);
/* Stop/restart accepting (load shedding); connections already open go on. */
void listener_pause(listener_t *l, bool paused);
/* Close the listening socket for good (drain). */
void listener_stop(listener_t *l);
/* While draining, connections with no request in progress are closed after
 * their current answer, and new ones are refused. */
void listener_set_draining(listener_t *l, bool draining);
/* Close every connection and free. */
void listener_free(listener_t *l);

/* Open connections of all listeners (from accept to close). max_connections
 * is checked against this process-wide count. */
uint64_t conn_open_count(void);

/* ---- connection, for the framer ----------------------------------------- */

/* Queue bytes for the client (copied). 0 or -ENOMEM. Sent when the current
 * callback returns (one write per answer), or on the next turn of the loop
 * when called from outside the connection's callbacks. Dropped (0) once the
 * connection is closing. */
int conn_write(conn_t *c, const void *data, size_t len);
/* Bytes queued by conn_write() not yet sent (a client that does not read
 * its answers: the framer stops taking requests above a bound). */
size_t conn_output_pending(const conn_t *c);
/* Stop reading (backpressure; nothing is read until resumed: the bytes stay
 * in the kernel). The read event is removed when it next fires, so a short
 * pause costs no system call. No deadline runs while paused except a stalled
 * write; a resume moves the request deadline by the time paused. */
void conn_pause_read(conn_t *c);
void conn_resume_read(conn_t *c);
/* The framer will need `n` contiguous bytes of input (e.g. head + body),
 * counted from the first byte left unconsumed when on_data returns: grow the
 * input buffer so one read can bring them. -ENOMEM or -E2BIG (above
 * max_input_bytes). Inside on_data nothing moves until it returns. */
int conn_expect_input(conn_t *c, size_t n);
/* Take over the input buffer: *base is the malloc'd block (caller frees),
 * *offset the offset of the first unconsumed byte in it. The first `skip`
 * unconsumed bytes go with the block and count as consumed; the unconsumed
 * bytes after them stay with the connection (copied into a fresh buffer):
 * used to hand a body to a packet without copying it while pipelined bytes
 * behind it remain. Inside on_data, the return value of that call counts the
 * taken bytes too (returning 0 or skip is the same). 0, or -ENOMEM leaving
 * everything as it was. */
int conn_take_input(conn_t *c, size_t skip, char **base, size_t *offset);
/* Close once everything written has been sent: then close_notify (TLS), a
 * FIN, and input read and discarded until the client's EOF, for at most 2 s
 * and 1 MiB (lingering: a client still sending gets the answer, not a reset).
 * No more on_data. */
void conn_close_after_write(conn_t *c);
/* Close now. Safe inside framer callbacks (freed after they return); from
 * outside them, freed on the next turn of the loop. ops->close runs once. */
void conn_close(conn_t *c);
/* A request completed: the idle deadline (idle_timeout_ms) starts. While
 * draining, an idle connection is closed after its answer. */
void conn_request_done(conn_t *c);
/* A request has started arriving: it must be complete (conn_request_done)
 * within header_timeout_ms of its first byte; the first request of a
 * connection within header_timeout_ms of the accept. */
void conn_request_started(conn_t *c);
/* Peer address as text ("127.0.0.1") and port. */
const char *conn_peer_addr(const conn_t *c);
uint16_t conn_peer_port(const conn_t *c);
bool conn_is_tls(const conn_t *c);
struct event_base *conn_base(const conn_t *c);

#endif
