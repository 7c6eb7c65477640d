/*
 * test_ratelimit.c - cmocka tests for src/ingest/ratelimit.c, driven by an
 * injected clock (the now_us argument): a table of admit steps per scenario
 * (burst, refusal with its Retry-After, refill over time, packets larger
 * than the bucket, global vs agent limits, separate agents, a refused packet
 * costing nothing, a clock that steps backwards), plus the bound on tracked
 * agents (least recently seen forgotten) and the disabled limiter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/ratelimit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define S 1000000ull /* one second in microseconds */

typedef struct {
    uint64_t t_us;
    const char *agent;
    uint64_t records, bytes;
    int want;          /* 0 admitted, else the Retry-After seconds */
    const char *which; /* on refusal: "global" or "agent" */
} step_t;

typedef struct {
    const char *name;
    ratelimit_config_t cfg;
    step_t steps[12];
} scenario_t;

static const scenario_t scenarios[] = {
    {"global records: burst, refusal, refill",
     {10, 0, 0, 0, 1, 0},
     {{1 * S, "a", 6, 1, 0, NULL},
      {1 * S, "a", 4, 1, 0, NULL},
      {1 * S, "b", 1, 1, 1, "global"},          /* empty: 0.1 s to one token -> 1 s */
      {1 * S + S / 2, "b", 5, 1, 0, NULL},      /* 0.5 s refilled 5 */
      {1 * S + S / 2, "b", 1, 1, 1, "global"},
      {3 * S, "b", 10, 1, 0, NULL},             /* long idle: capped at the burst */
      {3 * S, "b", 1, 1, 1, "global"}}},
    {"global bytes: retry-after rounds up",
     {0, 1000, 0, 0, 2, 0},
     {{1 * S, "a", 1, 2000, 0, NULL},   /* burst 2 s = 2000 bytes */
      {1 * S, "a", 1, 1500, 2, "global"}, /* 1.5 s -> 2 */
      {2 * S + S / 2, "a", 1, 1500, 0, NULL}}},
    {"a packet larger than the bucket fits when it is full",
     {5, 0, 0, 0, 1, 0},
     {{1 * S, "a", 50, 1, 0, NULL},     /* full bucket: admitted, bucket emptied */
      {1 * S, "a", 1, 1, 1, "global"},
      {2 * S, "a", 50, 1, 0, NULL}}},   /* full again after 1 s */
    {"agent limits are per agent",
     {0, 0, 3, 0, 1, 0},
     {{1 * S, "a", 3, 1, 0, NULL},
      {1 * S, "a", 1, 1, 1, "agent"},
      {1 * S, "b", 3, 1, 0, NULL},      /* b has its own bucket */
      {1 * S, "b", 1, 1, 1, "agent"},
      {2 * S, "a", 3, 1, 0, NULL}}},
    {"a refused packet costs nothing (global nor agent)",
     {4, 0, 2, 0, 1, 0},
     {{1 * S, "a", 2, 1, 0, NULL},      /* global 4->2, a 2->0 */
      {1 * S, "a", 1, 1, 1, "agent"},   /* refused by a: the global bucket keeps 2 */
      {1 * S, "b", 2, 1, 0, NULL},      /* so b still fits */
      {1 * S, "c", 1, 1, 1, "global"}}},
    {"a clock stepping backwards refills nothing",
     {10, 0, 0, 0, 1, 0},
     {{100 * S, "a", 10, 1, 0, NULL},
      {50 * S, "a", 1, 1, 1, "global"},  /* backwards: no refill */
      {50 * S, "a", 1, 1, 1, "global"},
      {50 * S + S / 5, "a", 2, 1, 0, NULL}}}, /* forward again from the new reading */
    {"agent clock stepping backwards refills nothing",
     {0, 0, 5, 0, 1, 0},
     {{100 * S, "a", 5, 1, 0, NULL},
      {10 * S, "a", 1, 1, 1, "agent"}}},
};

static void test_scenarios(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(scenarios); i++) {
        const scenario_t *sc = &scenarios[i];
        ratelimit_t *r = ratelimit_new(&sc->cfg);
        assert_non_null(r);
        assert_true(ratelimit_enabled(r));
        for (size_t k = 0; k < N(sc->steps) && sc->steps[k].t_us; k++) {
            const step_t *st = &sc->steps[k];
            const char *which = NULL;
            int got = ratelimit_admit(r, st->agent, strlen(st->agent), st->records, st->bytes,
                                      st->t_us, &which);
            if (got != st->want)
                fail_msg("%s, step %zu: admit returned %d, want %d", sc->name, k, got, st->want);
            if (st->want && (!which || strcmp(which, st->which)))
                fail_msg("%s, step %zu: refused by %s, want %s", sc->name, k,
                         which ? which : "(null)", st->which);
        }
        ratelimit_free(r);
    }
}

/* ratelimit_reconfigure: each step either reconfigures (cfg set) or admits;
 * the clock stands still, so only the reconfiguration changes the buckets. */
