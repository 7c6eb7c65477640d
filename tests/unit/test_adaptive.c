/*
 * test_adaptive.c - cmocka tables for src/deliver/adaptive.c (pure): the
 * peak-EWMA (peaks at once, decay by time), the error-rate EWMA, the median
 * reference, the latency and error factors, quantisation with hysteresis (no
 * flapping under noise), the slow-start curve and the weight-hint parser.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/adaptive.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static adaptive_config_t defaults(void)
{
    adaptive_config_t c;
    adaptive_config_default(&c);
    return c;
}

static void test_defaults(void **state)
{
    (void)state;
    adaptive_config_t c = defaults();
    assert_true(NEAR(c.decay_ms, 10000));
    assert_true(NEAR(c.latency_tolerance, 0.5));
    assert_true(NEAR(c.latency_slack_ms, 5));
    assert_true(NEAR(c.error_tolerance, 0.05));
    assert_true(NEAR(c.min_factor, 0.1));
    assert_true(NEAR(c.quantum, 0.05));
    assert_true(NEAR(c.hysteresis, 0.15));
}

/* A sequence of samples (t, latency, ok) and the ewma / error rate after it. */
static void test_peak_ewma(void **state)
{
    (void)state;
    const double k = exp(-1000.0 / 10000); /* keep-weight over 1 s */
    static const struct {
        struct {
            uint64_t t;
            double ms;
            bool ok;
        } s[4];
        size_t n;
        double ewma, err, avg; /* avg 0: as ewma; -3/-4: the formulas below */
    } cases[] = {
        {{{0, 20, true}}, 1, 20, 0, 0},
        {{{0, 20, false}}, 1, 20, 1, 0},
        /* a higher sample replaces the average at once */
        {{{0, 20, true}, {1000, 100, true}}, 2, 100, 0, -3},
        {{{0, 20, true}, {1, 100, true}}, 2, 100, 0, -4},
        /* a lower one decays towards it with the time since the last sample */
        {{{0, 100, true}, {1000, 20, true}}, 2, -1, 0, 0},
        /* two samples in the same ms: the second still counts (as 1 ms) */
        {{{5, 100, true}, {5, 20, true}}, 2, -2, 0, 0},
        /* a clock that goes back counts as 1 ms too */
        {{{50, 100, true}, {10, 20, true}}, 2, -2, 0, 0},
        /* negative or NaN latency reads as 0 */
        {{{0, -5, true}}, 1, 0, 0, 0},
        {{{0, NAN, true}}, 1, 0, 0, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        adaptive_config_t c = defaults();
        adaptive_stats_t s;
        adaptive_init(&s);
        for (size_t j = 0; j < cases[i].n; j++)
            adaptive_observe(&s, &c, cases[i].s[j].t, cases[i].s[j].ms, cases[i].s[j].ok);
        double want = cases[i].ewma;
        if (want == -1) want = 100 * k + 20 * (1 - k);
        if (want == -2) {
            double k1 = exp(-1.0 / 10000);
            want = 100 * k1 + 20 * (1 - k1);
        }
        if (!NEAR(s.ewma_ms, want) || !NEAR(s.err_rate, cases[i].err))
            fail_msg("case %zu: ewma %.9f (want %.9f) err %.6f", i, s.ewma_ms, want, s.err_rate);
        /* the plain average follows every sample the same way, peaks included */
        double avg = want;
        if (cases[i].avg == -3) avg = 20 * k + 100 * (1 - k);
        if (cases[i].avg == -4) {
            double k1 = exp(-1.0 / 10000);
            avg = 20 * k1 + 100 * (1 - k1);
        }
        if (!NEAR(s.avg_ms, avg)) fail_msg("case %zu: avg %.9f, want %.9f", i, s.avg_ms, avg);
        assert_int_equal(s.samples, cases[i].n);
    }
}

/* Recovery: from 100 ms to 20 ms samples every 100 ms, the excess decays as
 * exp(-t / decay): within tolerance (<= 35 ms with ref 20) after about
 * 10 s * ln(80 / 15) = 16.7 s; an error burst decays the same way. */
static void test_decay_times(void **state)
{
    (void)state;
    adaptive_config_t c = defaults();
    adaptive_stats_t s;
    adaptive_init(&s);
    adaptive_observe(&s, &c, 0, 100, false);
    uint64_t t = 0, back = 0, err_ok = 0;
    while (t < 60000) {
        t += 100;
        adaptive_observe(&s, &c, t, 20, true);
        if (!back && adaptive_latency_factor(&c, s.ewma_ms, 20) == 1) back = t;
        if (!err_ok && adaptive_error_factor(&c, s.err_rate) == 1) err_ok = t;
    }
    double want = 10000 * log(80.0 / 15.0);
    if (fabs((double)back - want) > 150)
        fail_msg("back after %llu ms, want ~%.0f", (unsigned long long)back, want);
    double want_err = 10000 * log(1 / 0.05);
    if (fabs((double)err_ok - want_err) > 150)
        fail_msg("errors ok after %llu ms, want ~%.0f", (unsigned long long)err_ok, want_err);
}

static void test_median(void **state)
{
    (void)state;
    static const struct {
        double v[6];
        size_t n;
        double want;
    } cases[] = {
        {{0}, 0, 0},
        {{7}, 1, 7},
        {{30, 10}, 2, 10}, /* lower median: the faster of two */
        {{100, 20, 21}, 3, 21},
        {{100, 20, 22, 21}, 4, 21}, /* one slow analyzer does not move it */
        {{5, 1, 4, 2, 3, 6}, 6, 3},
    };
    for (size_t i = 0; i < N(cases); i++) {
        double v[6];
        memcpy(v, cases[i].v, sizeof v);
        double m = adaptive_median(v, cases[i].n);
        if (!NEAR(m, cases[i].want)) fail_msg("case %zu: %g, want %g", i, m, cases[i].want);
    }
}

static void test_latency_factor(void **state)
{
    (void)state;
    /* threshold = ref * 1.5 + 5 */
    static const struct {
        double ewma, ref, want;
    } cases[] = {
        {20, 20, 1},     {35, 20, 1},    {35.0001, 20, 35 / 35.0001},
        {100, 20, 0.35}, {350, 20, 0.1}, {3500, 20, 0.01},
        {20, 0, 1},      {0, 20, 1},     {1, 1, 1},
        {6, 1, 1},       {13, 1, 0.5}, /* small latencies: the slack dominates */
    };
    adaptive_config_t c = defaults();
    for (size_t i = 0; i < N(cases); i++) {
        double f = adaptive_latency_factor(&c, cases[i].ewma, cases[i].ref);
        if (!NEAR(f, cases[i].want))
            fail_msg("case %zu: ewma %g ref %g: %g, want %g", i, cases[i].ewma, cases[i].ref, f,
                     cases[i].want);
    }
}

static void test_error_factor(void **state)
{
    (void)state;
    static const struct {
        double rate, want;
    } cases[] = {
        {0, 1}, {0.05, 1}, {0.5, 0.5 / 0.95}, {1, 0}, {NAN, 1}, {0.24, 0.76 / 0.95},
    };
    adaptive_config_t c = defaults();
    for (size_t i = 0; i < N(cases); i++) {
        double f = adaptive_error_factor(&c, cases[i].rate);
        if (!NEAR(f, cases[i].want)) fail_msg("case %zu: %g, want %g", i, f, cases[i].want);
    }
}

static void test_quantise(void **state)
{
    (void)state;
    /* band: max(0.0375, 0.15 x published) */
    static const struct {
        double raw, published, want;
    } cases[] = {
        {1, 0.4, 1},        {1.7, 0.4, 1},      {0.05, 1, 0.1},    {0.1, 0.5, 0.1},
        {0.43, 1, 0.45},    {0.41, 0.4, 0.4},   {0.341, 0.4, 0.4}, {0.339, 0.4, 0.35},
        {0.459, 0.4, 0.4},  {0.461, 0.4, 0.45}, {0.86, 1, 1},      {0.84, 1, 0.85},
        {0.97, 0.95, 0.95}, {NAN, 0.5, 1},      {0.12, 0.1, 0.1},  {0.14, 0.1, 0.15},
    };
    adaptive_config_t c = defaults();
    for (size_t i = 0; i < N(cases); i++) {
        double f = adaptive_quantise(&c, cases[i].raw, cases[i].published);
        if (!NEAR(f, cases[i].want))
            fail_msg("case %zu: raw %g published %g: %g, want %g", i, cases[i].raw,
                     cases[i].published, f, cases[i].want);
    }
}

/* Steady state with noise: a slow analyzer at 100 +- 8 ms against a median of
 * 20 +- 1 ms; the published factor settles and never changes again. */
static void test_no_flapping(void **state)
{
    (void)state;
    adaptive_config_t c = defaults();
    adaptive_stats_t s;
    adaptive_init(&s);
    uint64_t x = 88172645463325252ull;
    double settled = -1;
    int changes_after = 0;
    for (uint64_t t = 0; t < 120000; t += 50) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double noise = (double)(x % 1601) / 100.0 - 8; /* -8 .. +8 */
        adaptive_observe(&s, &c, t, 100 + noise, true);
        double ref = 20 + noise / 8; /* the median moves +-1 ms with the noise */
        double before = s.factor;
        adaptive_update(&s, &c, ref);
        if (t >= 60000 && s.factor != before) changes_after++;
        if (t == 60000) settled = s.factor;
    }
    assert_int_equal(changes_after, 0);
    assert_true(settled > 0.25 && settled < 0.45);
}

