/* Queue tokens and passes: round trip, tamper resistance, rooms, expiry, key rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/token.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char *K1 = "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
static const char *K2K1 = "# rotated\n2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
                          "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
static const char *K3 = "3 1111111111111111111111111111111111111111111111111111111111111111\n";

static wr_keyring_t ring(const char *text) {
    wr_keyring_t kr;
    char err[256];
    assert_int_equal(wr_keyring_parse(&kr, text, err, sizeof err), 0);
    return kr;
}

static wr_token_t sample(wr_token_type_t type) {
    wr_token_t t = {.type = type,
                    .serial = 123456789,
                    .issued_at = 1800000000,
                    .expires_at = 1800003600,
                    .max_until = type == WR_TOKEN_PASS ? 1800007200 : 0};
    for (int i = 0; i < 16; i++)
        t.visitor[i] = (uint8_t)(0xa0 + i);
    return t;
}

static void test_round_trip(void **state) {
    (void)state;
    wr_keyring_t kr = ring(K1);
    char text[WR_TOKEN_TEXT_BYTES + 1];
    for (int k = 0; k < 2; k++) {
        wr_token_type_t type = k ? WR_TOKEN_PASS : WR_TOKEN_QUEUE;
        wr_token_t t = sample(type), back;
        assert_int_equal(wr_token_encode(&kr, "sale", 4, &t, text, sizeof text), 0);
        assert_int_equal(strlen(text), WR_TOKEN_TEXT_BYTES);
        for (size_t i = 0; i < strlen(text); i++) /* cookie-safe alphabet */
            assert_non_null(
                strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", text[i]));
        assert_int_equal(wr_token_decode(&kr, "sale", 4, type, text, strlen(text), 1800000001, &back), 0);
        assert_int_equal(back.type, type);
        assert_int_equal(back.key_id, 1);
        assert_memory_equal(back.visitor, t.visitor, 16);
        assert_int_equal(back.serial, 123456789);
        assert_int_equal(back.issued_at, 1800000000);
        assert_int_equal(back.expires_at, 1800003600);
        assert_int_equal(back.max_until, t.max_until);
        /* a queue token is not a pass, and the other way round */
        wr_token_type_t other = k ? WR_TOKEN_QUEUE : WR_TOKEN_PASS;
        assert_int_equal(wr_token_decode(&kr, "sale", 4, other, text, strlen(text), 1800000001, &back),
                         WR_TOKEN_MALFORMED);
    }
}

static void test_every_bit_flip_rejected(void **state) {
    (void)state;
    wr_keyring_t kr = ring(K1);
    char text[WR_TOKEN_TEXT_BYTES + 1], bad[WR_TOKEN_TEXT_BYTES + 1];
    wr_token_t t = sample(WR_TOKEN_QUEUE), out;
    assert_int_equal(wr_token_encode(&kr, "sale", 4, &t, text, sizeof text), 0);
    int tried = 0;
    for (size_t i = 0; i < WR_TOKEN_TEXT_BYTES; i++) {
        for (int b = 0; b < 8; b++) {
            memcpy(bad, text, sizeof bad);
            bad[i] = (char)(bad[i] ^ (1 << b));
            int rc =
                wr_token_decode(&kr, "sale", 4, WR_TOKEN_QUEUE, bad, WR_TOKEN_TEXT_BYTES, 1800000001, &out);
            assert_true(rc == WR_TOKEN_MALFORMED ||
                        rc == WR_TOKEN_FORGED); /* never accepted, never "expired" */
            tried++;
        }
    }
    assert_int_equal(tried, WR_TOKEN_TEXT_BYTES * 8);
}

static void test_truncation_and_garbage(void **state) {
    (void)state;
    wr_keyring_t kr = ring(K1);
    char text[WR_TOKEN_TEXT_BYTES + 1], longer[WR_TOKEN_TEXT_BYTES + 8];
    wr_token_t t = sample(WR_TOKEN_QUEUE), out;
    assert_int_equal(wr_token_encode(&kr, "sale", 4, &t, text, sizeof text), 0);
    for (size_t n = 0; n < WR_TOKEN_TEXT_BYTES; n++)
        assert_int_equal(wr_token_decode(&kr, "sale", 4, WR_TOKEN_QUEUE, text, n, 1800000001, &out), -1);
    snprintf(longer, sizeof longer, "%sAAAA", text);
    assert_int_equal(
        wr_token_decode(&kr, "sale", 4, WR_TOKEN_QUEUE, longer, strlen(longer), 1800000001, &out), -1);
    char junk[WR_TOKEN_TEXT_BYTES + 1];
    memset(junk, '=', WR_TOKEN_TEXT_BYTES);
    assert_int_equal(wr_token_decode(&kr, "sale", 4, WR_TOKEN_QUEUE, junk, WR_TOKEN_TEXT_BYTES, 1, &out), -1);
    memset(junk, 'A', WR_TOKEN_TEXT_BYTES); /* well-formed base64, all zero bytes: version 0 */
    assert_int_equal(wr_token_decode(&kr, "sale", 4, WR_TOKEN_QUEUE, junk, WR_TOKEN_TEXT_BYTES, 1, &out), -1);
}

