/*
 * test_auth.c - cmocka tests for src/core/auth.c and src/ingest/agent_claim.c:
 * token specs (table of good and bad --token values), auth_check (header
 * forms, roles, agent binding, every token checked), the token strength rule
 * of --hash-token (table), generated tokens, the hash format, and the strict
 * reading of a packet's "agent_id" for bound tokens (table: absent, string,
 * null, number, other types, duplicates, escaped keys, nested look-alikes,
 * with and without the scanner's record ranges).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "core/auth.h"
#include "ingest/agent_claim.h"
#include "record/scan.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const TOK_ADMIN = "Adm1n-token-0123456789abcdefXYZ";
static const char *const TOK_WEB = "W3b-token-0123456789abcdefXYZ_~";
static const char *const TOK_READ = "R3ad-token-0123456789abcdefXYZ+/";

static void add(auth_t *a, const char *roles, const char *tok, const char *agent)
{
    char hash[160], spec[400], err[256] = "";
    assert_int_equal(auth_hash_token(tok, hash, sizeof hash), 0);
    snprintf(spec, sizeof spec, "role=%s,hash=%s%s%s", roles, hash, agent ? ",agent=" : "",
             agent ? agent : "");
    if (auth_add(a, spec, err, sizeof err)) fail_msg("auth_add %s: %s", spec, err);
}

/* ---- auth_replace (config reload) ----------------------------------------------------- */

static void spec_of(char *out, const char *roles, const char *tok, const char *agent)
{
    char hash[160];
    assert_int_equal(auth_hash_token(tok, hash, sizeof hash), 0);
    snprintf(out, CONFIG_TOKEN_MAX + 1, "role=%s,hash=%s%s%s", roles, hash,
             agent ? ",agent=" : "", agent ? agent : "");
}

static int check(const auth_t *a, const char *tok, unsigned roles, const char **agent)
{
    char h[300];
    snprintf(h, sizeof h, "Bearer %s", tok);
    return auth_check(a, h, roles, agent);
}

static void test_replace(void **state)
{
    (void)state;
    auth_t *a = auth_new();
    add(a, "ingest", TOK_WEB, "web-1");
    const char *agent = NULL;
    assert_int_equal(check(a, TOK_WEB, ROLE_INGEST, &agent), AUTH_OK);
    assert_string_equal(agent, "web-1");
    char specs[3][CONFIG_TOKEN_MAX + 1];
    char err[256] = "";
    /* one bad spec among good ones: refused, nothing changes, the error names it
     * and does not echo the hash */
    spec_of(specs[0], "admin", TOK_ADMIN, NULL);
    spec_of(specs[1], "read", TOK_READ, NULL);
    char *h = strstr(specs[1], "hash=") + 5;
    snprintf(specs[2], sizeof specs[2], "rol=read,hash=%s", h);
    assert_int_equal(auth_replace(a, specs, 3, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "tokens[2]"));
    assert_null(strstr(err, "sha256"));
    assert_int_equal(auth_generation(a), 0);
    assert_int_equal(check(a, TOK_WEB, ROLE_INGEST, NULL), AUTH_OK);
    assert_int_equal(check(a, TOK_ADMIN, ROLE_ADMIN, NULL), AUTH_INVALID);
    memset(specs[2], 'x', sizeof specs[2]); /* no NUL at all */
    assert_int_equal(auth_replace(a, specs, 3, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "tokens[2]: token spec too long"));
    /* the good set: the old token is gone, the new ones work; the agent string
     * handed out before the swap is still readable */
    assert_int_equal(auth_replace(a, specs, 2, err, sizeof err), 0);
    assert_int_equal(auth_generation(a), 1);
    assert_string_equal(agent, "web-1");
    assert_int_equal(check(a, TOK_WEB, ROLE_INGEST, NULL), AUTH_INVALID);
    assert_int_equal(check(a, TOK_ADMIN, ROLE_ADMIN, NULL), AUTH_OK);
    assert_int_equal(check(a, TOK_READ, ROLE_ADMIN, NULL), AUTH_FORBIDDEN);
    assert_true(auth_enabled(a));
    /* n == 0 turns authentication off, a set turns it back on */
    assert_int_equal(auth_replace(a, specs, 0, err, sizeof err), 0);
    assert_false(auth_enabled(a));
    assert_int_equal(auth_check(a, NULL, ROLE_ADMIN, NULL), AUTH_OK);
    assert_int_equal(auth_replace(a, specs, 1, err, sizeof err), 0);
    assert_true(auth_enabled(a));
    assert_int_equal(auth_check(a, NULL, ROLE_ADMIN, NULL), AUTH_MISSING);
    assert_int_equal(auth_generation(a), 3);
    auth_free(a);
}

