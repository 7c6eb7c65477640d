/*
 * curl_loop.h - a libcurl multi handle driven by a libevent base: the socket
 * and timer glue every curl-multi user here needs (deliver/sender for the
 * analyzers, cluster/etcd for etcd), written once.
 *
 * curl_loop_new() installs CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION on the
 * multi handle: curl says which sockets to watch and when its timeout is due,
 * the loop turns that into events on `base`, and after every
 * curl_multi_socket_action() it calls `after(ctx)`, where the owner collects
 * finished transfers (curl_multi_info_read).
 *
 * Ownership: the caller owns the multi handle and the loop; everything runs
 * on base's thread. Order at the end: curl_multi_cleanup() first (curl
 * removes its sockets through the callback), then curl_loop_free().
 */
#ifndef LOGDIST_CURL_LOOP_H
#define LOGDIST_CURL_LOOP_H

#include <curl/curl.h>
#include <event2/event.h>

typedef struct curl_loop curl_loop_t;

/* NULL on ENOMEM (nothing installed then). */
curl_loop_t *curl_loop_new(struct event_base *base, CURLM *multi, void (*after)(void *ctx),
                           void *ctx);

/* Free the timer (and the loop). NULL is fine. */
void curl_loop_free(curl_loop_t *l);

#endif
