/* The request head checks (gateway/http/request.c), one rule at a time: what is refused with which
 * status, and what an accepted head becomes (host, normalised path, query, body and Expect flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "gateway/http/request.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>

static wr_config_t *cfg;

static int setup(void **state) {
    (void)state;
    char err[512];
    cfg = wr_config_load_string("[gateway]\nmax_body_bytes = 1000\n", "request.ini", "/tmp", err, sizeof err);
    if (!cfg)
        fprintf(stderr, "%s\n", err);
    return cfg ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    wr_config_free(cfg);
    return 0;
}

/* A head as llhttp would have it: the header lines ("Name: value\n"...) become offsets into buf. */
typedef struct {
    char buf[2048];
    gw_hdr_t h[32];
    gw_request_in_t in;
    char norm[512];
    gw_request_t out;
} head_t;

static head_t *head(uint8_t method, int major, int minor, const char *url, const char *lines) {
    static head_t t;
    memset(&t, 0, sizeof t);
    size_t ul = strlen(url), n = 0;
    memcpy(t.buf, url, ul);
    size_t off = ul;
    memcpy(t.buf + off, lines, strlen(lines));
    size_t end = off + strlen(lines);
    while (off < end) {
        size_t eol = off;
        while (eol < end && t.buf[eol] != '\n')
            eol++;
        size_t colon = off;
        while (colon < eol && t.buf[colon] != ':')
            colon++;
        size_t v = colon + 1;
        while (v < eol && t.buf[v] == ' ')
            v++;
        t.h[n++] = (gw_hdr_t){(uint32_t)off, (uint32_t)(colon - off), (uint32_t)v, (uint32_t)(eol - v)};
        off = eol + 1;
    }
    t.in = (gw_request_in_t){.method = method,
                             .http_major = (uint8_t)major,
                             .http_minor = (uint8_t)minor,
                             .url = t.buf,
                             .url_len = ul,
                             .hs = {t.buf, t.h, n},
                             .head_bytes = 100};
    return &t;
}

static int check(head_t *t) {
    return gw_request_check(cfg, &t->in, t->norm, sizeof t->norm, &t->out);
}

