/* Finding wr_q / wr_p among a visitor's cookies, and writing Set-Cookie. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/cookie.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char buf[2048];
    gw_hdr_t h[8];
    gw_hdrs_t hs;
} hdrs_t;

static void build(hdrs_t *t, const char *const *pairs) {
    size_t off = 0, n = 0;
    for (; pairs[2 * n]; n++) {
        size_t nl = strlen(pairs[2 * n]), vl = strlen(pairs[2 * n + 1]);
        memcpy(t->buf + off, pairs[2 * n], nl);
        t->h[n] = (gw_hdr_t){(uint32_t)off, (uint32_t)nl, (uint32_t)(off + nl + 2), (uint32_t)vl};
        off += nl + 2;
        memcpy(t->buf + off, pairs[2 * n + 1], vl);
        off += vl + 2;
    }
    t->hs = (gw_hdrs_t){t->buf, t->h, n};
}

typedef struct {
    char seen[8][64];
    int n;
    int stop_at;
} collect_t;

static bool collect(const char *v, size_t len, void *arg) {
    collect_t *c = arg;
    snprintf(c->seen[c->n], sizeof c->seen[0], "%.*s", (int)len, v);
    c->n++;
    return c->n == c->stop_at;
}

static collect_t find(const char *const *pairs, const char *name) {
    static hdrs_t t;
    build(&t, pairs);
    collect_t c = {.stop_at = 99};
    gw_cookie_each(&t.hs, name, collect, &c);
    return c;
}

static void test_finds_values(void **state) {
    (void)state;
    const char *p[] = {"Host", "h", "Cookie", "a=1; wr_q=TOKEN1;b=2;  wr_p = x ;wr_p=PASS", NULL};
    collect_t c = find(p, "wr_q");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.seen[0], "TOKEN1");
    c = find(p, "wr_p");
    assert_int_equal(c.n, 1); /* "wr_p " with a space before '=' is another name */
    assert_string_equal(c.seen[0], "PASS");
    c = find(p, "b");
    assert_string_equal(c.seen[0], "2");
    assert_int_equal(find(p, "wr").n, 0);
    assert_int_equal(find(p, "wr_q=TOKEN1").n, 0);
}

static void test_several_values_and_headers(void **state) {
    (void)state;
    const char *p[] = {"Cookie", "wr_q=first", "cookie", "x=y; wr_q=\"second\"; wr_q=", NULL};
    collect_t c = find(p, "wr_q");
    assert_int_equal(c.n, 3);
    assert_string_equal(c.seen[0], "first");
    assert_string_equal(c.seen[1], "second");
    assert_string_equal(c.seen[2], "");
    /* the callback can stop at the first good one */
    hdrs_t t;
    build(&t, p);
    collect_t one = {.stop_at = 1};
    assert_true(gw_cookie_each(&t.hs, "wr_q", collect, &one));
    assert_int_equal(one.n, 1);
}

static void test_junk_is_skipped(void **state) {
    (void)state;
    const char *p[] = {"Cookie", ";;; =; novalue; ==; wr_q==x; \t wr_q=ok\t ;", NULL};
    collect_t c = find(p, "wr_q");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.seen[0], "=x");
    assert_string_equal(c.seen[1], "ok");
    const char *q[] = {"Cookie", "\"", NULL};
    assert_int_equal(find(q, "wr_q").n, 0);
    const char *r[] = {"Cookie", "wr_q=\"", NULL};
    c = find(r, "wr_q");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.seen[0], "\""); /* a lone quote is not a quoted value */
}

static void test_set_cookie(void **state) {
    (void)state;
    char out[256];
    long n = gw_cookie_set(out, sizeof out, "wr_q", "abc-_123", 8, 3600, false);
    assert_int_equal(n, (long)strlen(out));
    assert_string_equal(out, "Set-Cookie: wr_q=abc-_123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax\r\n");
    gw_cookie_set(out, sizeof out, "wr_p", "v", 1, 0, true);
    assert_string_equal(out, "Set-Cookie: wr_p=v; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure\r\n");
    assert_int_equal(gw_cookie_set(out, sizeof out, "wr_q", "a;b", 3, 1, false), -1);
    assert_int_equal(gw_cookie_set(out, sizeof out, "wr_q", "a\r\nX: y", 7, 1, false), -1);
    assert_int_equal(gw_cookie_set(out, 20, "wr_q", "abc", 3, 1, false), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finds_values),
        cmocka_unit_test(test_several_values_and_headers),
        cmocka_unit_test(test_junk_is_skipped),
        cmocka_unit_test(test_set_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
