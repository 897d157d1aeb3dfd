/* The admission controller's core with a simulated clock and, for the adaptive mode, a simulated origin
 * (tests/sim/sim.c): the acceptance figures of the controller issue, one test each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admission/controller.h"
#include "tests/sim/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static wr_ctl_cfg_t fixed(double rate, uint64_t max_active) {
    return (wr_ctl_cfg_t){
        .rate_per_minute = rate, .max_active = max_active, .target_p99_ms = 1000, .max_error_rate = 0.01};
}

/* Fixed 600/min over 10 simulated minutes, with no-shows: within ±1 %. */
static void test_fixed_rate_600(void **state) {
    (void)state;
    sim_scenario_t s = sim_fixed_600();
    sim_totals_t t = sim_run(&s, 1.0, NULL, NULL);
    printf("fixed 600/min for 10 min: %llu admitted (6000 expected), %llu no-shows\n",
           (unsigned long long)t.admitted, (unsigned long long)t.no_shows);
    assert_true(fabs((double)t.admitted - 6000.0) <= 60.0);
    assert_true(t.no_shows > 0);
}

/* max_active is never exceeded at any tick, and a no-show's room is used at the next tick. */
static void test_max_active_and_no_show_reuse(void **state) {
    (void)state;
    wr_ctl_cfg_t cfg = fixed(6000, 50); /* the rate would allow far more than the cap */
    wr_ctl_t c;
    wr_ctl_init(&c, &cfg, 0);
    uint64_t admitted = 0, active = 0;
    for (uint64_t t = 250; t <= 60000; t += 250) {
        wr_ctl_input_t in = {.waiting = 100000, .admitted_unclaimed = admitted, .active = active};
        wr_ctl_decision_t d = wr_ctl_decide(&c, &cfg, &in, t);
        assert_true(admitted + active + d.admit <= 50);
        admitted += d.admit;
        /* half the admitted claim each tick; sessions never end in this test */
        uint64_t claim = admitted / 2;
        admitted -= claim;
        active += claim;
    }
    assert_int_equal(admitted + active, 50);
    /* one admitted visitor turns out to be a no-show (admit.lua swept it): its room is used at once */
    admitted -= 1;
    wr_ctl_input_t in = {.waiting = 100000, .admitted_unclaimed = admitted, .active = active};
    wr_ctl_decision_t d = wr_ctl_decide(&c, &cfg, &in, 60250);
    assert_int_equal(d.admit, 1);
    /* and an ended session too */
    active -= 1;
    in = (wr_ctl_input_t){.waiting = 100000, .admitted_unclaimed = admitted + 1, .active = active};
    d = wr_ctl_decide(&c, &cfg, &in, 60500);
    assert_int_equal(d.admit, 1);
    d = wr_ctl_decide(
        &c, &cfg, &(wr_ctl_input_t){.waiting = 100000, .admitted_unclaimed = admitted + 2, .active = active},
        60750);
    assert_int_equal(d.admit, 0);
    assert_int_equal(d.reason, WR_REASON_MAX_ACTIVE);
}

/* A small burst, not a pile of tokens: after a long quiet spell (nobody waiting) admission resumes at
 * the rate, and a stalled process does not make up for lost time. */
static void test_burst_is_small(void **state) {
    (void)state;
    wr_ctl_cfg_t cfg = fixed(600, 0);
    wr_ctl_t c;
    wr_ctl_init(&c, &cfg, 0);
    wr_ctl_decision_t d = {0};
    for (uint64_t t = 250; t <= 60000; t += 250) {
        d = wr_ctl_decide(&c, &cfg, &(wr_ctl_input_t){.waiting = 0}, t);
        assert_int_equal(d.admit, 0);
    }
    assert_int_equal(d.reason, WR_REASON_NO_DEMAND);
    d = wr_ctl_decide(&c, &cfg, &(wr_ctl_input_t){.waiting = 1000}, 60250);
    assert_true(d.admit <= 10); /* one second's worth */
    d = wr_ctl_decide(&c, &cfg, &(wr_ctl_input_t){.waiting = 1000}, 600000);
    assert_true(d.admit <= 10);
}

static void test_paused_sold_out_inventory(void **state) {
    (void)state;
    wr_ctl_cfg_t cfg = fixed(600, 0);
    wr_ctl_t c;
    wr_ctl_init(&c, &cfg, 0);
    wr_ctl_input_t in = {.waiting = 1000, .fresh = true};
    cfg.paused = true;
    wr_ctl_decision_t d = wr_ctl_decide(&c, &cfg, &in, 5000);
    assert_int_equal(d.admit, 0);
    assert_int_equal(d.reason, WR_REASON_PAUSED);
    cfg.paused = false;
    cfg.sold_out = true;
    d = wr_ctl_decide(&c, &cfg, &in, 10000);
    assert_int_equal(d.admit, 0);
    assert_int_equal(d.reason, WR_REASON_SOLD_OUT);
    cfg.sold_out = false;
    cfg.has_inventory = true;
    cfg.inventory_remaining = 0;
    d = wr_ctl_decide(&c, &cfg, &in, 15000);
    assert_int_equal(d.admit, 0);
    assert_int_equal(d.reason, WR_REASON_INVENTORY);
    assert_string_equal(wr_reason_name(d.reason), "inventory");
    cfg.inventory_remaining = 3;
    uint64_t total = 0;
    for (uint64_t t = 15250; t < 20000; t += 250)
        total += wr_ctl_decide(&c, &cfg, &in, t).admit;
    assert_true(total <= 3 * 19); /* never more in one tick than what is left */
}

