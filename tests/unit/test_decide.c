/* The queue's decision (gateway/queue/decide.c), branch by branch: every action, and the precedence
 * between them (closed room, pass, fail_open, a token that left, status polls that make no place). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/decide.h"

/* An open room, fresh view, Redis up, boundary 10, last serial 20, a visitor with nothing. */
static gw_decide_in_t open_room(void) {
    return (gw_decide_in_t){
        .state = WR_ROOM_OPEN, .fresh = true, .connected = true, .seq = 20, .boundary = 10};
}

static gw_decide_in_t with_serial(uint64_t serial) {
    gw_decide_in_t in = open_room();
    in.has_token = true;
    in.serial = serial;
    return in;
}

static void test_closed_room_and_pass(void **state) {
    (void)state;
    gw_decide_in_t in = open_room();
    in.state = WR_ROOM_CLOSED;
    in.has_pass = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_ORIGIN);
    in = open_room();
    in.has_pass = true;
    in.has_token = true;
    in.serial = 3;
    assert_int_equal(gw_decide(&in).act, GW_DO_PASS); /* a pass beats a queue token */
    in.fresh = in.connected = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_PASS); /* and needs no Redis */
    in.status_endpoint = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT); /* the status endpoint never passes */
}

static void test_revoked_and_renewed_passes(void **state) {
    (void)state;
    gw_decide_in_t in = open_room();
    in.has_pass = true;
    in.renew_due = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_RENEW); /* Redis must confirm the session first */
    in.connected = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_PASS); /* Redis down: the pass it has still works */
    in.pass_revoked = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_ENDED); /* known ended: refused even with Redis down */
    in.connected = true;
    in.renew_due = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_ENDED);
    in.state = WR_ROOM_CLOSED;
    assert_int_equal(gw_decide(&in).act, GW_DO_ORIGIN); /* a closed room lets everyone through */
}

static void test_fail_open(void **state) {
    (void)state;
    gw_decide_in_t in = open_room();
    in.fail_open = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_JOIN); /* fresh view: the queue works, fail_open unused */
    in.fresh = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_FAIL_OPEN);
    in.status_endpoint = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT);
}

static void test_new_visitor(void **state) {
    (void)state;
    gw_decide_in_t in = open_room();
    gw_decision_t d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_JOIN);
    assert_false(d.with_token);
    in.connected = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_PROVISIONAL); /* Redis down: a place without a serial */
    in = open_room();
    in.fresh = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_PROVISIONAL);
    in = open_room();
    in.status_endpoint = true;
    d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_WAIT); /* a status poll makes no place */
    assert_false(d.placed);
    in = open_room();
    in.state = WR_ROOM_PAUSED;
    assert_int_equal(gw_decide(&in).act, GW_DO_JOIN); /* a paused room still hands out places */
}

static void test_scheduled_room(void **state) {
    (void)state;
    gw_decide_in_t in = open_room();
    in.state = WR_ROOM_SCHEDULED;
    assert_int_equal(gw_decide(&in).act, GW_DO_PROVISIONAL); /* the draw's seed not known yet */
    in.draw_known = true;
    gw_decision_t d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_PREJOIN);
    assert_false(d.with_token);
    in.fresh = false; /* the pre-queue needs Redis connected, not a fresh view */
    assert_int_equal(gw_decide(&in).act, GW_DO_PREJOIN);
    in.connected = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_PROVISIONAL);
}

static void test_serial_less_token(void **state) {
    (void)state;
    gw_decide_in_t in = with_serial(0); /* provisional, or pre-queued */
    gw_decision_t d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_JOIN); /* open and Redis back: a serial at the back */
    assert_true(d.with_token);
    in.fresh = false;
    d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_WAIT);
    assert_false(d.placed);
    in = with_serial(0);
    in.state = WR_ROOM_SCHEDULED;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT); /* no draw known: wait */
    in.draw_known = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_PREJOIN); /* provisional: pre-queued now */
    in.prequeued = true;
    in.draw_s = 1000;
    in.issued_s = 1001;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT); /* pre-queued under the current draw */
    in.issued_s = 1000;
    assert_int_equal(gw_decide(&in).act, GW_DO_PREJOIN); /* same second as a new seed: put in again */
    in.issued_s = 999;
    assert_int_equal(gw_decide(&in).act, GW_DO_PREJOIN); /* under a seed Redis lost */
    in.prequeued = false;
    in.prequeue_full = true;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT); /* turned away by a full pre-queue: no Redis call */
    in.state = WR_ROOM_OPEN;
    assert_int_equal(gw_decide(&in).act, GW_DO_JOIN); /* and first-come once the room is open */
}

static void test_token_with_place(void **state) {
    (void)state;
    gw_decide_in_t in = with_serial(15);
    gw_decision_t d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_WAIT); /* beyond the boundary: from the cache, no Redis */
    assert_true(d.placed && d.heartbeat && d.with_token);
    in = with_serial(10);
    d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_CLAIM); /* the boundary reached it */
    assert_true(d.heartbeat);
    in.state = WR_ROOM_PAUSED;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT); /* paused or sold out: nobody claims */
    in.state = WR_ROOM_SOLD_OUT;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT);
    in = with_serial(10);
    in.fresh = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT); /* stale view: trouble, the place kept */
}

static void test_place_redis_lost(void **state) {
    (void)state;
    gw_decide_in_t in = with_serial(25); /* beyond the last serial Redis knows */
    gw_decision_t d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_JOIN); /* registered again at its own serial */
    assert_true(d.with_token);
    assert_false(d.heartbeat);
    in.connected = false;
    assert_int_equal(gw_decide(&in).act, GW_DO_WAIT);
}

static void test_token_that_left(void **state) {
    (void)state;
    gw_decide_in_t in = with_serial(15);
    in.serial_left = true; /* counts as no token: a new place at the back */
    gw_decision_t d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_JOIN);
    assert_false(d.with_token);
    in.status_endpoint = true;
    d = gw_decide(&in);
    assert_int_equal(d.act, GW_DO_WAIT);
    assert_false(d.placed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_room_and_pass),
        cmocka_unit_test(test_revoked_and_renewed_passes),
        cmocka_unit_test(test_fail_open),
        cmocka_unit_test(test_new_visitor),
        cmocka_unit_test(test_scheduled_room),
        cmocka_unit_test(test_serial_less_token),
        cmocka_unit_test(test_token_with_place),
        cmocka_unit_test(test_place_redis_lost),
        cmocka_unit_test(test_token_that_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
