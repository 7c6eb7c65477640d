/*
 * test_breaker.c - cmocka tests for src/deliver/breaker.c, a pure state
 * machine driven by results and a clock the test owns: consecutive failures
 * open it; the error ratio over the sliding window with min_requests; old
 * buckets age out; the cool-down doubles per consecutive trip up to the cap;
 * half-open lets at most `probes` batches out, closes after `probes`
 * successes and re-opens on a failure; stragglers while open change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deliver/breaker.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const breaker_config_t CFG = {
    .failures = 3, .error_ratio = 0, .window_ms = 1000, .min_requests = 10,
    .cooldown_ms = 100, .max_cooldown_ms = 350, .probes = 2,
};

/* A script: at time t, feed ok (1) / fail (0); then expect state. */
struct step {
    uint64_t t;
    int ok;
    breaker_state_t want;
};

static void run_script(const breaker_config_t *c, const struct step *s, size_t n, const char *name)
{
    breaker_t b;
    breaker_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        breaker_tick(&b, c, s[i].t);
        if (b.state == BREAKER_HALF_OPEN) assert_true(breaker_allow(&b, c, s[i].t));
        breaker_state_t got = breaker_record(&b, c, s[i].ok, s[i].t);
        if (got != s[i].want)
            fail_msg("%s step %zu (t=%llu ok=%d): %s, want %s", name, i,
                     (unsigned long long)s[i].t, s[i].ok, breaker_state_name(got),
                     breaker_state_name(s[i].want));
    }
}

static void test_consecutive_failures(void **state)
{
    (void)state;
    const struct step s[] = {
        {0, 0, BREAKER_CLOSED}, {1, 0, BREAKER_CLOSED}, {2, 1, BREAKER_CLOSED}, /* reset */
        {3, 0, BREAKER_CLOSED}, {4, 0, BREAKER_CLOSED}, {5, 0, BREAKER_OPEN},
        {50, 1, BREAKER_OPEN},                    /* straggler: still open */
        {105, 1, BREAKER_HALF_OPEN},              /* cool-down 100 over: probe 1 of 2 */
        {106, 1, BREAKER_CLOSED},                 /* probe 2: closed */
    };
    run_script(&CFG, s, N(s), "consecutive");
}

static void test_cooldown_doubles(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, 0);
    for (int i = 0; i < 3; i++) breaker_record(&b, &CFG, false, 0);
    uint64_t t = 0;
    /* each failed probe re-opens it for twice as long, capped at 350 */
    static const uint32_t want[] = {100, 200, 350, 350};
    for (size_t k = 0; k < N(want); k++) {
        assert_int_equal(b.state, BREAKER_OPEN);
        assert_int_equal(b.open_until_ms - t, want[k]);
        assert_false(breaker_allow(&b, &CFG, b.open_until_ms - 1)); /* not a ms early */
        t = b.open_until_ms;
        assert_true(breaker_tick(&b, &CFG, t));
        assert_int_equal(b.state, BREAKER_HALF_OPEN);
        assert_true(breaker_allow(&b, &CFG, t));
        if (k + 1 < N(want)) breaker_record(&b, &CFG, false, t);
    }
    /* the last probes succeed: closed, and the doubling starts over */
    assert_true(breaker_allow(&b, &CFG, t));
    breaker_record(&b, &CFG, true, t);
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    breaker_record(&b, &CFG, true, t);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(breaker_cooldown(&b, &CFG), 100);
    assert_int_equal(b.trips, 4);
}

static void test_probe_cap(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, 0);
    for (int i = 0; i < 3; i++) breaker_record(&b, &CFG, false, 0);
    assert_false(breaker_allow(&b, &CFG, 99));
    assert_true(breaker_allow(&b, &CFG, 100)); /* half-open */
    assert_true(breaker_allow(&b, &CFG, 100));
    assert_false(breaker_allow(&b, &CFG, 100)); /* probes = 2 in flight */
    breaker_record(&b, &CFG, true, 101);
    assert_true(breaker_allow(&b, &CFG, 101)); /* a slot came back */
    breaker_record(&b, &CFG, true, 102);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_true(breaker_allow(&b, &CFG, 102));
}

static void test_error_ratio(void **state)
{
    (void)state;
    breaker_config_t c = CFG;
    c.failures = 0; /* ratio rule only */
    c.error_ratio = 0.5;
    c.min_requests = 10;
    breaker_t b;
    breaker_init(&b, 0);
    /* 4 ok + 5 fail = 9 < min_requests: closed; the 10th (fail) makes 6/10 >= 0.5: open */
    for (int i = 0; i < 4; i++) breaker_record(&b, &c, true, (uint64_t)i);
    for (int i = 0; i < 5; i++) assert_int_equal(breaker_record(&b, &c, false, 10), BREAKER_CLOSED);
    assert_int_equal(breaker_record(&b, &c, false, 11), BREAKER_OPEN);

    /* the window slides: failures older than window_ms no longer count */
    breaker_init(&b, 0);
    for (int i = 0; i < 9; i++) breaker_record(&b, &c, false, 0);
    for (int i = 0; i < 10; i++) assert_int_equal(breaker_record(&b, &c, true, 5000), BREAKER_CLOSED);
    assert_int_equal(breaker_record(&b, &c, false, 5000), BREAKER_CLOSED); /* 1/11 */
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_failures), cmocka_unit_test(test_cooldown_doubles),
        cmocka_unit_test(test_probe_cap),            cmocka_unit_test(test_error_ratio),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