/* Adaptive with no fresh signal: the limit and the rate hold, they never grow blind. */
static void test_no_signal_holds(void **state) {
    (void)state;
    wr_ctl_cfg_t cfg = {
        .adaptive = true, .min_rate = 60, .max_rate = 6000, .target_p99_ms = 1000, .max_error_rate = 0.01};
    wr_ctl_t c;
    wr_ctl_init(&c, &cfg, 0);
    double limit0 = c.limit;
    wr_ctl_decision_t d = {0};
    for (uint64_t t = 250; t <= 30000; t += 250)
        d = wr_ctl_decide(&c, &cfg, &(wr_ctl_input_t){.waiting = 1000, .active = (uint64_t)c.limit}, t);
    assert_int_equal(d.reason, WR_REASON_NO_SIGNAL);
    assert_true(c.limit <= limit0 + 1e-9);
    assert_true(d.rate_per_minute <= 60.0 + 1e-9);
}

/* One second of origin answers, all at `ms`. */
static wr_sig_counts_t second_at(double ms) {
    wr_sig_counts_t g = {0};
    for (int i = 0; i < 100; i++) {
        g.requests++;
        g.ok++;
        wr_sig_add_latency(&g, (uint64_t)(ms * 1000));
    }
    return g;
}

/* Runs `bad` seconds of p99 far over the target (5 x) among good ones (0.5 x) at a steady load of 100
 * in the system; returns the lowest limit seen. */
static double limit_after_bad_seconds(int bad) {
    wr_ctl_cfg_t cfg = {
        .adaptive = true, .min_rate = 60, .max_rate = 6000, .target_p99_ms = 1000, .max_error_rate = 0.01};
    wr_ctl_t c;
    wr_ctl_init(&c, &cfg, 0);
    c.limit = 100;
    double lowest = c.limit;
    for (uint64_t t = 250; t <= 12000; t += 250) {
        uint64_t sec = t / 1000;
        wr_ctl_input_t in = {.waiting = 1000,
                             .active = 100,
                             .fresh = true,
                             .sig = second_at(sec >= 3 && sec < 3 + (uint64_t)bad ? 5000 : 500),
                             .sig_end_ms = sec * 1000};
        wr_ctl_decide(&c, &cfg, &in, t);
        lowest = fmin(lowest, c.limit);
    }
    return lowest;
}

/* A fast cut (8 %) for latency alone needs p99 over 4 x the target in every merged second (3): one or
 * two slow seconds near capacity are noise the gradient handles (they cut the load by a few % only). */
static void test_overload_cut_needs_three_slow_seconds(void **state) {
    (void)state;
    double one = limit_after_bad_seconds(1), two = limit_after_bad_seconds(2),
           three = limit_after_bad_seconds(3);
    printf("lowest limit from 100 after 1, 2, 3 slow seconds: %.1f, %.1f, %.1f\n", one, two, three);
    assert_true(one > 95 && two > 95);
    assert_true(three < 91);
}

/* C = 200 req/s: the load settles within ±10 % of the largest load that keeps p99 under the target
 * within 60 s, and stays within ±15 % after. */
static void test_adaptive_settles(void **state) {
    (void)state;
    sim_scenario_t s = sim_adaptive_steady();
    sim_samples_t x = {0};
    sim_run(&s, 1.0, sim_keep, &x);
    sim_figures_t f = sim_figures(&s, x.x, x.n, 0, s.duration_s);
    printf(
        "adaptive C=200: best load %.1f req/s, settled in %.0f s, then within %.1f %%, overshoot %.1f %%\n",
        f.best_load, f.settle_s, f.max_dev_after * 100, f.overshoot * 100);
    assert_true(f.settle_s >= 0 && f.settle_s <= 60);
    assert_true(f.max_dev_after <= 0.15);
    assert_true(f.errors_total == 0);
    free(x.x);
}

/* Capacity 200 -> 100 at 120 s: 5xx stop within 10 s, the load settles within ±10 % of the new best
 * within 30 s. Back to 200 at 240 s: within ±10 % within 90 s, with no 5xx on the way up. */
static void test_adaptive_capacity_drop_and_recovery(void **state) {
    (void)state;
    sim_scenario_t s = sim_adaptive_drop();
    sim_samples_t x = {0};
    sim_run(&s, 1.0, sim_keep, &x);
    sim_figures_t drop = sim_figures(&s, x.x, x.n, 120, 240);
    sim_figures_t up = sim_figures(&s, x.x, x.n, 240, 400);
    printf("drop 200->100: 5xx stopped after %.0f s, settled in %.0f s (best %.1f)\n", drop.last_5xx_s - 120,
           drop.settle_s, drop.best_load);
    printf("recovery 100->200: settled in %.0f s, %.0f 5xx, then within %.1f %%\n", up.settle_s,
           up.errors_total, up.max_dev_after * 100);
    assert_true(drop.last_5xx_s - 120 <= 10);
    assert_true(drop.settle_s >= 0 && drop.settle_s <= 30);
    assert_true(up.settle_s >= 0 && up.settle_s <= 90);
    assert_true(up.errors_total == 0);
    free(x.x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_rate_600),   cmocka_unit_test(test_max_active_and_no_show_reuse),
        cmocka_unit_test(test_burst_is_small),   cmocka_unit_test(test_paused_sold_out_inventory),
        cmocka_unit_test(test_no_signal_holds),  cmocka_unit_test(test_overload_cut_needs_three_slow_seconds),
        cmocka_unit_test(test_adaptive_settles), cmocka_unit_test(test_adaptive_capacity_drop_and_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
