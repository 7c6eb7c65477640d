/*
 * test_breaker.c - cmocka tests for src/deliver/breaker.c, a pure state
 * machine driven by results and a clock the test owns: consecutive failures
 * open it; the error ratio over the sliding window with min_requests; old
 * buckets age out; the cool-down doubles per consecutive trip up to the cap;
 * half-open lets at most `probes` batches out, closes after `probes`
 * successes and re-opens on a failure; stragglers while open change nothing.
 * Tickets (table-driven scripts of sends and results): only a probe of the
 * current half-open period closes or re-opens it; attempts sent before the
 * trip that complete later, whatever their result and whenever they land,
 * change nothing and free no probe slot.
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

static const breaker_config_t CFG1 = { /* one probe */
    .failures = 2, .error_ratio = 0, .window_ms = 1000, .min_requests = 10,
    .cooldown_ms = 100, .max_cooldown_ms = 350, .probes = 1,
};

/* A script of attempts: SEND asks breaker_allow at time t for attempt
 * `id` (its ticket kept) and expects `ok` = allowed or not; DONE reports
 * attempt `id`'s result `ok` at t. After each step the state must be `want`. */
enum { SEND, DONE };
struct step {
    uint64_t t;
    int op, id, ok;
    breaker_state_t want;
};

#define MAXID 16

/* Returns the number of steps that went wrong (printed; the script stops at
 * the first one). */
static int script(const breaker_config_t *c, const struct step *s, size_t n, const char *name)
{
    breaker_t b;
    breaker_ticket_t tk[MAXID];
    breaker_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(s[i].id >= 0 && s[i].id < MAXID);
        breaker_state_t got;
        if (s[i].op == SEND) {
            bool allowed = breaker_allow(&b, c, s[i].t, &tk[s[i].id]);
            if (allowed != (s[i].ok != 0)) {
                print_error("%s: step %zu (t=%llu send #%d): %s, want %s\n", name, i,
                            (unsigned long long)s[i].t, s[i].id, allowed ? "allowed" : "refused",
                            s[i].ok ? "allowed" : "refused");
                return 1;
            }
            got = b.state;
        } else {
            got = breaker_record(&b, c, &tk[s[i].id], s[i].ok, s[i].t);
        }
        if (got != s[i].want) {
            print_error("%s: step %zu (t=%llu %s #%d ok=%d): %s, want %s\n", name, i,
                        (unsigned long long)s[i].t, s[i].op == SEND ? "send" : "done", s[i].id,
                        s[i].ok, breaker_state_name(got), breaker_state_name(s[i].want));
            return 1;
        }
    }
    return 0;
}

static void run_script(const breaker_config_t *c, const struct step *s, size_t n, const char *name)
{
    if (script(c, s, n, name)) fail_msg("script %s failed", name);
}

#define C BREAKER_CLOSED
#define O BREAKER_OPEN
#define H BREAKER_HALF_OPEN

static void test_consecutive_failures(void **state)
{
    (void)state;
    const struct step s[] = {
        {0, SEND, 0, 1, C}, {0, SEND, 1, 1, C}, {0, SEND, 2, 1, C}, {0, SEND, 3, 1, C},
        {0, SEND, 4, 1, C}, {0, SEND, 5, 1, C}, {0, SEND, 6, 1, C},
        {0, DONE, 0, 0, C}, {1, DONE, 1, 0, C}, {2, DONE, 2, 1, C}, /* reset */
        {3, DONE, 3, 0, C}, {4, DONE, 4, 0, C}, {5, DONE, 5, 0, O},
        {50, DONE, 6, 1, O},                     /* straggler: still open */
        {99, SEND, 7, 0, O},                     /* nothing goes out while open */
        {105, SEND, 7, 1, H}, {105, SEND, 8, 1, H}, /* cool-down 100 over: 2 probes */
        {105, SEND, 9, 0, H},                    /* at most 2 in flight */
        {105, DONE, 7, 1, H},                    /* probe 1 of 2 */
        {106, DONE, 8, 1, C},                    /* probe 2: closed */
    };
    run_script(&CFG, s, N(s), "consecutive");
}

/* The review's trace: an attempt sent before the trip completes while the
 * real probe is out. Success or failure, it is not the probe. */