static void test_wrong_key_and_room(void **state) {
    (void)state;
    wr_keyring_t kr = ring(K1), other = ring(K3);
    char text[WR_TOKEN_TEXT_BYTES + 1];
    wr_token_t t = sample(WR_TOKEN_QUEUE), out;
    assert_int_equal(wr_token_encode(&kr, "sale", 4, &t, text, sizeof text), 0);
    assert_int_equal(wr_token_decode(&other, "sale", 4, WR_TOKEN_QUEUE, text, strlen(text), 1800000001, &out),
                     WR_TOKEN_FORGED);
    assert_int_equal(wr_token_decode(&kr, "sale2", 5, WR_TOKEN_QUEUE, text, strlen(text), 1800000001, &out),
                     WR_TOKEN_OTHER_ROOM);
    assert_int_equal(wr_token_decode(&kr, "Sale", 4, WR_TOKEN_QUEUE, text, strlen(text), 1800000001, &out),
                     WR_TOKEN_OTHER_ROOM);
    /* same id, different secret */
    wr_keyring_t forged = ring("1 2222222222222222222222222222222222222222222222222222222222222222\n");
    assert_int_equal(
        wr_token_decode(&forged, "sale", 4, WR_TOKEN_QUEUE, text, strlen(text), 1800000001, &out),
        WR_TOKEN_FORGED);
}

static void test_expiry(void **state) {
    (void)state;
    wr_keyring_t kr = ring(K1);
    char text[WR_TOKEN_TEXT_BYTES + 1];
    wr_token_t t = sample(WR_TOKEN_PASS), out;
    assert_int_equal(wr_token_encode(&kr, "sale", 4, &t, text, sizeof text), 0);
    assert_int_equal(wr_token_decode(&kr, "sale", 4, WR_TOKEN_PASS, text, strlen(text), 1800003599, &out), 0);
    assert_int_equal(wr_token_decode(&kr, "sale", 4, WR_TOKEN_PASS, text, strlen(text), 1800003600, &out),
                     WR_TOKEN_EXPIRED);
    assert_int_equal(wr_token_decode(&kr, "sale", 4, WR_TOKEN_PASS, text, strlen(text), 1900000000, &out),
                     WR_TOKEN_EXPIRED);
}

static void test_rotation(void **state) {
    (void)state;
    wr_keyring_t old = ring(K1), rotated = ring(K2K1), next = ring(K3);
    char a[WR_TOKEN_TEXT_BYTES + 1], b[WR_TOKEN_TEXT_BYTES + 1];
    wr_token_t t = sample(WR_TOKEN_QUEUE), out;
    assert_int_equal(wr_token_encode(&old, "sale", 4, &t, a, sizeof a), 0);
    /* after rotation the previous key still verifies, and new tokens use the new key */
    assert_int_equal(wr_token_decode(&rotated, "sale", 4, WR_TOKEN_QUEUE, a, strlen(a), 1800000001, &out), 0);
    assert_int_equal(out.key_id, 1);
    assert_int_equal(wr_token_encode(&rotated, "sale", 4, &t, b, sizeof b), 0);
    assert_int_equal(t.key_id, 2);
    assert_int_equal(wr_token_decode(&rotated, "sale", 4, WR_TOKEN_QUEUE, b, strlen(b), 1800000001, &out), 0);
    assert_int_equal(out.key_id, 2);
    assert_int_equal(wr_token_decode(&old, "sale", 4, WR_TOKEN_QUEUE, b, strlen(b), 1800000001, &out),
                     WR_TOKEN_FORGED);
    /* once the old key is dropped, its tokens are no tokens */
    assert_int_equal(wr_token_decode(&next, "sale", 4, WR_TOKEN_QUEUE, a, strlen(a), 1800000001, &out),
                     WR_TOKEN_FORGED);
}

static void test_keyring_errors(void **state) {
    (void)state;
    wr_keyring_t kr;
    char err[256];
    assert_int_equal(wr_keyring_parse(&kr, "", err, sizeof err), -1);
    assert_string_equal(err, "no key found");
    assert_int_equal(wr_keyring_parse(&kr, "1 abcd\n", err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(wr_keyring_parse(&kr,
                                      "0 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                                      err, sizeof err),
                     -1);
    assert_int_equal(wr_keyring_parse(&kr,
                                      "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                                      "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                                      err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "used twice"));
    assert_int_equal(wr_keyring_parse(&kr,
                                      "1 zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                                      err, sizeof err),
                     -1);
    char three[512];
    snprintf(three, sizeof three, "%s%s", K2K1, K3);
    assert_int_equal(wr_keyring_parse(&kr, three, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 2"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_bit_flip_rejected),
        cmocka_unit_test(test_truncation_and_garbage),
        cmocka_unit_test(test_wrong_key_and_room),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_keyring_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
