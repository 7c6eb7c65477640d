/*
 * netallow_curl.h - the connect-time half of core/netallow.h for libcurl:
 * an open-socket callback that refuses to connect to a default-denied
 * address (link-local, cloud metadata) the list does not open, whatever name
 * resolved to it. Set on every analyzer handle (deliveries and health
 * checks):
 *   curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, netallow_curl_opensocket);
 * A refusal makes the attempt fail like a refused connection (curl reports
 * "Could not connect"): the analyzer's delivery or health check fails. The
 * first refusals are logged. Any thread (reads the process list only).
 */
#ifndef LOGDIST_NETALLOW_CURL_H
#define LOGDIST_NETALLOW_CURL_H

#include <curl/curl.h>

curl_socket_t netallow_curl_opensocket(void *clientp, curlsocktype purpose,
                                       struct curl_sockaddr *address);

/* How many connects it refused since the start. */
unsigned long netallow_curl_denied(void);

#endif
