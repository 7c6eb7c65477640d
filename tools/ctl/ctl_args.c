/*
 * ctl_args.c - see ctl_args.h. Two passes: options (anywhere) and positionals are
 * split first, then the positionals are read as one command and checked.
 */
#include "ctl_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POS (CTL_MAX_IDS + 3)

static int usage_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CTL_EXIT_USAGE;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool valid_http_url(const char *s)
{
    const char *rest = !strncmp(s, "http://", 7)    ? s + 7
                       : !strncmp(s, "https://", 8) ? s + 8
                                                    : NULL;
    if (!rest || !*rest || *rest == '/' || *rest == ':') return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
    return true;
}

static int parse_weight(const char *s, double *w, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0 || v > 1e12)
        return usage_err(err, errlen, "weight \"%.40s\": a number in 0..1e12", s);
    *w = v;
    return 0;
}

static int parse_timeout(const char *s, long *t, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > CTL_TIMEOUT_MAX)
        return usage_err(err, errlen, "--timeout \"%.40s\": whole seconds in 1..%d", s,
                         CTL_TIMEOUT_MAX);
    *t = v;
    return 0;
}

static int set_url(ctl_opts_t *o, const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n > CTL_URL_MAX || !valid_http_url(s))
        return usage_err(err, errlen, "--url \"%.60s\": an http:// or https:// URL", s);
    memcpy(o->url, s, n + 1);
    while (n > 0 && o->url[n - 1] == '/')
        o->url[--n] = 0;
    return 0;
}

/* Options that take a value: where it goes. */
typedef enum {
    V_URL,
    V_TOKEN,
    V_TOKEN_FILE,
    V_CACERT,
    V_CERT,
    V_KEY,
    V_TIMEOUT,
    V_WEIGHT,
    V_HEALTH_URL
} vopt_t;

static const struct {
    const char *name;
    vopt_t what;
} value_opts[] = {
    {"--url", V_URL},         {"--token", V_TOKEN},   {"--token-file", V_TOKEN_FILE},
    {"--cacert", V_CACERT},   {"--cert", V_CERT},     {"--key", V_KEY},
    {"--timeout", V_TIMEOUT}, {"--weight", V_WEIGHT}, {"--health-url", V_HEALTH_URL},
};

static int set_value(ctl_opts_t *o, vopt_t what, const char *v, bool *seen_url, char *err,
                     size_t errlen)
{
    if (!*v && what != V_TOKEN) return usage_err(err, errlen, "an option has an empty value");
    switch (what) {
    case V_URL:
        *seen_url = true;
        return set_url(o, v, err, errlen);
    case V_TOKEN:
        o->token = v;
        return 0;
    case V_TOKEN_FILE:
        o->token_file = v;
        return 0;
    case V_CACERT:
        o->cacert = v;
        return 0;
    case V_CERT:
        o->cert = v;
        return 0;
    case V_KEY:
        o->key = v;
        return 0;
    case V_TIMEOUT:
        return parse_timeout(v, &o->timeout_s, err, errlen);
    case V_WEIGHT:
        o->has_weight = true;
        return parse_weight(v, &o->weight, err, errlen);
    case V_HEALTH_URL:
        if (strlen(v) > CTL_URL_MAX || !valid_http_url(v))
            return usage_err(err, errlen, "--health-url \"%.60s\": an http(s) URL", v);
        o->health_url = v;
        return 0;
    }
    return 0;
}

/* One option at argv[*i] (advancing *i past its value). */
static int take_option(ctl_opts_t *o, int argc, char **argv, int *i, bool *seen_url, char *err,
                       size_t errlen)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--json")) return o->json = true, 0;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return o->help = true, 0;
    if (!strcmp(a, "--version")) return o->version = true, 0;
    if (!strcmp(a, "--prometheus")) return o->prometheus = true, 0;
    if (!strcmp(a, "--all")) return o->all = true, 0;
    if (!strcmp(a, "--insecure") || !strcmp(a, "-k"))
        return usage_err(err, errlen, "%s: TLS verification cannot be disabled; use --cacert", a);
    for (size_t k = 0; k < sizeof value_opts / sizeof value_opts[0]; k++) {
        size_t n = strlen(value_opts[k].name);
        if (strncmp(a, value_opts[k].name, n)) continue;
        if (a[n] == '=') return set_value(o, value_opts[k].what, a + n + 1, seen_url, err, errlen);
        if (a[n]) continue;
        if (*i + 1 >= argc) return usage_err(err, errlen, "%s needs a value", a);
        *i += 1;
        return set_value(o, value_opts[k].what, argv[*i], seen_url, err, errlen);
    }
    return usage_err(err, errlen, "unknown option \"%.60s\" (see --help)", a);
}