/* Readers on several threads while the set flips between {admin} and {web}:
 * every answer is one a whole set gives (never a torn read, never a crash;
 * the ASan build checks nothing freed is read). */
typedef struct {
    auth_t *a;
    _Atomic int stop;
    _Atomic unsigned long long checks, bad;
} race_t;

static void *reader(void *arg)
{
    race_t *r = arg;
    while (!atomic_load(&r->stop)) {
        const char *agent = NULL;
        int x = check(r->a, TOK_ADMIN, ROLE_ADMIN, NULL);
        int y = check(r->a, TOK_WEB, ROLE_INGEST, &agent);
        if ((x != AUTH_OK && x != AUTH_INVALID) || (y != AUTH_OK && y != AUTH_INVALID) ||
            (y == AUTH_OK && strcmp(agent, "web-1")))
            atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->checks, 1);
    }
    return NULL;
}

static void test_replace_under_readers(void **state)
{
    (void)state;
    race_t r = {.a = auth_new()};
    char sets[2][1][CONFIG_TOKEN_MAX + 1], err[256];
    spec_of(sets[0][0], "admin", TOK_ADMIN, NULL);
    spec_of(sets[1][0], "ingest", TOK_WEB, "web-1");
    assert_int_equal(auth_replace(r.a, sets[0], 1, err, sizeof err), 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&th[i], NULL, reader, &r), 0);
    for (int k = 0; k < 400; k++) {
        assert_int_equal(auth_replace(r.a, sets[k & 1], 1, err, sizeof err), 0);
        while (atomic_load(&r.checks) < (unsigned long long)k) sched_yield();
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_int_equal(auth_generation(r.a), 401);
    auth_free(r.a);
}

/* ---- token specs --------------------------------------------------------------------- */

