/*
 * netallow_curl.c - see netallow_curl.h.
 */
#include "core/netallow_curl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "common/log.h"
#include "core/netallow.h"

static _Atomic unsigned long g_denied;

unsigned long netallow_curl_denied(void)
{
    return atomic_load_explicit(&g_denied, memory_order_relaxed);
}

curl_socket_t netallow_curl_opensocket(void *clientp, curlsocktype purpose,
                                       struct curl_sockaddr *address)
{
    (void)clientp;
    if (purpose == CURLSOCKTYPE_IPCXN &&
        !netallow_addr_allowed(netallow_process_list(), &address->addr)) {
        if (atomic_fetch_add_explicit(&g_denied, 1, memory_order_relaxed) < 10) {
            char txt[INET6_ADDRSTRLEN] = "?";
            const void *a = address->family == AF_INET6
                                ? (const void *)&((struct sockaddr_in6 *)(void *)&address->addr)->sin6_addr
                                : (const void *)&((struct sockaddr_in *)(void *)&address->addr)->sin_addr;
            inet_ntop(address->family, a, txt, sizeof txt);
            log_warn("netallow", "refused to connect to %s: a link-local or cloud metadata "
                     "address, denied by default (name it in --analyzer-allow to allow it)", txt);
        }
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}
