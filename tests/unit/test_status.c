/* Status JSON shape, and the redirect that goes back to the buyer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/status.h"

#include <string.h>

static void test_waiting(void **state) {
    (void)state;
    char out[1024];
    gw_status_t s = {.room = "sale",
                     .state = "waiting",
                     .has_position = true,
                     .ahead = 41,
                     .has_eta = true,
                     .eta_s = 120,
                     .eta_p90_s = 300,
                     .poll_after_ms = 2000,
                     .shuffle_commitment = "ab12"};
    long n = gw_status_json(&s, out, sizeof out);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(
        out, "{\"room\":\"sale\",\"state\":\"waiting\",\"position\":42,\"ahead\":41,"
             "\"eta_seconds\":120,\"eta_p90_seconds\":300,\"estimate\":true,\"poll_after_ms\":2000,"
             "\"admitted\":false,\"redirect\":null,\"likely_sold_out\":false,"
             "\"shuffle_commitment\":\"ab12\"}");
}

static void test_no_token_admitted_and_seed(void **state) {
    (void)state;
    char out[1024];
    gw_status_t s = {.room = "sale", .state = "paused", .poll_after_ms = 5000};
    long n = gw_status_json(&s, out, sizeof out);
    out[n] = '\0';
    assert_non_null(strstr(out, "\"position\":null,\"ahead\":null"));
    assert_non_null(strstr(out, "\"eta_seconds\":null,\"eta_p90_seconds\":null"));
    assert_non_null(strstr(out, "\"shuffle_commitment\":null}"));
    assert_null(strstr(out, "shuffle_seed"));
    assert_null(strstr(out, "open_at"));
    gw_status_t a = {.room = "sale",
                     .state = "admitted",
                     .has_position = true,
                     .ahead = 0,
                     .admitted = true,
                     .redirect = "/checkout?x=1",
                     .redirect_len = 13,
                     .likely_sold_out = true,
                     .shuffle_commitment = "c0",
                     .shuffle_seed = "5eed",
                     .open_at = 1800000000};
    n = gw_status_json(&a, out, sizeof out);
    out[n] = '\0';
    assert_non_null(strstr(out, "\"position\":1,\"ahead\":0"));
    assert_non_null(strstr(out, "\"admitted\":true,\"redirect\":\"/checkout?x=1\",\"likely_sold_out\":true"));
    assert_non_null(strstr(out, "\"shuffle_seed\":\"5eed\",\"open_at\":1800000000}"));
}

static void test_refuses_unsafe_strings_and_small_buffers(void **state) {
    (void)state;
    char out[1024];
    gw_status_t s = {.room = "sale", .state = "waiting", .redirect = "/a\"b", .redirect_len = 4};
    assert_int_equal(gw_status_json(&s, out, sizeof out), -1);
    s.redirect = "/a\\b";
    assert_int_equal(gw_status_json(&s, out, sizeof out), -1);
    s.redirect = "/a\nb";
    assert_int_equal(gw_status_json(&s, out, sizeof out), -1);
    s.redirect = "/ok";
    s.redirect_len = 3;
    assert_true(gw_status_json(&s, out, sizeof out) > 0);
    assert_int_equal(gw_status_json(&s, out, 20), -1);
}

static void sanitized_is(const char *in, const char *want) {
    char out[256];
    long n = gw_redirect_sanitize(in, strlen(in), out, sizeof out);
    if (!want) {
        assert_int_equal(n, -1);
        return;
    }
    assert_true(n >= 0);
    out[n] = '\0';
    assert_string_equal(out, want);
}

static void test_redirect_stays_on_this_site(void **state) {
    (void)state;
    sanitized_is("/checkout?a=1&b=2", "/checkout?a=1&b=2");
    sanitized_is("/", "/");
    sanitized_is("/a b\"<x>'", "/a%20b%22%3Cx%3E%27");
    sanitized_is("/x?q=\\\x01\xff", "/x?q=%5C%01%FF");
    sanitized_is("/x#frag", "/x");
    sanitized_is("//evil.example/x", NULL);
    sanitized_is("/\\evil.example", NULL);
    sanitized_is("https://evil.example/", NULL);
    sanitized_is("evil", NULL);
    sanitized_is("", NULL);
    char small[4];
    assert_int_equal(gw_redirect_sanitize("/abcdef", 7, small, sizeof small), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiting),
        cmocka_unit_test(test_no_token_admitted_and_seed),
        cmocka_unit_test(test_refuses_unsafe_strings_and_small_buffers),
        cmocka_unit_test(test_redirect_stays_on_this_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