static void test_update(void **state)
{
    (void)state;
    adaptive_config_t c = defaults();
    adaptive_stats_t s;
    adaptive_init(&s);
    assert_true(NEAR(adaptive_update(&s, &c, 20), 1)); /* no sample: 1 */
    adaptive_observe(&s, &c, 0, 100, true);
    assert_true(NEAR(adaptive_update(&s, &c, 20), 0.35));
    assert_true(NEAR(s.lat_raw, 0.35));
    assert_true(NEAR(adaptive_update(&s, &c, 0), 1)); /* no reference: 1 */
    adaptive_init(&s);
    adaptive_observe(&s, &c, 0, 20, false); /* every attempt failed */
    assert_true(NEAR(adaptive_update(&s, &c, 20), 0.1));
    assert_true(NEAR(s.err_raw, 0));
}

static void test_slow_start(void **state)
{
    (void)state;
    static const struct {
        uint64_t elapsed, window;
        double aggression, min, want;
    } cases[] = {
        {0, 0, 1, 0.1, 1},
        {0, 10000, 1, 0.1, 0.1},
        {500, 10000, 1, 0.1, 0.1},
        {1000, 10000, 1, 0.1, 0.1},
        {2500, 10000, 1, 0.1, 0.25},
        {5000, 10000, 1, 0.1, 0.5},
        {9999, 10000, 1, 0.1, 0.9999},
        {10000, 10000, 1, 0.1, 1},
        {20000, 10000, 1, 0.1, 1},
        {2500, 10000, 2, 0.1, 0.5},
        {2500, 10000, 0.5, 0.1, 0.1},
        {5000, 10000, 0.5, 0.1, 0.25},
        {5000, 10000, 0, 0.1, 0.5}, /* aggression 0 reads as 1 */
    };
    for (size_t i = 0; i < N(cases); i++) {
        double f = adaptive_slow_start(cases[i].elapsed, cases[i].window, cases[i].aggression,
                                       cases[i].min);
        if (!NEAR(f, cases[i].want)) fail_msg("case %zu: %g, want %g", i, f, cases[i].want);
    }
}

