/*
 * test_ctl_args.c - table-driven tests of logdistctl's command-line parser
 * (tools/ctl/ctl_args.c): each row is a command line (and LOGDIST_URL/LOGDIST_TOKEN),
 * the expected return and, when accepted, what was parsed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_args.h"

typedef struct {
    const char *line; /* arguments, space separated */
    const char *env_url, *env_token;
    int rc;
    ctl_cmd_t cmd;
    const char *want;    /* "url|token|id|an_url|weight|timeout|json|nids", when rc == 0 */
    const char *err_has; /* part of the message, when rc != 0 */
} row_t;

static const row_t rows[] = {
    {"status", NULL, NULL, 0, CTL_CMD_STATUS, "http://127.0.0.1:8080|-|-|-|-|10|0|0", NULL},
    {"status", "https://h:9/", "t0k", 0, CTL_CMD_STATUS, "https://h:9|t0k|-|-|-|10|0|0", NULL},
    {"--url http://x:1// status", "http://env:2", NULL, 0, CTL_CMD_STATUS,
     "http://x:1|-|-|-|-|10|0|0", NULL},
    {"analyzers --json --token=abc --timeout 30", NULL, "env", 0, CTL_CMD_ANALYZERS,
     "http://127.0.0.1:8080|abc|-|-|-|30|1|0", NULL},
    {"add a5 http://h:9/i --weight 0.25", NULL, NULL, 0, CTL_CMD_ADD,
     "http://127.0.0.1:8080|-|a5|http://h:9/i|0.25|10|0|0", NULL},
    {"--weight=2 add a.5_x-y https://h/", NULL, NULL, 0, CTL_CMD_ADD,
     "http://127.0.0.1:8080|-|a.5_x-y|https://h/|2|10|0|0", NULL},
    {"set-weight a1 0", NULL, NULL, 0, CTL_CMD_SET_WEIGHT, "http://127.0.0.1:8080|-|a1|-|0|10|0|0",
     NULL},
    {"drain a1", NULL, NULL, 0, CTL_CMD_DRAIN, "http://127.0.0.1:8080|-|a1|-|-|10|0|0", NULL},
    {"undrain a1", NULL, NULL, 0, CTL_CMD_UNDRAIN, "http://127.0.0.1:8080|-|a1|-|-|10|0|0", NULL},
    {"remove a1", NULL, NULL, 0, CTL_CMD_REMOVE, "http://127.0.0.1:8080|-|a1|-|-|10|0|0", NULL},
    {"deadletters", NULL, NULL, 0, CTL_CMD_DL_LIST, "http://127.0.0.1:8080|-|-|-|-|10|0|0", NULL},
    {"deadletters list", NULL, NULL, 0, CTL_CMD_DL_LIST, "http://127.0.0.1:8080|-|-|-|-|10|0|0",
     NULL},
    {"deadletters replay", NULL, NULL, 0, CTL_CMD_DL_REPLAY, "http://127.0.0.1:8080|-|-|-|-|10|0|0",
     NULL},
    {"deadletters purge b-1 b-2", NULL, NULL, 0, CTL_CMD_DL_PURGE,
     "http://127.0.0.1:8080|-|-|-|-|10|0|2", NULL},
    {"deadletters purge --all", NULL, NULL, 0, CTL_CMD_DL_PURGE,
     "http://127.0.0.1:8080|-|-|-|-|10|0|0", NULL},
    {"metrics --prometheus", NULL, NULL, 0, CTL_CMD_METRICS, "http://127.0.0.1:8080|-|-|-|-|10|0|0",
     NULL},
    {"reload", NULL, NULL, 0, CTL_CMD_RELOAD, "http://127.0.0.1:8080|-|-|-|-|10|0|0", NULL},
    {"routes", NULL, NULL, 0, CTL_CMD_ROUTES, "http://127.0.0.1:8080|-|-|-|-|10|0|0", NULL},
    {"cluster --json", NULL, NULL, 0, CTL_CMD_CLUSTER, "http://127.0.0.1:8080|-|-|-|-|10|1|0", NULL},
    {"cluster extra", NULL, NULL, 2, 0, NULL, "cluster"},
    {"remove -- --x", NULL, NULL, 0, CTL_CMD_REMOVE, "http://127.0.0.1:8080|-|--x|-|-|10|0|0",
     NULL},
    /* refused */
    {"", NULL, NULL, 2, 0, NULL, "no command"},
    {"frob", NULL, NULL, 2, 0, NULL, "unknown command"},
    {"--insecure status", NULL, NULL, 2, 0, NULL, "cannot be disabled"},
    {"-k status", NULL, NULL, 2, 0, NULL, "cannot be disabled"},
    {"--nope status", NULL, NULL, 2, 0, NULL, "unknown option"},
    {"status --url", NULL, NULL, 2, 0, NULL, "needs a value"},
    {"status --url ftp://h/", NULL, NULL, 2, 0, NULL, "--url"},
    {"status --url http://", NULL, NULL, 2, 0, NULL, "--url"},
    {"status", "gopher://h", NULL, 2, 0, NULL, "LOGDIST_URL"},
    {"status --timeout 0", NULL, NULL, 2, 0, NULL, "--timeout"},
    {"status --timeout 3601", NULL, NULL, 2, 0, NULL, "--timeout"},
    {"status --timeout 5s", NULL, NULL, 2, 0, NULL, "--timeout"},
    {"status extra", NULL, NULL, 2, 0, NULL, "wrong number"},
    {"set-weight a1", NULL, NULL, 2, 0, NULL, "wrong number"},
    {"set-weight a1 -1", NULL, NULL, 2, 0, NULL, "unknown option"},
    {"set-weight a1 x", NULL, NULL, 2, 0, NULL, "weight"},
    {"set-weight a1 1e13", NULL, NULL, 2, 0, NULL, "weight"},
    {"set-weight a1 nan", NULL, NULL, 2, 0, NULL, "weight"},
    {"drain a/1", NULL, NULL, 2, 0, NULL, "analyzer id"},
    {"drain aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, NULL, 2, 0,
     NULL, "analyzer id"},
    {"add a1 h:9/i", NULL, NULL, 2, 0, NULL, "URL"},
    {"add a1 http://h/ --health-url ftp://x", NULL, NULL, 2, 0, NULL, "--health-url"},
    {"drain a1 --weight 2", NULL, NULL, 2, 0, NULL, "go with add"},
    {"status --prometheus", NULL, NULL, 2, 0, NULL, "--prometheus"},
    {"deadletters purge", NULL, NULL, 2, 0, NULL, "--all"},
    {"deadletters purge --all b-1", NULL, NULL, 2, 0, NULL, "--all"},
    {"deadletters list --all", NULL, NULL, 2, 0, NULL, "--all"},
    {"deadletters replay b-1", NULL, NULL, 2, 0, NULL, "every stored batch"},
    {"deadletters zap", NULL, NULL, 2, 0, NULL, "list, replay or purge"},
    {"status --cert c.pem", NULL, NULL, 2, 0, NULL, "together"},
    {"status --token a --token-file f", NULL, NULL, 2, 0, NULL, "give one"},
    {"status --cacert=", NULL, NULL, 2, 0, NULL, "empty"},
};