static void test_token_specs(void **state)
{
    (void)state;
    char hash[160];
    assert_int_equal(auth_hash_token(TOK_ADMIN, hash, sizeof hash), 0);
    char good_hash[200];
    snprintf(good_hash, sizeof good_hash, "hash=%s", hash);
    struct {
        const char *spec_fmt; /* %s = hash=... */
        int ok;
        const char *err_has;
    } cases[] = {
        {"role=ingest,%s", 1, NULL},
        {"role=admin+read,%s", 1, NULL},
        {"%s,role=read,agent=web-1", 1, NULL},
        {"role=ingest+admin+read,%s", 1, NULL},
        {"role=,%s", 0, "role="},
        {"role=root,%s", 0, "role"},
        {"role=ingest+,%s", 0, "role"},
        {"role=ingest", 0, "required"},
        {"%s", 0, "required"},
        {"role=ingest,hash=sha256$00$11", 0, "hash"},
        {"role=ingest,hash=md5$0123", 0, "hash"},
        {"role=ingest,%s,color=red", 0, "expected"},
        {"role=ingest,%sZ", 0, "hash"},
        {"", 0, "required"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        auth_t *a = auth_new();
        char spec[400], err[256] = "";
        snprintf(spec, sizeof spec, cases[i].spec_fmt, good_hash);
        int rc = auth_add(a, spec, err, sizeof err);
        if ((rc == 0) != cases[i].ok) fail_msg("case %zu '%s': rc %d (%s)", i, spec, rc, err);
        if (!cases[i].ok && !strstr(err, cases[i].err_has))
            fail_msg("case %zu '%s': error '%s' lacks '%s'", i, spec, err, cases[i].err_has);
        assert_int_equal(auth_enabled(a), cases[i].ok);
        auth_free(a);
    }
}

/* ---- auth_check ---------------------------------------------------------------------- */

static void test_check(void **state)
{
    (void)state;
    auth_t *a = auth_new();
    const char *agent = "x";
    assert_int_equal(auth_check(a, NULL, ROLE_ADMIN, &agent), AUTH_OK); /* off: open */
    assert_null(agent);
    add(a, "admin", TOK_ADMIN, NULL);
    add(a, "ingest", TOK_WEB, "web-1");
    add(a, "read", TOK_READ, NULL);
    char hdr[300];
    struct {
        const char *fmt; /* %s = the token */
        const char *tok;
        unsigned roles;
        int want;
        const char *agent;
    } cases[] = {
        {"Bearer %s", TOK_ADMIN, ROLE_ADMIN, AUTH_OK, NULL},
        {"bearer %s", TOK_ADMIN, ROLE_ADMIN, AUTH_OK, NULL},
        {"Bearer   %s  ", TOK_ADMIN, ROLE_ADMIN, AUTH_OK, NULL},
        {"Bearer %s", TOK_ADMIN, ROLE_INGEST, AUTH_FORBIDDEN, NULL},
        {"Bearer %s", TOK_READ, ROLE_READ | ROLE_ADMIN, AUTH_OK, NULL},
        {"Bearer %s", TOK_WEB, ROLE_INGEST, AUTH_OK, "web-1"},
        {"Bearer %sx", TOK_WEB, ROLE_INGEST, AUTH_INVALID, NULL},
        {"Bearer x%s", TOK_WEB, ROLE_INGEST, AUTH_INVALID, NULL},
        {"Basic %s", TOK_ADMIN, ROLE_ADMIN, AUTH_MISSING, NULL},
        {"%s", TOK_ADMIN, ROLE_ADMIN, AUTH_MISSING, NULL},
        {"Bearer ", "", ROLE_ADMIN, AUTH_INVALID, NULL},
        {"Bearer %s", "", ROLE_ADMIN, AUTH_INVALID, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        snprintf(hdr, sizeof hdr, cases[i].fmt, cases[i].tok);
        agent = "stale";
        int got = auth_check(a, hdr, cases[i].roles, &agent);
        if (got != cases[i].want) fail_msg("case %zu '%s': %d, want %d", i, hdr, got, cases[i].want);
        if (got == AUTH_OK && (cases[i].agent ? !agent || strcmp(agent, cases[i].agent) : !!agent))
            fail_msg("case %zu: agent %s, want %s", i, agent ? agent : "NULL",
                     cases[i].agent ? cases[i].agent : "NULL");
    }
    assert_int_equal(auth_check(a, NULL, ROLE_READ, NULL), AUTH_MISSING);
    char big[5000];
    memset(big, 'a', sizeof big);
    memcpy(big, "Bearer ", 7);
    big[sizeof big - 1] = 0;
    assert_int_equal(auth_check(a, big, ROLE_READ, NULL), AUTH_INVALID);
    auth_free(a);
}

/* ---- token strength (--hash-token) ---------------------------------------------------- */

static void test_token_strength(void **state)
{
    (void)state;
    struct {
        const char *tok;
        int ok;
    } cases[] = {
        {"", 0},
        {"a", 0},
        {"secret", 0},
        {"0123456789abcdef0123456789abcde", 0},   /* 31 hex */
        {"0123456789abcdef0123456789abcdef", 1},  /* 32 hex = 128 bits */
        {"0123456789ABCDEF0123456789abcdef", 1},
        {"Zq3_kP9-xW2mV7nB4tR8yL", 1},            /* 22 base64url = 132 bits */
        {"Zq3_kP9-xW2mV7nB4tR8y", 0},             /* 21 */
        {"Zq3/kP9+xW2mV7nB4tR8yL==", 1},          /* padding does not count, 22 left */
        {"Zq3/kP9+xW2mV7nB4tR8y==", 0},           /* 21 + padding */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0}, /* one character */
        {"abababababababababababababababab", 0},  /* 2 different */
        {"abcdefgabcdefgabcdefgabcdefg", 0},      /* 7 different */
        {"Zq3 kP9-xW2mV7nB4tR8yL", 0},            /* space */
        {"Zq3\"kP9-xW2mV7nB4tR8yL", 0},
        {"Zq3,kP9-xW2mV7nB4tR8yL", 0},
        {"Zq3\xc3\xa9kP9-xW2mV7nB4tR8yL", 0},     /* non-ASCII */
        {"=Zq3kP9-xW2mV7nB4tR8yLq", 0},           /* '=' only as trailing padding */
    };
    for (size_t i = 0; i < N(cases); i++) {
        char err[300] = "";
        int rc = auth_token_check(cases[i].tok, err, sizeof err);
        if ((rc == 0) != cases[i].ok)
            fail_msg("case %zu '%s': rc %d (%s), want %s", i, cases[i].tok, rc, err,
                     cases[i].ok ? "ok" : "refused");
        if (!cases[i].ok && !err[0]) fail_msg("case %zu: refused without a message", i);
        if (!cases[i].ok) assert_int_equal(rc, -22); /* -EINVAL */
    }
    char big[5000];
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = 0;
    assert_int_not_equal(auth_token_check(big, NULL, 0), 0);
}

static void test_generate_token(void **state)
{
    (void)state;
    char a[AUTH_TOKEN_GENERATED_LEN + 1], b[AUTH_TOKEN_GENERATED_LEN + 1], small[10];
    assert_int_equal(auth_generate_token(a, sizeof a), 0);
    assert_int_equal(auth_generate_token(b, sizeof b), 0);
    assert_int_equal(strlen(a), AUTH_TOKEN_GENERATED_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     AUTH_TOKEN_GENERATED_LEN);
    assert_int_equal(auth_token_check(a, NULL, 0), 0);
    assert_int_not_equal(auth_generate_token(small, sizeof small), 0);
    /* a generated token works end to end */
    auth_t *au = auth_new();
    add(au, "ingest", a, NULL);
    char hdr[100];
    snprintf(hdr, sizeof hdr, "Bearer %s", a);
    assert_int_equal(auth_check(au, hdr, ROLE_INGEST, NULL), AUTH_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", b);
    assert_int_equal(auth_check(au, hdr, ROLE_INGEST, NULL), AUTH_INVALID);
    auth_free(au);
}

static void test_hash_format(void **state)
{
    (void)state;
    char h1[160], h2[160], tiny[40];
    assert_int_equal(auth_hash_token(TOK_ADMIN, h1, sizeof h1), 0);
    assert_int_equal(auth_hash_token(TOK_ADMIN, h2, sizeof h2), 0);
    assert_int_equal(strlen(h1), 7 + 32 + 1 + 64);
    assert_memory_equal(h1, "sha256$", 7);
    assert_string_not_equal(h1, h2); /* fresh salt */
    assert_int_not_equal(auth_hash_token("", h1, sizeof h1), 0);
    assert_int_not_equal(auth_hash_token(TOK_ADMIN, tiny, sizeof tiny), 0);
}

/* ---- agent_claim ---------------------------------------------------------------------- */

typedef struct {
    const char *body;
    agent_claim_kind_t kind;
    const char *value; /* STRING: contents; NOT_STRING: type */
    const char *at;    /* text expected at key_off (DUPLICATE) or value_off (others) */
} claim_case_t;

static const claim_case_t claim_cases[] = {
    {"{\"messages\":[{}]}", AGENT_CLAIM_ABSENT, NULL, NULL},
    {"[{\"agent_id\":\"x\"}]", AGENT_CLAIM_ABSENT, NULL, NULL},
    {"  {}", AGENT_CLAIM_ABSENT, NULL, NULL},
    {"{\"agent_id\":\"web-1\",\"messages\":[]}", AGENT_CLAIM_STRING, "web-1", "web-1\""},
    {"{ \"messages\" : [ {\"agent_id\":1} ] , \"agent_id\" : \"a\\\"b\" }", AGENT_CLAIM_STRING,
     "a\\\"b", "a\\\"b\""},
    {"{\"agent_id\":null,\"messages\":[]}", AGENT_CLAIM_NOT_STRING, "null", "null"},
    {"{\"agent_id\":12,\"messages\":[]}", AGENT_CLAIM_NOT_STRING, "number", "12"},
    {"{\"agent_id\":-1.5e3}", AGENT_CLAIM_NOT_STRING, "number", "-1.5e3"},
    {"{\"agent_id\":true}", AGENT_CLAIM_NOT_STRING, "boolean", "true"},
    {"{\"agent_id\":{\"a\":\"web-1\"}}", AGENT_CLAIM_NOT_STRING, "object", "{"},
    {"{\"agent_id\":[\"web-1\"]}", AGENT_CLAIM_NOT_STRING, "array", "["},
    {"{\"agent_id\":\"a\",\"agent_id\":\"b\"}", AGENT_CLAIM_DUPLICATE, NULL, "\"agent_id\":\"b"},
    {"{\"agent_id\":\"a\",\"messages\":[],\"agent\\u005fid\":\"b\"}", AGENT_CLAIM_DUPLICATE, NULL,
     "\"agent\\u005fid"},
    {"{\"agent_id\":null,\"agent_id\":\"web-1\"}", AGENT_CLAIM_DUPLICATE, NULL,
     "\"agent_id\":\"web-1"},
    {"{\"\\u0061gent_id\":7}", AGENT_CLAIM_NOT_STRING, "number", "7"},
    {"{\"agent_id \":7,\"agent_i\":7,\"Agent_id\":7,\"agent_id\\u0000\":7}", AGENT_CLAIM_ABSENT,
     NULL, NULL},
    {"{\"meta\":{\"agent_id\":\"x\",\"agent_id\":\"y\"},\"messages\":[{\"agent_id\":null}]}",
     AGENT_CLAIM_ABSENT, NULL, NULL},
    {"{\"s\":\"}{\\\"agent_id\\\":1\",\"agent_id\":\"z\"}", AGENT_CLAIM_STRING, "z", "z\""},
    {"{\"messages\":[{\"a\":\"]}\"},{}],\"agent_id\":\"\"}", AGENT_CLAIM_STRING, "", "\"}"},
    {"{\"agent_id\":\"a\"", AGENT_CLAIM_BAD, NULL, NULL},
    {"{\"agent_id\" \"a\"}", AGENT_CLAIM_BAD, NULL, NULL},
    {"{\"messages\":[{\"x\":\"unterminated}]}", AGENT_CLAIM_BAD, NULL, NULL},
    {"", AGENT_CLAIM_BAD, NULL, NULL},
    {"\"agent_id\"", AGENT_CLAIM_BAD, NULL, NULL},
};

static void check_claim(size_t i, const claim_case_t *c, const scan_record_t *recs, size_t n)
{
    agent_claim_t out;
    size_t len = strlen(c->body);
    agent_claim_kind_t k = agent_claim_find(c->body, len, recs, n, &out);
    if (k != c->kind || out.kind != k)
        fail_msg("case %zu (%s records) %s: kind %d, want %d", i, recs ? "with" : "without",
                 c->body, k, c->kind);
    if (k == AGENT_CLAIM_STRING) {
        assert_true(out.value_off + out.value_len <= len);
        if (out.value_len != strlen(c->value) || memcmp(c->body + out.value_off, c->value, out.value_len))
            fail_msg("case %zu: value '%.*s', want '%s'", i, (int)out.value_len,
                     c->body + out.value_off, c->value);
    }
    if (k == AGENT_CLAIM_NOT_STRING) assert_string_equal(out.type, c->value);
    if (c->at) {
        size_t off = k == AGENT_CLAIM_DUPLICATE ? out.key_off : out.value_off;
        if (off > len || strncmp(c->body + off, c->at, strlen(c->at)))
            fail_msg("case %zu: offset %zu points at '%s', want '%s'", i, off, c->body + off, c->at);
    }
}

static void test_agent_claim(void **state)
{
    (void)state;
    scan_result_t s;
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < N(claim_cases); i++) {
        const claim_case_t *c = &claim_cases[i];
        check_claim(i, c, NULL, 0); /* byte by byte */
        if (c->kind != AGENT_CLAIM_BAD &&
            scan_body(c->body, strlen(c->body), SCAN_FORMAT_JSON, NULL, &s) == SCAN_OK)
            check_claim(i, c, s.records, s.count); /* jumping over the records */
    }
    /* the claim agrees with the scanner whenever there is exactly one string */
    static const char body[] = "{\"packet_id\":\"p\",\"messages\":[{\"agent_id\":\"no\"}],"
                               "\"agent_id\":\"web-1\"}";
    assert_int_equal(scan_body(body, sizeof body - 1, SCAN_FORMAT_JSON, NULL, &s), SCAN_OK);
    agent_claim_t out;
    assert_int_equal(agent_claim_find(body, sizeof body - 1, s.records, s.count, &out),
                     AGENT_CLAIM_STRING);
    assert_int_equal(out.value_off, s.agent_id.off);
    assert_int_equal(out.value_len, s.agent_id.len);
    /* bogus record ranges never make it read past the body */
    scan_record_t bogus = {{6, 1000}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0};
    assert_int_equal(agent_claim_find("{\"m\":[{}]}", 10, &bogus, 1, &out) == AGENT_CLAIM_BAD ||
                         out.kind == AGENT_CLAIM_ABSENT,
                     1);
    scan_result_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_specs),     cmocka_unit_test(test_check),
        cmocka_unit_test(test_token_strength),  cmocka_unit_test(test_generate_token),
        cmocka_unit_test(test_hash_format),     cmocka_unit_test(test_agent_claim),
        cmocka_unit_test(test_replace),         cmocka_unit_test(test_replace_under_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
