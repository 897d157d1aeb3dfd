/* The latency histogram: bucket edges (an observation equal to a bound falls in it), +Inf, summing
 * copies, and the cumulative Prometheus lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/histo.h"

#include <stdio.h>
#include <string.h>

static void test_buckets_and_render(void **state) {
    (void)state;
    static wr_histo_t a, b;
    wr_histo_observe(&a, 100);      /* exactly 0.1 ms: the first bucket */
    wr_histo_observe(&a, 101);      /* just over: the second */
    wr_histo_observe(&b, 5000);     /* 5 ms */
    wr_histo_observe(&b, 31000000); /* 31 s: only +Inf */
    wr_histo_snap_t s = {0};
    wr_histo_add(&s, &a);
    wr_histo_add(&s, &b);
    assert_int_equal(s.bucket[0], 1);
    assert_int_equal(s.bucket[1], 1);
    assert_int_equal(s.bucket[5], 1); /* le 5 ms */
    assert_int_equal(s.bucket[WR_HISTO_BUCKETS], 1);
    assert_int_equal(s.sum_us, 100 + 101 + 5000 + 31000000);
    char out[4096];
    wr_buf_t w = wr_buf_init(out, sizeof out - 1);
    wr_histo_render(&w, "x_seconds", "room=\"sale\"", &s);
    assert_false(w.failed);
    out[w.len] = '\0';
    assert_non_null(strstr(out, "x_seconds_bucket{room=\"sale\",le=\"0.0001\"} 1\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{room=\"sale\",le=\"0.00025\"} 2\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{room=\"sale\",le=\"0.005\"} 3\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{room=\"sale\",le=\"30\"} 3\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{room=\"sale\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "x_seconds_sum{room=\"sale\"} 31.005201\n"));
    assert_non_null(strstr(out, "x_seconds_count{room=\"sale\"} 4\n"));
    /* no labels */
    w = wr_buf_init(out, sizeof out - 1);
    wr_histo_render(&w, "y", "", &s);
    out[w.len] = '\0';
    assert_non_null(strstr(out, "y_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "y_count 4\n"));
    /* too small a buffer fails, never overflows */
    char tiny[64];
    w = wr_buf_init(tiny, sizeof tiny);
    wr_histo_render(&w, "y", "", &s);
    assert_true(w.failed);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_buckets_and_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