static void test_parse_hint(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        double weight, max, want;
        int rc;
    } cases[] = {
        {"50%", 1, 1, 0.5, 0},
        {" 50% ", 1, 1, 0.5, 0},
        {"50%\r\n", 1, 1, 0.5, 0},
        {"100%", 1, 1, 1, 0},
        {"0%", 1, 1, 0, 0},
        {"12.5%", 4, 1, 0.125, 0},
        {"150%", 1, 1, 0, -ERANGE},
        {"150%", 1, 2, 1.5, 0},
        {"100.01%", 1, 1, 0, -ERANGE},
        {"0.2", 1, 1, 0.2, 0},
        {"0.2", 0.4, 1, 0.5, 0},
        {"2", 4, 1, 0.5, 0},
        {"2", 1, 1, 0, -ERANGE},
        {"0.2", 0, 1, 0, -EINVAL},
        {"", 1, 1, 0, -EINVAL},
        {"%", 1, 1, 0, -EINVAL},
        {"-5%", 1, 1, 0, -EINVAL},
        {"+5%", 1, 1, 0, -EINVAL},
        {"5e1%", 1, 1, 0, -EINVAL},
        {"0x10", 1, 1, 0, -EINVAL},
        {"nan", 1, 1, 0, -EINVAL},
        {"inf%", 1, 1, 0, -EINVAL},
        {"50 %", 1, 1, 0, -EINVAL},
        {"50%%", 1, 1, 0, -EINVAL},
        {".5", 1, 1, 0, -EINVAL},
        {"5.", 1, 1, 0, -EINVAL},
        {"1.2.3", 1, 1, 0, -EINVAL},
        {"abc", 1, 1, 0, -EINVAL},
        {"50%x", 1, 1, 0, -EINVAL},
        {"000000000000000000000000000000050%", 1, 1, 0, -EINVAL}, /* 35 chars: too long */
    };
    for (size_t i = 0; i < N(cases); i++) {
        double f = -1;
        int rc =
            adaptive_parse_hint(cases[i].v, strlen(cases[i].v), cases[i].weight, cases[i].max, &f);
        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': rc %d, want %d", i, cases[i].v, rc, cases[i].rc);
        if (!rc && !NEAR(f, cases[i].want))
            fail_msg("case %zu '%s': %g, want %g", i, cases[i].v, f, cases[i].want);
    }
    double f;
    assert_int_equal(adaptive_parse_hint(NULL, 0, 1, 1, &f), -EINVAL);
    assert_int_equal(adaptive_parse_hint("50%x", 3, 1, 1, &f), 0); /* len bounds the read */
    assert_true(NEAR(f, 0.5));
}

