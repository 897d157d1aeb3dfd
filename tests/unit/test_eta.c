/* Wait estimates from a simulated clock and admission boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/eta.h"

#include <string.h>

/* Admits `per_tick` every 250 ms for `seconds`, starting at *t and *b. */
static void run(gw_eta_t *e, uint64_t *t, uint64_t *b, uint64_t seconds, uint64_t per_tick) {
    for (uint64_t i = 0; i < seconds * 4; i++) {
        *t += 250;
        *b += per_tick;
        gw_eta_sample(e, *t, *b);
    }
}

static void test_no_estimate_without_history(void **state) {
    (void)state;
    gw_eta_t e;
    memset(&e, 0, sizeof e);
    uint64_t t = 1000, b = 0;
    gw_eta_sample(&e, t, b);
    assert_false(gw_eta_estimate(&e, t, 100).known);
    run(&e, &t, &b, 25, 1);
    assert_false(gw_eta_estimate(&e, t, 100).known); /* 25 s < 30 s of history */
    run(&e, &t, &b, 10, 1);
    assert_true(gw_eta_estimate(&e, t, 100).known);
}

static void test_steady_rate(void **state) {
    (void)state;
    gw_eta_t e;
    memset(&e, 0, sizeof e);
    uint64_t t = 1000, b = 0;
    gw_eta_sample(&e, t, b);
    run(&e, &t, &b, 150, 1); /* 4 per second = 240 per minute */
    gw_eta_estimate_t est = gw_eta_estimate(&e, t, 1200);
    assert_true(est.known);
    assert_true(est.rate_per_minute > 239.0 && est.rate_per_minute < 241.0);
    assert_int_equal(est.p50_s, 300);
    assert_int_equal(est.p90_s, 300); /* no variation: p90 = median */
    assert_int_equal(gw_eta_estimate(&e, t, 0).p50_s, 0);
    assert_int_equal(gw_eta_estimate(&e, t, 1).p50_s, 1); /* rounded up, never "0 s" for someone waiting */
}

static void test_variable_rate_gives_a_wider_p90(void **state) {
    (void)state;
    gw_eta_t e;
    memset(&e, 0, sizeof e);
    uint64_t t = 1000, b = 0;
    gw_eta_sample(&e, t, b);
    for (int i = 0; i < 6; i++) {
        run(&e, &t, &b, 10, 2); /* 8/s */
        run(&e, &t, &b, 10, 0); /* stalled */
        run(&e, &t, &b, 0, 0);
    }
    run(&e, &t, &b, 10, 2);
    gw_eta_estimate_t est = gw_eta_estimate(&e, t, 800);
    assert_true(est.known);
    assert_true(est.p90_s > est.p50_s);
}

static void test_paused_room_has_no_estimate(void **state) {
    (void)state;
    gw_eta_t e;
    memset(&e, 0, sizeof e);
    uint64_t t = 1000, b = 0;
    gw_eta_sample(&e, t, b);
    run(&e, &t, &b, 100, 1);
    assert_true(gw_eta_estimate(&e, t, 50).known);
    run(&e, &t, &b, 25, 0); /* paused: the boundary stops */
    assert_false(gw_eta_estimate(&e, t, 50).known);
    /* gaps between samples count as empty buckets too */
    run(&e, &t, &b, 100, 1);
    assert_true(gw_eta_estimate(&e, t, 50).known);
    t += 60000;
    gw_eta_sample(&e, t, b);
    assert_false(gw_eta_estimate(&e, t, 50).known);
}

static void test_boundary_going_back_resets(void **state) {
    (void)state;
    gw_eta_t e;
    memset(&e, 0, sizeof e);
    uint64_t t = 1000, b = 5000;
    gw_eta_sample(&e, t, b);
    run(&e, &t, &b, 100, 1);
    assert_true(gw_eta_estimate(&e, t, 50).known);
    b = 10; /* Redis lost the room and it was rebuilt */
    t += 250;
    gw_eta_sample(&e, t, b);
    assert_false(gw_eta_estimate(&e, t, 50).known);
    assert_int_equal(e.current, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_estimate_without_history),
        cmocka_unit_test(test_steady_rate),
        cmocka_unit_test(test_variable_rate_gives_a_wider_p90),
        cmocka_unit_test(test_paused_room_has_no_estimate),
        cmocka_unit_test(test_boundary_going_back_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
