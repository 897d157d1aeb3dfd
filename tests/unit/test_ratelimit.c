/* Shared limits (common/ratelimit.c): a minute's worth at once then one per interval, per key; retry
 * times; a flood of distinct keys bounded by the table; connection counts per key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/ratelimit.h"

#include <stdio.h>
#include <string.h>

#define S 1000000ull /* one second in microseconds */

static void test_rate_per_key(void **state) {
    (void)state;
    wr_limit_t l;
    assert_int_equal(wr_rate_init(&l, 6, 64), 0); /* 6 a minute: one every 10 s, or 6 at once */
    uint64_t t = 1000 * S;
    for (int i = 0; i < 6; i++)
        assert_int_equal(wr_rate_take(&l, "1.2.3.4", 7, t), 0);
    uint64_t wait = wr_rate_take(&l, "1.2.3.4", 7, t);
    assert_int_equal(wait, 10 * S);                         /* the 7th: in 10 s */
    assert_int_equal(wr_rate_take(&l, "5.6.7.8", 7, t), 0); /* another address is not held back */
    assert_true(wr_rate_take(&l, "1.2.3.4", 7, t + 9 * S) > 0);
    assert_int_equal(wr_rate_take(&l, "1.2.3.4", 7, t + 10 * S), 0);
    assert_true(wr_rate_take(&l, "1.2.3.4", 7, t + 10 * S) > 0);
    assert_int_equal(wr_rate_take(&l, "1.2.3.4", 7, t + 80 * S), 0); /* a quiet minute: a full budget again */
    wr_limit_free(&l);
    assert_int_equal(wr_rate_init(&l, 0, 64), -1);
}

static void test_rate_flood_of_keys_is_bounded(void **state) {
    (void)state;
    wr_limit_t l;
    assert_int_equal(wr_rate_init(&l, 1, 16), 0); /* 16 slots */
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(wr_rate_take(&l, key, (size_t)n, 5 * S), 0); /* each new key its first event */
    }
    assert_int_equal(l.nslots, 16);
    wr_limit_free(&l);
}

static void test_counts(void **state) {
    (void)state;
    wr_limit_t l;
    assert_int_equal(wr_count_init(&l, 2, 64), 0);
    assert_true(wr_count_acquire(&l, "a", 1));
    assert_true(wr_count_acquire(&l, "a", 1));
    assert_false(wr_count_acquire(&l, "a", 1));
    assert_true(wr_count_acquire(&l, "b", 1));
    wr_count_release(&l, "a", 1);
    assert_true(wr_count_acquire(&l, "a", 1));
    wr_count_release(&l, "a", 1);
    wr_count_release(&l, "a", 1);
    wr_count_release(&l, "a", 1); /* one too many: harmless */
    assert_true(wr_count_acquire(&l, "a", 1));
    wr_limit_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_per_key),
        cmocka_unit_test(test_rate_flood_of_keys_is_bounded),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
