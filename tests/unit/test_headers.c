/* Header rewriting between client and origin, and the parser-callback helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/http/headers.h"

#include <stdio.h>
#include <string.h>

/* Lays "Name: value" pairs out in one buffer, as the parser would leave them. */
typedef struct {
    char buf[4096];
    gw_hdr_t h[64];
    gw_hdrs_t hs;
} hdrs_t;

static void build(hdrs_t *t, const char *const *pairs) {
    size_t off = 0, n = 0;
    for (; pairs[2 * n]; n++) {
        size_t nl = strlen(pairs[2 * n]), vl = strlen(pairs[2 * n + 1]);
        memcpy(t->buf + off, pairs[2 * n], nl);
        t->h[n].name_off = (uint32_t)off;
        t->h[n].name_len = (uint32_t)nl;
        off += nl + 2;
        memcpy(t->buf + off, pairs[2 * n + 1], vl);
        t->h[n].value_off = (uint32_t)off;
        t->h[n].value_len = (uint32_t)vl;
        off += vl + 2;
    }
    t->hs.base = t->buf;
    t->hs.h = t->h;
    t->hs.n = n;
}

static const char *request(const char *const *pairs, bool trust, bool chunked) {
    static hdrs_t t;
    static char out[4096];
    build(&t, pairs);
    gw_req_line_t r = {.method = "GET",
                       .method_len = 3,
                       .path = "/checkout",
                       .path_len = 9,
                       .query = "?a=1",
                       .query_len = 4,
                       .client_ip = "192.0.2.7",
                       .trust_forwarded = trust,
                       .chunked = chunked};
    long n = gw_build_request_head(&t.hs, &r, out, sizeof out);
    assert_true(n > 0);
    out[n] = '\0';
    return out;
}

static void test_request_line_and_host(void **state) {
    (void)state;
    const char *p[] = {"Host", "shop.example", "Accept", "*/*", NULL};
    assert_string_equal(request(p, false, false), "GET /checkout?a=1 HTTP/1.1\r\n"
                                                  "Host: shop.example\r\n"
                                                  "Accept: */*\r\n"
                                                  "Via: 1.1 waitroom\r\n"
                                                  "X-Forwarded-For: 192.0.2.7\r\n"
                                                  "X-Forwarded-Proto: http\r\n"
                                                  "X-Forwarded-Host: shop.example\r\n"
                                                  "\r\n");
}

/* A client's Waitroom-Pass never reaches the origin; the gateway's own (extra) is added last. */
static void test_waitroom_pass_is_the_gateways(void **state) {
    (void)state;
    static hdrs_t t;
    char out[4096];
    const char *p[] = {
        "Host",           "h", "waitroom-pass", "v1 forged", "WAITROOM-PASS", "v1 again", "Waitroom_Pass",
        "v1 underscored", NULL};
    build(&t, p);
    static const char line[] = "Waitroom-Pass: v1 room=sale sig=x\r\n";
    gw_req_line_t r = {.method = "GET",
                       .method_len = 3,
                       .path = "/",
                       .path_len = 1,
                       .client_ip = "192.0.2.7",
                       .extra = line,
                       .extra_len = sizeof line - 1};
    long n = gw_build_request_head(&t.hs, &r, out, sizeof out);
    assert_true(n > 0);
    out[n] = '\0';
    assert_null(strstr(out, "forged"));
    assert_null(strstr(out, "again"));
    assert_null(strstr(out, "underscored"));
    assert_non_null(strstr(out, "X-Forwarded-Host: h\r\nWaitroom-Pass: v1 room=sale sig=x\r\n\r\n"));
    r.extra = NULL; /* no pass: no header at all */
    n = gw_build_request_head(&t.hs, &r, out, sizeof out);
    out[n] = '\0';
    assert_null(strstr(out, "aitroom-"));
    assert_null(strstr(out, "AITROOM-"));
}

