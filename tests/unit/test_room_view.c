/* People ahead from the cached room view, against a brute-force count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/room_view.h"

#include <stdlib.h>
#include <string.h>

static void test_simple(void **state) {
    (void)state;
    gw_room_view_t v = {0};
    uint64_t left[] = {9, 4, 2, 4, 30}; /* unsorted, a duplicate, one at the boundary, one past seq */
    assert_int_equal(gw_room_view_set(&v, 2, 20, left, 5, 1000), 0);
    assert_int_equal(v.nleft, 2); /* 4 and 9 */
    assert_int_equal(gw_room_view_ahead(&v, 3), 0);
    assert_int_equal(gw_room_view_ahead(&v, 4), 1);  /* 3 */
    assert_int_equal(gw_room_view_ahead(&v, 5), 1);  /* still 3 only: 4 left */
    assert_int_equal(gw_room_view_ahead(&v, 10), 5); /* 3,5,6,7,8 */
    assert_int_equal(gw_room_view_ahead(&v, 20), 15);
    assert_int_equal(gw_room_view_ahead(&v, 1), 0); /* passed already */
    assert_int_equal(gw_room_view_waiting(&v), 16);
    assert_int_equal(v.refreshed_ms, 1000);
    gw_room_view_free(&v);
}

static void test_empty_view(void **state) {
    (void)state;
    gw_room_view_t v = {0};
    assert_int_equal(gw_room_view_set(&v, 0, 0, NULL, 0, 5), 0);
    assert_int_equal(gw_room_view_ahead(&v, 1), 0);
    assert_int_equal(gw_room_view_waiting(&v), 0);
    assert_int_equal(gw_room_view_set(&v, 3, 9, NULL, 0, 6), 0);
    assert_int_equal(gw_room_view_ahead(&v, 9), 5);
    gw_room_view_free(&v);
}

static void test_local_leave(void **state) {
    (void)state;
    gw_room_view_t v = {0};
    uint64_t left[] = {7};
    assert_int_equal(gw_room_view_set(&v, 2, 20, left, 1, 1), 0);
    assert_true(gw_room_view_has_left(&v, 7));
    assert_false(gw_room_view_has_left(&v, 5));
    assert_int_equal(gw_room_view_add_left(&v, 5), 0);
    assert_int_equal(gw_room_view_add_left(&v, 5), 0); /* twice: once */
    assert_int_equal(gw_room_view_add_left(&v, 1), 0); /* already passed: nothing */
    assert_int_equal(v.nleft, 2);
    assert_true(gw_room_view_has_left(&v, 5));
    assert_int_equal(gw_room_view_ahead(&v, 10), 5); /* 3,4,6,8,9 */
    gw_room_view_free(&v);
}

static void test_matches_brute_force(void **state) {
    (void)state;
    srand(11);
    gw_room_view_t v = {0};
    for (int round = 0; round < 200; round++) {
        uint64_t boundary = (uint64_t)(rand() % 1000), seq = boundary + (uint64_t)(rand() % 500);
        size_t n = (size_t)(rand() % 100);
        uint64_t *left = malloc((n + 1) * sizeof *left);
        for (size_t i = 0; i < n; i++)
            left[i] = boundary + 1 + (uint64_t)(rand() % (int)(seq - boundary + 1));
        assert_int_equal(gw_room_view_set(&v, boundary, seq, left, n, 1), 0);
        for (uint64_t s = boundary + 1; s <= seq; s++) {
            uint64_t want = 0;
            for (uint64_t t = boundary + 1; t < s; t++) {
                int gone = 0;
                for (size_t i = 0; i < n; i++)
                    gone |= left[i] == t;
                want += !gone;
            }
            assert_int_equal(gw_room_view_ahead(&v, s), want);
        }
        free(left);
    }
    gw_room_view_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_simple), cmocka_unit_test(test_empty_view),
                                       cmocka_unit_test(test_local_leave),
                                       cmocka_unit_test(test_matches_brute_force)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
