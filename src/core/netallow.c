/*
 * netallow.c - see netallow.h.
 */
#include "core/netallow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"

#define ENTRY_MAX 255
#define NAME_MAX_LEN 253

typedef struct {
    int fam; /* AF_INET, AF_INET6, or 0 for a host name */
    unsigned char a[16];
    int bits;
    char name[NAME_MAX_LEN + 1];
} net_t;

static const char *const deny_nets[] = {"169.254.0.0/16", "100.100.100.200/32", "fe80::/10",
                                        "fd00:ec2::254/128"};
static const char *const deny_names[] = {"metadata", "metadata.google.internal", "metadata.goog",
                                         "instance-data", "instance-data.ec2.internal"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static int addr_len(int fam)
{
    return fam == AF_INET6 ? 16 : 4;
}

/* "0".."max", decimal digits only, no sign, no leading zero. */
static int parse_bits(const char *s, int max, int *bits)
{
    size_t n = strlen(s);
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0')) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return -1;
    *bits = v;
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    bool all_numeric = true;
    if (n == 0 || n > NAME_MAX_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
        if (!((c >= '0' && c <= '9') || c == '.')) all_numeric = false;
    }
    return !all_numeric; /* "10.0.0" or "10.0.0.256" is a broken address, not a name */
}

static bool in_net(const net_t *n, int fam, const unsigned char *a)
{
    if (n->fam != fam) return false;
    int bits = n->bits;
    for (int i = 0; i < addr_len(fam) && bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a[i] & mask) != (n->a[i] & mask)) return false;
    }
    return true;
}

/* One list entry: a name, an address or ADDRESS/BITS. 0 or -1. */
static int parse_entry(const char *e, net_t *out)
{
    memset(out, 0, sizeof *out);
    char addr[ENTRY_MAX + 1];
    const char *slash = strchr(e, '/');
    size_t n = slash ? (size_t)(slash - e) : strlen(e);
    if (n == 0 || n > ENTRY_MAX) return -1;
    memcpy(addr, e, n);
    addr[n] = 0;
    out->fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(out->fam, addr, out->a) != 1) {
        if (slash || !name_ok(addr)) return -1;
        out->fam = 0;
        memcpy(out->name, addr, n + 1);
        return 0;
    }
    out->bits = addr_len(out->fam) * 8;
    if (slash && parse_bits(slash + 1, out->bits, &out->bits)) return -1;
    for (int i = 0, b = out->bits; i < addr_len(out->fam); i++, b -= 8) { /* no host bits */
        unsigned keep = b >= 8 ? 0xffu : b <= 0 ? 0u : (0xffu << (8 - b)) & 0xffu;
        if (out->a[i] & ~keep) return -1;
    }
    return 0;
}

/* A URL host into a net_t (full-length address, or a name): brackets and
 * one trailing dot removed. -1 when empty or too long. */
static int parse_host(const char *host, net_t *out)
{
    memset(out, 0, sizeof *out);
    char h[NAME_MAX_LEN + 3];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof h) return -1;
    memcpy(h, host, n + 1);
    if (n > 2 && h[0] == '[' && h[n - 1] == ']') {
        memmove(h, h + 1, n - 2);
        h[n -= 2] = 0;
    }
    if (n > 1 && h[n - 1] == '.') h[--n] = 0;
    if (inet_pton(AF_INET, h, out->a) == 1)
        out->fam = AF_INET;
    else if (inet_pton(AF_INET6, h, out->a) == 1)
        out->fam = AF_INET6;
    else if (n <= NAME_MAX_LEN)
        memcpy(out->name, h, n + 1);
    else
        return -1;
    out->bits = out->fam ? addr_len(out->fam) * 8 : 0;
    return 0;
}

/* The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address. */
static bool embedded_v4(const net_t *h, unsigned char v4[4])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (h->fam != AF_INET6 || (memcmp(h->a, mapped, 12) && memcmp(h->a, nat64, 12))) return false;
    memcpy(v4, h->a + 12, 4);
    return true;
}

/* Does net n hold host h (directly, or its embedded IPv4 address)? */
static bool net_holds(const net_t *n, const net_t *h)
{
    unsigned char v4[4];
    if (!n->fam || !h->fam) return false;
    return in_net(n, h->fam, h->a) || (embedded_v4(h, v4) && in_net(n, AF_INET, v4));
}

/* Index of the default-deny rule that catches h, or -1. Rules: deny_nets,
 * then deny_names (index N(deny_nets) + i). */