static void test_hop_by_hop_removed(void **state) {
    (void)state;
    const char *p[] = {"Host",
                       "h",
                       "Connection",
                       "keep-alive, X-Secret",
                       "Keep-Alive",
                       "timeout=5",
                       "Proxy-Connection",
                       "keep-alive",
                       "TE",
                       "trailers",
                       "Trailer",
                       "X-T",
                       "Transfer-Encoding",
                       "chunked",
                       "Upgrade",
                       "h2c",
                       "HTTP2-Settings",
                       "AAMA",
                       "Proxy-Authorization",
                       "Basic eA==",
                       "X-Secret",
                       "s",
                       "x-secret",
                       "s2",
                       "Expect",
                       "100-continue",
                       "X-Kept",
                       "k",
                       NULL};
    const char *out = request(p, false, true);
    const char *gone[] = {"Connection", "Keep-Alive",     "Proxy-Connection",    "TE:",      "Trailer",
                          "Upgrade",    "HTTP2-Settings", "Proxy-Authorization", "X-Secret", "x-secret",
                          "Expect"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        if (strstr(out, gone[i]))
            fail_msg("'%s' was forwarded:\n%s", gone[i], out);
    assert_non_null(strstr(out, "X-Kept: k\r\n"));
    /* the body is forwarded with its own framing, so chunked is said again, once */
    const char *te = strstr(out, "Transfer-Encoding: chunked\r\n");
    assert_non_null(te);
    assert_null(strstr(te + 1, "Transfer-Encoding"));
}

static void test_forwarded_headers_untrusted(void **state) {
    (void)state;
    const char *p[] = {
        "Host", "h",   "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Forwarded-Host",
        "evil", "Via", "1.0 other",       NULL};
    const char *out = request(p, false, false);
    assert_non_null(strstr(out, "X-Forwarded-For: 192.0.2.7\r\n"));
    assert_non_null(strstr(out, "X-Forwarded-Proto: http\r\n"));
    assert_non_null(strstr(out, "X-Forwarded-Host: h\r\n"));
    assert_null(strstr(out, "6.6.6.6"));
    assert_null(strstr(out, "evil"));
    assert_non_null(strstr(out, "Via: 1.0 other, 1.1 waitroom\r\n"));
}

static void test_forwarded_headers_trusted(void **state) {
    (void)state;
    const char *p[] = {"Host",
                       "h",
                       "X-Forwarded-For",
                       "203.0.113.1",
                       "x-forwarded-for",
                       "198.51.100.2",
                       "X-Forwarded-Proto",
                       "https",
                       "X-Forwarded-Host",
                       "lb.example",
                       NULL};
    const char *out = request(p, true, false);
    assert_non_null(strstr(out, "X-Forwarded-For: 203.0.113.1, 198.51.100.2, 192.0.2.7\r\n"));
    assert_non_null(strstr(out, "X-Forwarded-Proto: https\r\n"));
    assert_non_null(strstr(out, "X-Forwarded-Host: lb.example\r\n"));
}

static void test_request_overflow(void **state) {
    (void)state;
    hdrs_t t;
    const char *p[] = {"Host", "h", NULL};
    build(&t, p);
    gw_req_line_t r = {.method = "GET", .method_len = 3, .path = "/", .path_len = 1, .client_ip = "1.2.3.4"};
    char out[64];
    assert_int_equal(gw_build_request_head(&t.hs, &r, out, sizeof out), -1);
    char big[256];
    assert_true(gw_build_request_head(&t.hs, &r, big, sizeof big) > 0);
}

static const char *response(const char *const *pairs, gw_status_line_t s) {
    static hdrs_t t;
    static char out[4096];
    build(&t, pairs);
    long n = gw_build_response_head(&t.hs, &s, out, sizeof out);
    assert_true(n > 0);
    out[n] = '\0';
    return out;
}

static void test_response_head(void **state) {
    (void)state;
    const char *p[] = {"Content-Type",      "text/html", "Connection", "X-Private",
                       "X-Private",         "x",         "Keep-Alive", "timeout=5",
                       "Transfer-Encoding", "chunked",   "Set-Cookie", "a=1",
                       "Set-Cookie",        "b=2",       NULL};
    gw_status_line_t s = {.status = 200, .reason = "OK", .reason_len = 2, .keep_alive = true};
    assert_string_equal(response(p, s), "HTTP/1.1 200 OK\r\n"
                                        "Content-Type: text/html\r\n"
                                        "Transfer-Encoding: chunked\r\n"
                                        "Set-Cookie: a=1\r\n"
                                        "Set-Cookie: b=2\r\n"
                                        "Via: 1.1 waitroom\r\n"
                                        "\r\n");
    s.keep_alive = false;
    assert_non_null(strstr(response(p, s), "Connection: close\r\n"));
    s.keep_alive = true;
    s.client_http10 = true;
    assert_non_null(strstr(response(p, s), "Connection: keep-alive\r\n"));
    s.drop_framing = true; /* de-chunked for HTTP/1.0 */
    assert_null(strstr(response(p, s), "Transfer-Encoding"));
    gw_status_line_t odd = {.status = 599, .reason = "Custom Thing", .reason_len = 12, .keep_alive = true};
    assert_non_null(strstr(response(p, odd), "HTTP/1.1 599 Custom Thing\r\n"));
}

static void test_waitroom_headers_stay_with_the_gateway(void **state) {
    (void)state;
    const char *p[] = {"Content-Type", "text/html", "Waitroom-Release", "done", "waitroom-inventory",
                       "12",           NULL};
    gw_status_line_t s = {.status = 200,
                          .reason = "OK",
                          .reason_len = 2,
                          .keep_alive = true,
                          .extra = "Set-Cookie: wr_p=; Max-Age=0\r\n"};
    const char *out = response(p, s);
    assert_null(strstr(out, "Waitroom-Release"));
    assert_null(strstr(out, "waitroom-inventory"));
    assert_non_null(strstr(out, "Content-Type: text/html\r\n"));
    assert_non_null(strstr(out, "\r\nSet-Cookie: wr_p=; Max-Age=0\r\n"));
}

static void test_lookup_helpers(void **state) {
    (void)state;
    hdrs_t t;
    const char *p[] = {"Host", "h", "CONNECTION", "Keep-Alive ,  Upgrade", NULL};
    build(&t, p);
    assert_int_equal(gw_hdr_find(&t.hs, "connection"), 1);
    assert_int_equal(gw_hdr_find(&t.hs, "upgrade"), -1);
    assert_true(gw_hdr_has_token(&t.hs, 1, "upgrade"));
    assert_true(gw_hdr_has_token(&t.hs, 1, "keep-alive"));
    assert_false(gw_hdr_has_token(&t.hs, 1, "close"));
    assert_true(gw_hdr_name_is(&t.hs, 0, "host"));
}

static void test_parser_callback_helpers(void **state) {
    (void)state;
    gw_hdr_t h[3];
    uint16_t n = 0;
    unsigned in_value = 0;
    /* "Na" "me" split over two reads, value in two contiguous pieces */
    assert_int_equal(gw_hdr_on_field(h, &n, 3, &in_value, 0, 2), 0);
    assert_int_equal(gw_hdr_on_field(h, &n, 3, &in_value, 2, 2), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].name_len, 4);
    assert_int_equal(gw_hdr_on_value(h, n, &in_value, 6, 3), 0);
    assert_int_equal(gw_hdr_on_value(h, n, &in_value, 9, 2), 0);
    assert_int_equal(h[0].value_len, 5);
    /* a value piece after a gap is an obs-fold continuation line: refused */
    assert_int_equal(gw_hdr_on_value(h, n, &in_value, 14, 2), -1);
    /* a new name after a value starts a new header; the limit gives -2 */
    assert_int_equal(gw_hdr_on_field(h, &n, 3, &in_value, 20, 1), 0);
    assert_int_equal(gw_hdr_on_value(h, n, &in_value, 23, 1), 0);
    assert_int_equal(gw_hdr_on_field(h, &n, 3, &in_value, 30, 1), 0);
    assert_int_equal(gw_hdr_on_value(h, n, &in_value, 33, 1), 0);
    assert_int_equal(n, 3);
    assert_int_equal(gw_hdr_on_field(h, &n, 3, &in_value, 40, 1), -2);
    /* trailing whitespace trimmed */
    char base[] = "X: ab \t";
    gw_hdr_t one = {.name_off = 0, .name_len = 1, .value_off = 3, .value_len = 4};
    gw_hdr_trim_values(base, &one, 1);
    assert_int_equal(one.value_len, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_line_and_host),
        cmocka_unit_test(test_hop_by_hop_removed),
        cmocka_unit_test(test_waitroom_pass_is_the_gateways),
        cmocka_unit_test(test_forwarded_headers_untrusted),
        cmocka_unit_test(test_forwarded_headers_trusted),
        cmocka_unit_test(test_request_overflow),
        cmocka_unit_test(test_response_head),
        cmocka_unit_test(test_waitroom_headers_stay_with_the_gateway),
        cmocka_unit_test(test_lookup_helpers),
        cmocka_unit_test(test_parser_callback_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
