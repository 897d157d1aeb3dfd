/* The revoked-pass table (gateway/queue/revoked.c): refusals by issue time, the latest revocation wins,
 * growth, pruning of entries older than keep_ms, and the size bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/revoked.h"

static void test_refuses_passes_issued_before_the_end(void **state) {
    (void)state;
    gw_revoked_t t;
    gw_revoked_init(&t, 60000);
    assert_false(gw_revoked_refuses(&t, 7, 100000)); /* empty */
    assert_int_equal(gw_revoked_add(&t, 7, 100500, 100500), 0);
    assert_true(gw_revoked_refuses(&t, 7, 99000));
    assert_true(gw_revoked_refuses(&t, 7, 100500));  /* issued as the session ended */
    assert_false(gw_revoked_refuses(&t, 7, 100501)); /* let in again within the same second: a new pass */
    assert_false(gw_revoked_refuses(&t, 8, 99000));
    assert_false(gw_revoked_refuses(&t, 0, 99000));
    /* a later end for the same serial wins; an older one does not undo it */
    assert_int_equal(gw_revoked_add(&t, 7, 200000, 200000), 0);
    assert_int_equal(gw_revoked_add(&t, 7, 150000, 200000), 0);
    assert_true(gw_revoked_refuses(&t, 7, 150000));
    assert_false(gw_revoked_refuses(&t, 7, 200001));
    assert_int_equal(t.n, 1);
    gw_revoked_free(&t);
}

static void test_grows_and_prunes(void **state) {
    (void)state;
    gw_revoked_t t;
    gw_revoked_init(&t, 10000); /* passes live at most 10 s */
    for (uint64_t s = 1; s <= 5000; s++)
        assert_int_equal(gw_revoked_add(&t, s, 1000, 1000), 0);
    assert_int_equal(t.n, 5000);
    for (uint64_t s = 1; s <= 5000; s++)
        assert_true(gw_revoked_refuses(&t, s, 0));
    /* 20 s later the old ones can no longer have a live pass: dropped as the table would grow */
    for (uint64_t s = 10001; s <= 16000; s++)
        assert_int_equal(gw_revoked_add(&t, s, 21000, 21000), 0);
    assert_true(t.n < 11000);
    assert_false(gw_revoked_refuses(&t, 1, 0));
    for (uint64_t s = 10001; s <= 16000; s++)
        assert_true(gw_revoked_refuses(&t, s, 20000));
    gw_revoked_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_passes_issued_before_the_end),
        cmocka_unit_test(test_grows_and_prunes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
