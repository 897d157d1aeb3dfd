/* Path normalisation and prefix matching: what a protected prefix is only as strong as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/path.h"

#include <string.h>

static void norm_is(const char *in, const char *want) {
    char out[256];
    long n = wr_path_normalize(in, strlen(in), out, sizeof out);
    if (want == NULL) {
        if (n != -1)
            fail_msg("'%s' should be refused, got '%s'", in, out);
        return;
    }
    if (n < 0)
        fail_msg("'%s' was refused, wanted '%s'", in, want);
    assert_int_equal(n, (long)strlen(want));
    assert_string_equal(out, want);
}

static void test_plain_paths_unchanged(void **state) {
    (void)state;
    norm_is("/", "/");
    norm_is("/checkout", "/checkout");
    norm_is("/checkout/", "/checkout/");
    norm_is("/a/b/c.html", "/a/b/c.html");
    norm_is("/Checkout", "/Checkout"); /* case is kept: matching decides about case */
    norm_is("/a;b=c/d", "/a;b=c/d");
}

static void test_slashes_and_dot_segments(void **state) {
    (void)state;
    norm_is("//checkout", "/checkout");
    norm_is("/a//b///c", "/a/b/c");
    norm_is("/./checkout", "/checkout");
    norm_is("/a/../checkout", "/checkout");
    norm_is("/a/b/../../checkout", "/checkout");
    norm_is("/..", "/");
    norm_is("/../../checkout", "/checkout");
    norm_is("/a/b/..", "/a/");
    norm_is("/a/b/.", "/a/b/");
    norm_is("/a/./b/./", "/a/b/");
    norm_is("/.well-known/x", "/.well-known/x");
    norm_is("/a/...", "/a/...");
    norm_is("/a/..b", "/a/..b");
}

static void test_percent_decoding(void **state) {
    (void)state;
    norm_is("/%63heckout", "/checkout");
    norm_is("/%43heckout", "/Checkout");
    norm_is("/%7e", "/~");
    norm_is("/%41", "/A");
    norm_is("/%2d%2E%5f", "/-._");
    norm_is("/%c3%a9", "/%C3%A9"); /* not unreserved: stays encoded, hex upper-cased */
    norm_is("/a%20b", "/a%20b");
    norm_is("/%3f", "/%3F");
    norm_is("/%2e%2e/checkout", "/checkout"); /* encoded dots are dots */
    norm_is("/x/%2e%2E/checkout", "/checkout");
    norm_is("/checkout/%2e", "/checkout/");
}

static void test_refused(void **state) {
    (void)state;
    norm_is("", NULL);
    norm_is("checkout", NULL);
    norm_is("*", NULL);
    norm_is("/a%2fb", NULL);
    norm_is("/a%2Fb", NULL);
    norm_is("/a%5cb", NULL);
    norm_is("/a%5Cb", NULL);
    norm_is("/a%00b", NULL);
    norm_is("/a\\b", NULL);
    norm_is("/%4", NULL);
    norm_is("/%", NULL);
    norm_is("/%zz", NULL);
    norm_is("/%g1", NULL);
    norm_is("/a b", NULL);
    norm_is("/a\tb", NULL);
    norm_is("/a\x7f", NULL);
    norm_is("/a#b", NULL);
    char nul[] = {'/', 'a', '\0', 'b'};
    char out[16];
    assert_int_equal(wr_path_normalize(nul, sizeof nul, out, sizeof out), -1);
}

static void test_output_buffer_bound(void **state) {
    (void)state;
    char out[4];
    assert_int_equal(wr_path_normalize("/abcd", 5, out, sizeof out), -1); /* needs len + 1 */
    char ok[6];
    assert_int_equal(wr_path_normalize("/abcd", 5, ok, sizeof ok), 5);
    /* input is a slice: bytes past len are not read */
    assert_int_equal(wr_path_normalize("/ab%2fzz", 3, ok, sizeof ok), 3);
    assert_string_equal(ok, "/ab");
}

static void test_prefix_on_segment_boundaries(void **state) {
    (void)state;
#define HAS(p, pre, cs) wr_path_has_prefix(p, strlen(p), pre, strlen(pre), cs)
    assert_true(HAS("/checkout", "/checkout", false));
    assert_true(HAS("/checkout/2", "/checkout", false));
    assert_true(HAS("/checkout/", "/checkout", false));
    assert_false(HAS("/checkoutfoo", "/checkout", false));
    assert_false(HAS("/check", "/checkout", false));
    assert_false(HAS("/", "/checkout", false));
    assert_true(HAS("/CheckOut/x", "/checkout", false));
    assert_false(HAS("/CheckOut/x", "/checkout", true));
    assert_true(HAS("/anything", "/", false));
    assert_true(HAS("/static/a.css", "/static/", false));
    assert_false(HAS("/staticx", "/static/", false));
    assert_false(HAS("/checkout", "", false));
    /* path parameters (";...") are ignored, as Tomcat, Jetty and Spring route: issue 13 */
    assert_true(HAS("/checkout;jsessionid=1", "/checkout", false));
    assert_true(HAS("/checkout;jsessionid=1/pay", "/checkout", false));
    assert_true(HAS("/checkout;", "/checkout", false));
    assert_false(HAS("/check;x=1out", "/checkout", false)); /* the parameter runs to the segment's end */
    assert_false(HAS("/check;x/out", "/checkout", false));
    assert_true(HAS("/a;x/checkout;y/z", "/a/checkout", false));
    assert_true(HAS("/static;v=2/a.css", "/static/", false));
    assert_false(HAS("/checkoutfoo;x", "/checkout", false));
    assert_false(HAS("/;x", "/checkout", false));
#undef HAS
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_paths_unchanged), cmocka_unit_test(test_slashes_and_dot_segments),
        cmocka_unit_test(test_percent_decoding),      cmocka_unit_test(test_refused),
        cmocka_unit_test(test_output_buffer_bound),   cmocka_unit_test(test_prefix_on_segment_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