static bool is(const char *s, size_t n, const char *want) {
    return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

static void test_plain_get(void **state) {
    (void)state;
    head_t *t = head(HTTP_GET, 1, 1, "/a/../checkout?x=1", "Host: shop.example\n");
    assert_int_equal(check(t), 0);
    assert_true(is(t->out.host, t->out.host_len, "shop.example"));
    assert_true(is(t->out.path, t->out.path_len, "/checkout"));
    assert_true(is(t->out.query, t->out.query_len, "?x=1"));
    assert_true(t->out.idempotent);
    assert_false(t->out.http10 || t->out.is_head || t->out.has_body || t->out.expect_continue);
}

static void test_host_rules(void **state) {
    (void)state;
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/", "")), 400);                   /* 1.1 needs Host */
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/", "Host: a\nHost: b\n")), 400); /* only one */
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/", "Host: a\nhOsT: a\n")), 400); /* any case */
    head_t *t = head(HTTP_GET, 1, 0, "/", "");
    assert_int_equal(check(t), 0); /* HTTP/1.0 may leave it out */
    assert_true(t->out.http10);
    assert_int_equal(t->out.host_len, 0);
}

static void test_absolute_form(void **state) {
    (void)state;
    head_t *t = head(HTTP_GET, 1, 1, "http://shop.example/checkout?q", "Host: shop.example\n");
    assert_int_equal(check(t), 0);
    assert_true(is(t->out.path, t->out.path_len, "/checkout"));
    assert_true(is(t->out.query, t->out.query_len, "?q"));
    /* the authority must agree with Host, or a room keyed on Host could be dodged */
    assert_int_equal(check(head(HTTP_GET, 1, 1, "http://other.example/checkout", "Host: shop.example\n")),
                     400);
    t = head(HTTP_GET, 1, 0, "http://shop.example", "");
    assert_int_equal(check(t), 0);
    assert_true(is(t->out.host, t->out.host_len, "shop.example"));
    assert_true(is(t->out.path, t->out.path_len, "/"));
}

static void test_asterisk_and_paths(void **state) {
    (void)state;
    head_t *t = head(HTTP_OPTIONS, 1, 1, "*", "Host: a\n");
    assert_int_equal(check(t), 0);
    assert_true(is(t->out.path, t->out.path_len, "*"));
    assert_int_equal(check(head(HTTP_GET, 1, 1, "*", "Host: a\n")), 400);
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/check%2Fout", "Host: a\n")), 400);
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/a\\b", "Host: a\n")), 400);
}

static void test_version_method_size(void **state) {
    (void)state;
    assert_int_equal(check(head(HTTP_GET, 2, 0, "/", "Host: a\n")), 505);
    assert_int_equal(check(head(HTTP_CONNECT, 1, 1, "a:443", "Host: a\n")), 405);
    head_t *t = head(HTTP_GET, 1, 1, "/", "Host: a\n");
    t->in.head_bytes = cfg->max_header_bytes + 1;
    assert_int_equal(check(t), 431);
    t = head(HTTP_HEAD, 1, 1, "/", "Host: a\n");
    assert_int_equal(check(t), 0);
    assert_true(t->out.is_head && t->out.idempotent);
    t = head(HTTP_POST, 1, 1, "/", "Host: a\n");
    assert_int_equal(check(t), 0);
    assert_false(t->out.idempotent);
}

static void test_framing(void **state) {
    (void)state;
    head_t *t = head(HTTP_POST, 1, 1, "/", "Host: a\nTransfer-Encoding: chunked\n");
    t->in.chunked = true;
    assert_int_equal(check(t), 0);
    assert_true(t->out.has_body);
    assert_int_equal(check(head(HTTP_POST, 1, 1, "/", "Host: a\nTransfer-Encoding: gzip\n")), 501);
    assert_int_equal(check(head(HTTP_POST, 1, 1, "/",
                                "Host: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n")),
                     501);
    t = head(HTTP_POST, 1, 1, "/", "Host: a\nContent-Length: 1001\n");
    t->in.has_content_length = true;
    t->in.content_length = 1001;
    assert_int_equal(check(t), 413);
    t = head(HTTP_POST, 1, 1, "/", "Host: a\nContent-Length: 0\n");
    t->in.has_content_length = true;
    assert_int_equal(check(t), 0);
    assert_false(t->out.has_body);
}

static void test_expect(void **state) {
    (void)state;
    head_t *t = head(HTTP_POST, 1, 1, "/", "Host: a\nContent-Length: 5\nExpect: 100-Continue\n");
    t->in.has_content_length = true;
    t->in.content_length = 5;
    assert_int_equal(check(t), 0);
    assert_true(t->out.expect_continue);
    t = head(HTTP_GET, 1, 1, "/", "Host: a\nExpect: 100-continue\n");
    assert_int_equal(check(t), 0);
    assert_false(t->out.expect_continue); /* nothing to wait for */
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/", "Host: a\nExpect: something\n")), 417);
    t = head(HTTP_POST, 1, 0, "/", "Content-Length: 5\nExpect: 100-continue\n");
    t->in.has_content_length = true;
    t->in.content_length = 5;
    assert_int_equal(check(t), 0);
    assert_false(t->out.expect_continue); /* an HTTP/1.0 client is never sent 100 Continue */
}

static void test_framing_look_alikes(void **state) {
    (void)state;
    const char *refused[] = {"Host: a\nConnection: content-length\n",
                             "Host: a\nConnection: close, Transfer-Encoding\n",
                             "Host: a\nConnection: HOST\n",
                             "Host: a\nTransfer_Encoding: chunked\n",
                             "Host: a\nContent__Length: 1\n",
                             "Host: a\nContent--length: 1\n",
                             "Host: a\nKeep_Alive: 1\n",
                             "Host: a\n: empty name\n"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        assert_int_equal(check(head(HTTP_POST, 1, 1, "/", refused[i])), 400);
    /* look-alikes of nothing, and Connection naming an ordinary field, are fine */
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/", "Host: a\nX_Custom: 1\nX--Two: 2\n")), 0);
    assert_int_equal(check(head(HTTP_GET, 1, 1, "/", "Host: a\nConnection: keep-alive, X-Private\n")), 0);
    head_t *t = head(HTTP_POST, 1, 0, "/", "Transfer-Encoding: chunked\n");
    t->in.chunked = true;
    assert_int_equal(check(t), 400); /* RFC 9112 section 6.1 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_get),
        cmocka_unit_test(test_host_rules),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_asterisk_and_paths),
        cmocka_unit_test(test_version_method_size),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_framing_look_alikes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