static int deny_rule(const net_t *h)
{
    for (size_t i = 0; i < N(deny_nets); i++) {
        net_t d;
        LD_ASSERT(parse_entry(deny_nets[i], &d) == 0);
        if (net_holds(&d, h)) return (int)i;
    }
    for (size_t i = 0; !h->fam && i < N(deny_names); i++)
        if (!strcasecmp(h->name, deny_names[i])) return (int)(N(deny_nets) + i);
    return -1;
}

/* Does list entry e allow h? With rule >= 0 (h is denied by default), only
 * a narrow entry does: the same name, or a net inside the denied range. */
static bool entry_allows(const net_t *e, const net_t *h, int rule)
{
    if (!e->fam) return !h->fam && !strcasecmp(e->name, h->name);
    if (!net_holds(e, h)) return false;
    if (rule < 0) return true;
    if (rule >= (int)N(deny_nets)) return false;
    net_t d;
    LD_ASSERT(parse_entry(deny_nets[rule], &d) == 0);
    return e->fam == d.fam && e->bits >= d.bits && in_net(&d, e->fam, e->a);
}

/* Call fn for each comma-separated entry of list; stops at the first
 * nonzero return and returns it. */
static int each_entry(const char *list, int (*fn)(const char *e, void *ctx), void *ctx)
{
    const char *p = list;
    if (!*p) return 0;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char e[ENTRY_MAX + 2];
        if (n > ENTRY_MAX) n = ENTRY_MAX + 1; /* parse_entry refuses it */
        memcpy(e, p, n);
        e[n] = 0;
        int rc = fn(e, ctx);
        if (rc || !c) return rc;
        p = c + 1;
    }
}

typedef struct {
    char *err;
    size_t errlen;
} check_ctx_t;

static int check_one(const char *e, void *arg)
{
    check_ctx_t *c = arg;
    net_t n;
    if (parse_entry(e, &n) == 0) return 0;
    ld_set_err(c->err, c->errlen,
               "analyzer-allow entry '%.100s' is not a host name, an address or ADDRESS/BITS "
               "(IPv4 0..32, IPv6 0..128, no host bits set)", e);
    return -EINVAL;
}

int netallow_check_list(const char *list, char *err, size_t errlen)
{
    check_ctx_t c = {err, errlen};
    return each_entry(list, check_one, &c);
}

typedef struct {
    const net_t *host;
    int rule;
} match_ctx_t;

static int match_one(const char *e, void *arg)
{
    match_ctx_t *m = arg;
    net_t n;
    return parse_entry(e, &n) == 0 && entry_allows(&n, m->host, m->rule);
}

bool netallow_host_denied_by_default(const char *host)
{
    net_t h;
    return parse_host(host, &h) != 0 || deny_rule(&h) >= 0;
}

bool netallow_host_allowed(const char *list, const char *host, char *err, size_t errlen)
{
    net_t h;
    if (parse_host(host, &h)) {
        ld_set_err(err, errlen, "analyzer host '%.100s' is empty or too long", host);
        return false;
    }
    match_ctx_t m = {&h, deny_rule(&h)};
    if (!*list && m.rule < 0) return true;
    if (each_entry(list, match_one, &m) == 1) return true;
    if (m.rule >= 0)
        ld_set_err(err, errlen,
                   "analyzer host '%.100s' is a link-local or cloud metadata address (%s), denied "
                   "by default; to use it, name it in --analyzer-allow", host,
                   m.rule < (int)N(deny_nets) ? deny_nets[m.rule]
                                              : deny_names[m.rule - (int)N(deny_nets)]);
    else
        ld_set_err(err, errlen, "analyzer host '%.100s' is not in --analyzer-allow", host);
    return false;
}

bool netallow_addr_allowed(const char *list, const struct sockaddr *sa)
{
    net_t h;
    memset(&h, 0, sizeof h);
    if (sa->sa_family == AF_INET) {
        h.fam = AF_INET;
        memcpy(h.a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        h.fam = AF_INET6;
        memcpy(h.a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return false;
    }
    h.bits = addr_len(h.fam) * 8;
    match_ctx_t m = {&h, deny_rule(&h)};
    return m.rule < 0 || each_entry(list, match_one, &m) == 1;
}

static char g_process_list[1024];

void netallow_set_process_list(const char *list)
{
    size_t n = strlen(list);
    if (n >= sizeof g_process_list) n = sizeof g_process_list - 1;
    memcpy(g_process_list, list, n);
    g_process_list[n] = 0;
}

const char *netallow_process_list(void)
{
    return g_process_list;
}
