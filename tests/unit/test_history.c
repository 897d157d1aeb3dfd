/* The dashboard history sample: what the admission leader writes is what the admin API reads, and
 * anything else in the list is skipped, never half-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/history.h"

#include <string.h>

static void test_round_trip(void **state) {
    (void)state;
    wr_hist_sample_t s = {.ms = 1764475200123ULL,
                          .waiting = 41234,
                          .unclaimed = 17,
                          .active = 480,
                          .admitted_last_minute = 600,
                          .rate_per_minute = 612.5,
                          .limit = 500,
                          .p99_ms = 812.25,
                          .error_rate = 0.0125,
                          .reason = "gradient"};
    char text[WR_HIST_TEXT_MAX];
    int n = wr_hist_format(&s, text, sizeof text);
    assert_true(n > 0);
    assert_string_equal(text, "1 1764475200123 41234 17 480 600 612.5 500.0 812.250 0.0125 gradient");
    wr_hist_sample_t back;
    assert_int_equal(wr_hist_parse(text, (size_t)n, &back), 0);
    assert_int_equal(back.ms, s.ms);
    assert_int_equal(back.waiting, 41234);
    assert_int_equal(back.unclaimed, 17);
    assert_int_equal(back.active, 480);
    assert_int_equal(back.admitted_last_minute, 600);
    assert_true(back.rate_per_minute == 612.5 && back.limit == 500 && back.p99_ms == 812.25);
    assert_true(back.error_rate == 0.0125);
    assert_string_equal(back.reason, "gradient");
    /* no fresh origin signal: -1 both ways */
    s.p99_ms = -1;
    s.error_rate = -3;
    n = wr_hist_format(&s, text, sizeof text);
    assert_int_equal(wr_hist_parse(text, (size_t)n, &back), 0);
    assert_true(back.p99_ms < 0 && back.error_rate < 0);
    /* too small a buffer */
    assert_int_equal(wr_hist_format(&s, text, 20), -1);
}

static void test_refuses_what_is_not_a_sample(void **state) {
    (void)state;
    wr_hist_sample_t s;
    static const char *const bad[] = {
        "",
        "2 1 2 3 4 5 6.0 7.0 8.0 0.1 ok",          /* another version */
        "1 1 2 3 4 5 6.0 7.0 8.0 0.1",             /* no reason */
        "1 1 2 3 4 5 6.0 7.0 8.0 0.1 ok trailing", /* more than a sample */
        "1 1 2 3 4 5 nan 7.0 8.0 0.1 ok",          /* not a number we show */
        "1 1 2 3 4 5 6.0 7.0 8.0 0.1 OK<script>",  /* a reason is [a-z_] only */
        "1 x 2 3 4 5 6.0 7.0 8.0 0.1 ok",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(wr_hist_parse(bad[i], strlen(bad[i]), &s), -1);
    char big[400];
    memset(big, '1', sizeof big);
    assert_int_equal(wr_hist_parse(big, sizeof big, &s), -1);
    /* a sample embedded in a longer buffer: only len bytes count */
    const char *two = "1 1 2 3 4 5 6.0 7.0 8.0 0.1 ok|junk";
    assert_int_equal(wr_hist_parse(two, strlen(two) - 5, &s), 0);
    assert_string_equal(s.reason, "ok");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip),
                                       cmocka_unit_test(test_refuses_what_is_not_a_sample)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