static void test_reconfigure(void **state)
{
    (void)state;
    static const struct {
        bool reconf;
        ratelimit_config_t cfg;
        const char *agent;
        uint64_t records;
        int want;
        const char *which;
    } steps[] = {
        {true, {10, 0, 10, 0, 1, 0}, NULL, 0, 0, NULL},
        {false, {0}, "a", 8, 0, NULL},             /* global 10->2, a 10->2 */
        {true, {4, 0, 5, 0, 1, 0}, NULL, 0, 0, NULL}, /* lowered: levels kept (2, 2) */
        {false, {0}, "b", 3, 1, "global"},
        {false, {0}, "b", 2, 0, NULL},             /* global 2->0 */
        {false, {0}, "a", 1, 1, "global"},
        {true, {0, 0, 0, 0, 1, 0}, NULL, 0, 0, NULL}, /* all off: anything passes */
        {false, {0}, "a", 1000, 0, NULL},
        {true, {0, 0, 3, 0, 1, 0}, NULL, 0, 0, NULL}, /* agents on again: start full */
        {false, {0}, "a", 3, 0, NULL},
        {false, {0}, "a", 1, 1, "agent"},
        {false, {0}, "b", 3, 0, NULL},
        {true, {0, 0, 3, 0, 2, 0}, NULL, 0, 0, NULL}, /* bigger burst: levels kept (0) */
        {false, {0}, "a", 1, 1, "agent"},
        {true, {6, 0, 0, 0, 1, 0}, NULL, 0, 0, NULL}, /* global was off: starts full */
        {false, {0}, "c", 6, 0, NULL},
        {false, {0}, "c", 1, 1, "global"},
    };
    ratelimit_config_t off = {0, 0, 0, 0, 1, 2};
    ratelimit_t *r = ratelimit_new(&off);
    assert_non_null(r);
    const uint64_t now = 5000000;
    for (size_t i = 0; i < N(steps); i++) {
        if (steps[i].reconf) {
            ratelimit_reconfigure(r, &steps[i].cfg);
            assert_int_equal(ratelimit_enabled(r) != 0,
                             steps[i].cfg.global_records_per_s || steps[i].cfg.agent_records_per_s);
            continue;
        }
        const char *which = NULL;
        int got = ratelimit_admit(r, steps[i].agent, strlen(steps[i].agent), steps[i].records, 1,
                                  now, &which);
        if ((got != 0) != (steps[i].want != 0)) fail_msg("step %zu: admit returned %d", i, got);
        if (got && strcmp(which, steps[i].which)) fail_msg("step %zu: refused by %s", i, which);
    }
    assert_int_equal(ratelimit_agents(r), 2); /* max_agents (2) kept across reconfigure */
    ratelimit_free(r);
}

static void test_disabled(void **state)
{
    (void)state;
    ratelimit_config_t cfg = {0, 0, 0, 0, 1, 0};
    ratelimit_t *r = ratelimit_new(&cfg);
    assert_non_null(r);
    assert_false(ratelimit_enabled(r));
    const char *which = NULL;
    for (int i = 0; i < 100; i++)
        assert_int_equal(ratelimit_admit(r, "a", 1, 1000000, 1u << 30, S, &which), 0);
    assert_int_equal(ratelimit_agents(r), 0);
    ratelimit_free(r);
    assert_false(ratelimit_enabled(NULL));
}

/* max_agents bounds the table; the least recently seen agent is forgotten
 * (and comes back with a full bucket). */
static void test_agents_bounded_lru(void **state)
{
    (void)state;
    ratelimit_config_t cfg = {0, 0, 1, 0, 1, 3};
    ratelimit_t *r = ratelimit_new(&cfg);
    assert_non_null(r);
    const char *which = NULL;
    static const char *const keys[] = {"a", "b", "c"};
    for (size_t i = 0; i < N(keys); i++)
        assert_int_equal(ratelimit_admit(r, keys[i], 1, 1, 1, S, &which), 0);
    assert_int_equal(ratelimit_agents(r), 3);
    /* touch a: b is now the least recent */
    assert_int_equal(ratelimit_admit(r, "a", 1, 1, 1, S, &which), 1);
    assert_int_equal(ratelimit_admit(r, "d", 1, 1, 1, S, &which), 0);
    assert_int_equal(ratelimit_agents(r), 3);
    assert_int_equal(ratelimit_admit(r, "a", 1, 1, 1, S, &which), 1); /* a kept: still empty */
    assert_int_equal(ratelimit_admit(r, "c", 1, 1, 1, S, &which), 1); /* c kept */
    assert_int_equal(ratelimit_admit(r, "b", 1, 1, 1, S, &which), 0); /* b forgotten: full */
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        ratelimit_admit(r, k, (size_t)n, 1, 1, S, &which);
    }
    assert_int_equal(ratelimit_agents(r), 3);
    ratelimit_free(r);
}

/* Keys are bytes, not C strings: embedded NULs and prefixes are distinct. */
static void test_keys_are_bytes(void **state)
{
    (void)state;
    ratelimit_config_t cfg = {0, 0, 1, 0, 1, 0};
    ratelimit_t *r = ratelimit_new(&cfg);
    const char *which = NULL;
    assert_int_equal(ratelimit_admit(r, "ab\0c", 4, 1, 1, S, &which), 0);
    assert_int_equal(ratelimit_admit(r, "ab\0d", 4, 1, 1, S, &which), 0);
    assert_int_equal(ratelimit_admit(r, "ab", 2, 1, 1, S, &which), 0);
    assert_int_equal(ratelimit_admit(r, "", 0, 1, 1, S, &which), 0);
    assert_int_equal(ratelimit_admit(r, "ab\0c", 4, 1, 1, S, &which), 1);
    assert_int_equal(ratelimit_agents(r), 4);
    ratelimit_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_reconfigure),
        cmocka_unit_test(test_agents_bounded_lru),
        cmocka_unit_test(test_keys_are_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