static const struct {
    const char *name;
    ctl_cmd_t cmd;
    int min, max; /* positional arguments after the name */
} commands[] = {
    {"status", CTL_CMD_STATUS, 0, 0},   {"analyzers", CTL_CMD_ANALYZERS, 0, 0},
    {"add", CTL_CMD_ADD, 2, 2},         {"set-weight", CTL_CMD_SET_WEIGHT, 2, 2},
    {"drain", CTL_CMD_DRAIN, 1, 1},     {"undrain", CTL_CMD_UNDRAIN, 1, 1},
    {"remove", CTL_CMD_REMOVE, 1, 1},   {"deadletters", CTL_CMD_DL_LIST, 0, CTL_MAX_IDS + 1},
    {"metrics", CTL_CMD_METRICS, 0, 0}, {"reload", CTL_CMD_RELOAD, 0, 0},
    {"routes", CTL_CMD_ROUTES, 0, 0},
    {"cluster", CTL_CMD_CLUSTER, 0, 0},
};

/* deadletters [list | replay | purge (--all | BATCH_ID...)] */
static int take_deadletters(ctl_opts_t *o, const char **pos, int npos, const char **ids_buf,
                            char *err, size_t errlen)
{
    const char *sub = npos > 1 ? pos[1] : "list";
    if (o->all && strcmp(sub, "purge"))
        return usage_err(err, errlen, "--all goes with deadletters purge");
    if (!strcmp(sub, "list")) {
        o->cmd = CTL_CMD_DL_LIST;
        if (npos > 2) return usage_err(err, errlen, "deadletters list takes no argument");
        return 0;
    }
    if (!strcmp(sub, "replay")) {
        o->cmd = CTL_CMD_DL_REPLAY;
        if (npos > 2)
            return usage_err(err, errlen,
                             "deadletters replay takes no batch id: the API "
                             "replays every stored batch");
        return 0;
    }
    if (strcmp(sub, "purge"))
        return usage_err(err, errlen, "deadletters: list, replay or purge, not \"%.40s\"", sub);
    o->cmd = CTL_CMD_DL_PURGE;
    if (o->all == (npos > 2))
        return usage_err(err, errlen, "deadletters purge: give batch ids, or --all for every one");
    for (int k = 2; k < npos; k++) {
        size_t n = strlen(pos[k]);
        if (n < 1 || n > 63)
            return usage_err(err, errlen, "batch id \"%.40s\": 1..63 bytes", pos[k]);
        ids_buf[o->nids++] = pos[k];
    }
    o->ids = ids_buf;
    return 0;
}

/* Read the positionals as a command. */
static int take_command(ctl_opts_t *o, const char **pos, int npos, const char **ids_buf, char *err,
                        size_t errlen)
{
    if (!npos) return usage_err(err, errlen, "no command (see --help)");
    size_t k = 0, nc = sizeof commands / sizeof commands[0];
    while (k < nc && strcmp(commands[k].name, pos[0]))
        k++;
    if (k == nc) return usage_err(err, errlen, "unknown command \"%.40s\" (see --help)", pos[0]);
    o->cmd = commands[k].cmd;
    if (npos - 1 < commands[k].min || npos - 1 > commands[k].max)
        return usage_err(err, errlen, "%s: wrong number of arguments (see --help)", pos[0]);
    if ((o->has_weight || o->health_url) && o->cmd != CTL_CMD_ADD)
        return usage_err(err, errlen, "--weight and --health-url go with add");
    if (o->prometheus && o->cmd != CTL_CMD_METRICS)
        return usage_err(err, errlen, "--prometheus goes with metrics");
    if (o->all && o->cmd != CTL_CMD_DL_LIST)
        return usage_err(err, errlen, "--all goes with deadletters purge");
    if (o->cmd == CTL_CMD_DL_LIST) return take_deadletters(o, pos, npos, ids_buf, err, errlen);
    if (npos > 1 && !valid_id(pos[1]))
        return usage_err(err, errlen, "analyzer id \"%.40s\": 1..64 of [A-Za-z0-9._-]", pos[1]);
    if (npos > 1) o->id = pos[1];
    if (o->cmd == CTL_CMD_ADD) {
        if (strlen(pos[2]) > CTL_URL_MAX || !valid_http_url(pos[2]))
            return usage_err(err, errlen, "add: URL \"%.60s\": an http(s) URL", pos[2]);
        o->an_url = pos[2];
    }
    if (o->cmd == CTL_CMD_SET_WEIGHT) {
        o->has_weight = true;
        return parse_weight(pos[2], &o->weight, err, errlen);
    }
    return 0;
}