static void test_pre_trip_attempts_are_not_probes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        struct step s[12];
        size_t n;
    } cases[] = {
        {"late success does not close",
         {{0, SEND, 0, 1, C}, {0, SEND, 1, 1, C}, {0, SEND, 2, 1, C},
          {1, DONE, 0, 0, C}, {2, DONE, 1, 0, O},          /* trip; #2 still out */
          {102, SEND, 3, 1, H},                             /* the probe */
          {123, DONE, 2, 1, H},                             /* 21 ms later, #2: ok */
          {124, SEND, 4, 0, H},                             /* its slot is not freed */
          {130, DONE, 3, 1, C}},                            /* the probe closes it */
         9},
        {"late failure does not re-open",
         {{0, SEND, 0, 1, C}, {0, SEND, 1, 1, C}, {0, SEND, 2, 1, C},
          {1, DONE, 0, 0, C}, {2, DONE, 1, 0, O},
          {102, SEND, 3, 1, H},
          {110, DONE, 2, 0, H},                             /* #2 times out late */
          {124, SEND, 4, 0, H},
          {130, DONE, 3, 1, C}},
         9},
        {"late results after closing again are ignored",
         {{0, SEND, 0, 1, C}, {0, SEND, 1, 1, C}, {0, SEND, 2, 1, C}, {0, SEND, 3, 1, C},
          {1, DONE, 0, 0, C}, {2, DONE, 1, 0, O},
          {102, SEND, 4, 1, H}, {103, DONE, 4, 1, C},       /* closed by the probe */
          {104, SEND, 5, 1, C}, {105, DONE, 5, 0, C},       /* 1 failure of 2 now */
          {106, DONE, 2, 0, C}, {107, DONE, 3, 0, C}},      /* pre-trip: not 2 more */
         12},
        {"a probe of an earlier half-open period is a straggler",
         {{0, SEND, 0, 1, C}, {0, SEND, 1, 1, C},
          {1, DONE, 0, 0, C}, {2, DONE, 1, 0, O},
          {102, SEND, 2, 1, H}, {103, DONE, 2, 0, O},       /* probe fails: 200 ms */
          {303, SEND, 3, 1, H},                             /* the new probe */
          {304, SEND, 4, 0, H},
          {305, DONE, 2, 1, H},                             /* old probe again: ignored */
          {306, DONE, 3, 1, C}},
         10},
        {"a probe completing after the close counts as closed traffic",
         {{0, SEND, 0, 1, C}, {0, SEND, 1, 1, C},
          {1, DONE, 0, 0, C}, {2, DONE, 1, 0, O},
          {102, SEND, 2, 1, H}, {103, DONE, 2, 1, C},
          {104, SEND, 3, 1, C}, {105, DONE, 3, 0, C},
          {106, SEND, 4, 1, C}, {107, DONE, 4, 0, O}},      /* 2 current failures trip */
         10},
    };
    int bad = 0;
    for (size_t k = 0; k < N(cases); k++) bad += script(&CFG1, cases[k].s, cases[k].n, cases[k].name);
    assert_int_equal(bad, 0);
}

/* allow + record: one attempt of the current generation. */
static breaker_state_t attempt(breaker_t *b, const breaker_config_t *c, bool ok, uint64_t t)
{
    breaker_ticket_t tk;
    assert_true(breaker_allow(b, c, t, &tk));
    return breaker_record(b, c, &tk, ok, t);
}

static void test_cooldown_doubles(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t tk, tk2;
    breaker_init(&b, 0);
    for (int i = 0; i < 3; i++) attempt(&b, &CFG, false, 0);
    uint64_t t = 0;
    /* each failed probe re-opens it for twice as long, capped at 350 */
    static const uint32_t want[] = {100, 200, 350, 350};
    for (size_t k = 0; k < N(want); k++) {
        assert_int_equal(b.state, BREAKER_OPEN);
        assert_int_equal(b.open_until_ms - t, want[k]);
        assert_false(breaker_allow(&b, &CFG, b.open_until_ms - 1, &tk)); /* not a ms early */
        t = b.open_until_ms;
        assert_true(breaker_tick(&b, &CFG, t));
        assert_int_equal(b.state, BREAKER_HALF_OPEN);
        assert_true(breaker_allow(&b, &CFG, t, &tk));
        if (k + 1 < N(want)) breaker_record(&b, &CFG, &tk, false, t);
    }
    /* the last probes succeed: closed, and the doubling starts over */
    assert_true(breaker_allow(&b, &CFG, t, &tk2));
    breaker_record(&b, &CFG, &tk, true, t);
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    breaker_record(&b, &CFG, &tk2, true, t);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(breaker_cooldown(&b, &CFG), 100);
    assert_int_equal(b.trips, 4);
}

static void test_probe_cap(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t p1, p2, p3, tk;
    breaker_init(&b, 0);
    for (int i = 0; i < 3; i++) attempt(&b, &CFG, false, 0);
    assert_false(breaker_allow(&b, &CFG, 99, &tk));
    assert_true(breaker_allow(&b, &CFG, 100, &p1)); /* half-open */
    assert_true(breaker_allow(&b, &CFG, 100, &p2));
    assert_true(p1.probe && p2.probe);
    assert_false(breaker_allow(&b, &CFG, 100, &tk)); /* probes = 2 in flight */
    breaker_record(&b, &CFG, &p1, true, 101);
    assert_true(breaker_allow(&b, &CFG, 101, &p3)); /* a slot came back */
    breaker_record(&b, &CFG, &p2, true, 102);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_true(breaker_allow(&b, &CFG, 102, &tk));
    assert_false(tk.probe);
    assert_int_equal(breaker_record(&b, &CFG, &p3, true, 103), BREAKER_CLOSED);
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
    for (int i = 0; i < 4; i++) attempt(&b, &c, true, (uint64_t)i);
    for (int i = 0; i < 5; i++) assert_int_equal(attempt(&b, &c, false, 10), BREAKER_CLOSED);
    assert_int_equal(attempt(&b, &c, false, 11), BREAKER_OPEN);

    /* the window slides: failures older than window_ms no longer count */
    breaker_init(&b, 0);
    for (int i = 0; i < 9; i++) attempt(&b, &c, false, 0);
    for (int i = 0; i < 10; i++) assert_int_equal(attempt(&b, &c, true, 5000), BREAKER_CLOSED);
    assert_int_equal(attempt(&b, &c, false, 5000), BREAKER_CLOSED); /* 1/11 */
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
        cmocka_unit_test(test_consecutive_failures), cmocka_unit_test(test_pre_trip_attempts_are_not_probes),
        cmocka_unit_test(test_cooldown_doubles),
        cmocka_unit_test(test_probe_cap),            cmocka_unit_test(test_error_ratio),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
