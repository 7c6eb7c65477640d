/*
 * ctl_args.h - logdistctl's command line, parsed by a pure function: argv and the
 * environment's LOGDIST_URL / LOGDIST_TOKEN in, a checked ctl_opts_t or a usage error
 * out. No I/O (--token-file is only named here; logdistctl.c reads it).
 *
 * Contract:
 *   - options may come before or after the command; `--opt value` and `--opt=value`;
 *     `--` ends the options;
 *   - every value is checked here: --url is http:// or https:// with a host, at most
 *     CTL_URL_MAX bytes (a trailing '/' is dropped); --timeout is 1..CTL_TIMEOUT_MAX
 *     seconds; a weight is a finite number in 0..1e12; ids are 1..64 bytes of
 *     [A-Za-z0-9._-]; batch ids 1..63 bytes;
 *   - the command's arity and its own options (--weight, --health-url for add;
 *     --prometheus for metrics; --all for deadletters purge) are checked;
 *   - there is no option to disable TLS verification, on purpose;
 *   - returns 0 (o filled; its strings point into argv/env), or CTL_EXIT_USAGE with one
 *     line in err. --help and --version return 0 with o->help / o->version set.
 */
#ifndef LOGDIST_CTL_ARGS_H
#define LOGDIST_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes (docs/CLI.md). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_API = 1,     /* the API answered an error (4xx/5xx other than 401/403) */
    CTL_EXIT_USAGE = 2,   /* bad command line */
    CTL_EXIT_CONNECT = 3, /* no usable answer: connect, TLS, timeout, not HTTP/JSON, too large */
    CTL_EXIT_AUTH = 4,    /* 401 or 403 */
};

#define CTL_URL_MAX 2048
#define CTL_TIMEOUT_MAX 3600
#define CTL_TIMEOUT_DEFAULT 10
#define CTL_DEFAULT_URL "http://127.0.0.1:8080"
#define CTL_MAX_IDS 4096 /* batch ids in one purge, as the API */

typedef enum {
    CTL_CMD_NONE = 0,
    CTL_CMD_STATUS,
    CTL_CMD_ANALYZERS,
    CTL_CMD_ADD,
    CTL_CMD_SET_WEIGHT,
    CTL_CMD_DRAIN,
    CTL_CMD_UNDRAIN,
    CTL_CMD_REMOVE,
    CTL_CMD_DL_LIST,
    CTL_CMD_DL_REPLAY,
    CTL_CMD_DL_PURGE,
    CTL_CMD_METRICS,
    CTL_CMD_RELOAD,
    CTL_CMD_ROUTES,
    CTL_CMD_CLUSTER,
} ctl_cmd_t;

typedef struct {
    char url[CTL_URL_MAX + 1]; /* without a trailing '/' */
    const char *token;         /* NULL = none */
    const char *token_file;    /* NULL = none (read by the caller) */
    const char *cacert, *cert, *key;
    long timeout_s;
    bool json, help, version;
    ctl_cmd_t cmd;
    /* command arguments */
    const char *id, *an_url, *health_url;
    bool has_weight;
    double weight;
    bool prometheus, all;
    const char *const *ids; /* batch ids (purge): point into argv */
    size_t nids;
} ctl_opts_t;

/* Parse argv[1..argc-1]. env_url / env_token: the environment's LOGDIST_URL and
 * LOGDIST_TOKEN (NULL when unset; the command line wins). ids_buf[CTL_MAX_IDS] holds
 * the batch-id pointers o->ids points to. */
int ctl_parse_args(int argc, char **argv, const char *env_url, const char *env_token, ctl_opts_t *o,
                   const char **ids_buf, char *err, size_t errlen);

/* The usage text (--help), exit codes included. */
const char *ctl_usage(void);

#endif