static void check_row(const row_t *r, size_t i)
{
    char buf[512], *argv[64];
    int argc = 0;
    argv[argc++] = "logdistctl";
    snprintf(buf, sizeof buf, "%s", r->line);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        argv[argc++] = t;
    ctl_opts_t o;
    static const char *ids[CTL_MAX_IDS];
    char err[256] = "";
    int rc = ctl_parse_args(argc, argv, r->env_url, r->env_token, &o, ids, err, sizeof err);
    if (rc != r->rc) fail_msg("row %zu (%s): rc %d, want %d (%s)", i, r->line, rc, r->rc, err);
    if (rc) {
        if (!strstr(err, r->err_has))
            fail_msg("row %zu (%s): message '%s' lacks '%s'", i, r->line, err, r->err_has);
        return;
    }
    char w[32] = "-", got[CTL_URL_MAX + 1024];
    if (o.has_weight) snprintf(w, sizeof w, "%g", o.weight);
    snprintf(got, sizeof got, "%s|%s|%s|%s|%s|%ld|%d|%zu", o.url, o.token ? o.token : "-",
             o.id ? o.id : "-", o.an_url ? o.an_url : "-", w, o.timeout_s, o.json, o.nids);
    if (o.cmd != r->cmd || strcmp(got, r->want))
        fail_msg("row %zu (%s): cmd %d %s, want cmd %d %s", i, r->line, o.cmd, got, r->cmd,
                 r->want);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        check_row(&rows[i], i);
}

/* The purge ids point into argv, in order; --help wins over a missing command. */
static void test_ids_and_help(void **state)
{
    (void)state;
    char *argv[] = {"logdistctl", "deadletters", "purge", "x-1", "--json", "x-2", NULL};
    static const char *ids[CTL_MAX_IDS];
    ctl_opts_t o;
    char err[128];
    assert_int_equal(ctl_parse_args(6, argv, NULL, NULL, &o, ids, err, sizeof err), 0);
    assert_int_equal(o.nids, 2);
    assert_ptr_equal(o.ids[0], argv[3]);
    assert_ptr_equal(o.ids[1], argv[5]);
    assert_true(o.json);
    char *h[] = {"logdistctl", "--help", NULL};
    assert_int_equal(ctl_parse_args(2, h, NULL, NULL, &o, ids, err, sizeof err), 0);
    assert_true(o.help);
    assert_non_null(strstr(ctl_usage(), "Exit codes"));
    assert_null(strstr(ctl_usage(), "--insecure"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_ids_and_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