static void test_reason(void **state)
{
    (void)state;
    static const struct {
        double lat, ratio, err, rate, ss, hint;
        const char *want;
    } cases[] = {
        {1, 1, 1, 0, 1, 1, ""},
        {0.3, 5.08, 1, 0, 1, 1, "latency 5.1x pool median"},
        {1, 1, 0.5, 0.52, 1, 1, "errors 52% of attempts"},
        {1, 1, 1, 0, 0.25, 1, "slow start 25%"},
        {1, 1, 1, 0, 1, 0.5, "analyzer hint 50%"},
        {0.3, 5, 1, 0, 0.5, 0.5, "latency 5.0x pool median, slow start 50%, analyzer hint 50%"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[160];
        adaptive_reason(out, sizeof out, cases[i].lat, cases[i].ratio, cases[i].err, cases[i].rate,
                        cases[i].ss, cases[i].hint);
        if (strcmp(out, cases[i].want))
            fail_msg("case %zu: '%s', want '%s'", i, out, cases[i].want);
    }
    char tiny[8];
    adaptive_reason(tiny, sizeof tiny, 0.3, 5, 1, 0, 1, 1);
    assert_true(strlen(tiny) < sizeof tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_peak_ewma),
        cmocka_unit_test(test_decay_times),    cmocka_unit_test(test_median),
        cmocka_unit_test(test_latency_factor), cmocka_unit_test(test_error_factor),
        cmocka_unit_test(test_quantise),       cmocka_unit_test(test_no_flapping),
        cmocka_unit_test(test_update),         cmocka_unit_test(test_slow_start),
        cmocka_unit_test(test_parse_hint),     cmocka_unit_test(test_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