int ctl_parse_args(int argc, char **argv, const char *env_url, const char *env_token, ctl_opts_t *o,
                   const char **ids_buf, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->timeout_s = CTL_TIMEOUT_DEFAULT;
    const char *pos[MAX_POS];
    int npos = 0, rc;
    bool seen_url = false, opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && !strcmp(a, "--")) {
            opts_done = true;
        } else if (!opts_done && a[0] == '-' && a[1]) {
            if ((rc = take_option(o, argc, argv, &i, &seen_url, err, errlen))) return rc;
        } else {
            if (npos == MAX_POS) return usage_err(err, errlen, "too many arguments");
            pos[npos++] = a;
        }
    }
    if (o->help || o->version) return 0;
    if (!seen_url &&
        (rc = set_url(o, env_url && *env_url ? env_url : CTL_DEFAULT_URL, err, errlen)))
        return usage_err(err, errlen, "LOGDIST_URL \"%.60s\": an http:// or https:// URL", env_url);
    if (!o->token && !o->token_file && env_token && *env_token) o->token = env_token;
    if (o->token && o->token_file)
        return usage_err(err, errlen, "--token and --token-file: give one");
    if (!o->cert != !o->key) return usage_err(err, errlen, "--cert and --key go together");
    return take_command(o, pos, npos, ids_buf, err, errlen);
}

const char *ctl_usage(void)
{
    return "usage: logdistctl [OPTIONS] COMMAND [ARGS]\n"
           "\n"
           "Commands (on logdistd's admin API):\n"
           "  status                       health, totals, analyzers up/total, queue, WAL, dead "
           "letters\n"
           "  analyzers                    the analyzer table (state, weights, shares, latency, "
           "...)\n"
           "  add ID URL [--weight W] [--health-url URL]\n"
           "                               register an analyzer (weight default 1)\n"
           "  set-weight ID W              change an analyzer's weight (0..1e12)\n"
           "  drain ID                     no new records to ID; its weight is kept, its queued\n"
           "                               batches are still delivered\n"
           "  undrain ID                   route to ID again at its configured weight\n"
           "  remove ID                    unregister (its queued batches move to the others)\n"
           "  deadletters [list]           dead-letter summary and the most recent batches\n"
           "  deadletters replay           send every stored batch through ingest again\n"
           "  deadletters purge ID...      delete those dead-lettered batches\n"
           "  deadletters purge --all      delete every stored dead letter\n"
           "  metrics [--prometheus]       the JSON metrics (or GET /metrics, Prometheus text)\n"
           "  reload                       POST /api/v1/reload; prints the answer\n"
           "  routes                       the content routes: per route and analyzer its\n"
           "                               weight, target and actual share (docs/ROUTING.md)\n"
           "  cluster                      a cluster's nodes, and per analyzer its target share\n"
           "                               against the cluster-wide actual share\n"
           "\n"
           "Options (anywhere on the line):\n"
           "  --url URL          admin API base (default " CTL_DEFAULT_URL ", env LOGDIST_URL)\n"
           "  --token TOKEN      bearer token (env LOGDIST_TOKEN is better: argv is visible\n"
           "                     to other users); never printed\n"
           "  --token-file FILE  read the token from FILE (first line)\n"
           "  --cacert FILE      CA certificate(s) to verify an https:// server (verification\n"
           "                     cannot be turned off)\n"
           "  --cert FILE --key FILE   client certificate and key (mutual TLS)\n"
           "  --timeout S        whole request deadline, 1..3600 s (default 10)\n"
           "  --json             print the API's JSON as it is (for scripts)\n"
           "  --help, --version\n"
           "\n"
           "Exit codes:\n"
           "  0  ok\n"
           "  1  the API answered an error (4xx/5xx other than 401/403)\n"
           "  2  usage error\n"
           "  3  no usable answer: cannot connect, TLS failure, timeout, not JSON, too large\n"
           "  4  authentication or authorisation refused (401/403)\n";
}
