/* Route matching: which room protects a request, on normalised paths, hosts, bypass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/path.h"
#include "config/config.h"
#include "gateway/queue/route.h"

#include <stdio.h>
#include <string.h>

/* hosts = *: any Host is served (the rules for unknown hosts are in test_unknown_hosts) */
static const char *CONFIG = "[gateway]\nhosts = *\n"
                            "[room sale]\n"
                            "paths = /checkout /tickets\n"
                            "bypass = /tickets/static\n"
                            "[room vip]\n"
                            "paths = /checkout/vip\n"
                            "[room fr]\n"
                            "hosts = billets.example.fr *.example.org\n"
                            "paths = /checkout\n"
                            "[room all]\n"
                            "hosts = all.example.com\n"
                            "paths = /\n";

static wr_config_t *cfg;

static int setup(void **state) {
    (void)state;
    char err[512];
    cfg = wr_config_load_string(CONFIG, "route.ini", "/tmp", err, sizeof err);
    if (!cfg)
        fprintf(stderr, "%s\n", err);
    return cfg ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    wr_config_free(cfg);
    return 0;
}

/* Routes a raw path as the gateway does: normalise first. Returns "pass", "bypass:ROOM", "ROOM" or
 * "refused". */
static const char *route(const char *host, const char *raw) {
    static char out[80];
    char norm[256];
    long n = wr_path_normalize(raw, strlen(raw), norm, sizeof norm);
    if (n < 0)
        return "refused";
    gw_route_t r = gw_route_match(cfg, host, strlen(host), norm, (size_t)n);
    if (r.kind == GW_ROUTE_PASS)
        return "pass";
    if (r.kind == GW_ROUTE_MISDIRECTED)
        return "421";
    snprintf(out, sizeof out, "%s%s", r.kind == GW_ROUTE_BYPASS ? "bypass:" : "", r.room->name);
    return out;
}

static void test_normalised_variants_cannot_slip_past(void **state) {
    (void)state;
    const char *variants[] = {"/checkout",        "/Checkout",   "/CHECKOUT",   "/./checkout",
                              "//checkout",       "/%63heckout", "/%43heckout", "/x/../checkout",
                              "/%2e%2e/checkout", "/checkout/",  "/checkout/2", "/checkout//2",
                              "/checkout/./2"};
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        assert_string_equal(route("shop.example", variants[i]), "sale");
}

static void test_segment_boundaries(void **state) {
    (void)state;
    assert_string_equal(route("shop.example", "/checkoutfoo"), "pass");
    assert_string_equal(route("shop.example", "/check"), "pass");
    assert_string_equal(route("shop.example", "/"), "pass");
    assert_string_equal(route("shop.example", "/tickets"), "sale");
    assert_string_equal(route("shop.example", "/ticketsx"), "pass");
}

static void test_unsafe_paths_refused(void **state) {
    (void)state;
    assert_string_equal(route("shop.example", "/checkout%2fx"), "refused");
    assert_string_equal(route("shop.example", "/%63heckout%5c"), "refused");
    assert_string_equal(route("shop.example", "/checkout%00"), "refused");
    assert_string_equal(route("shop.example", "/checkout%zz"), "refused");
}

static void test_longest_prefix_and_bypass(void **state) {
    (void)state;
    assert_string_equal(route("shop.example", "/checkout/vip"), "vip");
    assert_string_equal(route("shop.example", "/checkout/VIP/seat"), "vip");
    assert_string_equal(route("shop.example", "/checkout/vipx"), "sale");
    assert_string_equal(route("shop.example", "/tickets/static/a.css"), "bypass:sale");
    assert_string_equal(route("shop.example", "/tickets/Static/a.css"), "bypass:sale");
    assert_string_equal(route("shop.example", "/tickets/staticx"), "sale");
}

static void test_hosts(void **state) {
    (void)state;
    /* a room naming the host wins over a room for any host, even with a shorter prefix */
    assert_string_equal(route("billets.example.fr", "/checkout/vip"), "fr");
    assert_string_equal(route("BILLETS.example.FR:8080", "/checkout"), "fr");
    assert_string_equal(route("billets.example.fr.", "/checkout"), "fr");
    assert_string_equal(route("a.example.org", "/checkout"), "fr");
    assert_string_equal(route("a.b.example.org", "/checkout"), "fr");
    assert_string_equal(route("example.org", "/checkout"), "sale"); /* the apex is not *.example.org */
    assert_string_equal(route("evilexample.org", "/checkout"), "sale");
    assert_string_equal(route("all.example.com", "/anything"), "all");
    assert_string_equal(route("all.example.com", "/checkout"), "all");
    assert_string_equal(route("other.example.com", "/anything"), "pass");
    assert_string_equal(route("", "/checkout"), "sale");
}

/* A protected path must not reach the origin through a Host no room names (issue 13). */
static const char *route_in(const char *config, const char *host, const char *path) {
    static char out[80], err[512];
    wr_config_t *c = wr_config_load_string(config, "hosts.ini", "/tmp", err, sizeof err);
    if (!c)
        return err;
    gw_route_t r = gw_route_match(c, host, strlen(host), path, strlen(path));
    snprintf(out, sizeof out, "%s",
             r.kind == GW_ROUTE_PASS          ? "pass"
             : r.kind == GW_ROUTE_MISDIRECTED ? "421"
                                              : r.room->name);
    wr_config_free(c);
    return out;
}

static void test_unknown_hosts(void **state) {
    (void)state;
    const char *one = "[room shop]\nhosts = shop.example.com\npaths = /checkout\n";
    assert_string_equal(route_in(one, "shop.example.com", "/checkout"), "shop");
    assert_string_equal(route_in(one, "127.0.0.1", "/checkout"), "421");
    assert_string_equal(route_in(one, "127.0.0.1:8080", "/checkout;x/2"), "421");
    assert_string_equal(route_in(one, "", "/checkout"), "421"); /* HTTP/1.0 without Host */
    assert_string_equal(route_in(one, "other.example", "/checkout"), "421");
    assert_string_equal(route_in(one, "other.example", "/about"), "pass"); /* not a protected path */
    /* a host named by another room is one the operator serves: its own paths, not this room's */
    const char *two = "[room shop]\nhosts = shop.example.com\npaths = /checkout\n"
                      "[room fr]\nhosts = billets.example.fr\npaths = /billets\n";
    assert_string_equal(route_in(two, "billets.example.fr", "/checkout"), "pass");
    assert_string_equal(route_in(two, "billets.example.fr", "/billets"), "fr");
    /* a room for any host still protects the path on unknown hosts */
    const char *any =
        "[room shop]\nhosts = shop.example.com\npaths = /checkout\n[room all]\npaths = /checkout\n";
    assert_string_equal(route_in(any, "10.0.0.1", "/checkout"), "all");
    /* [gateway] hosts lists every host served: others get 421 on any path */
    const char *listed = "[gateway]\nhosts = shop.example.com www.example.com\n"
                         "[room shop]\nhosts = shop.example.com\npaths = /checkout\n";
    assert_string_equal(route_in(listed, "www.example.com", "/checkout"), "pass");
    assert_string_equal(route_in(listed, "other.example", "/about"), "421");
    assert_string_equal(route_in(listed, "shop.example.com", "/checkout"), "shop");
    /* hosts = * : the operator accepts any host (the protected paths of host rooms only on their hosts) */
    const char *star = "[gateway]\nhosts = *\n[room shop]\nhosts = shop.example.com\npaths = /checkout\n";
    assert_string_equal(route_in(star, "other.example", "/checkout"), "pass");
    assert_string_equal(
        route_in("[gateway]\nhosts = a*b\n", "h", "/"),
        "hosts.ini:2: [gateway] hosts: 'a*b': '*' stands alone or starts '*.' (any subdomain)");
}

static void test_case_sensitive_option(void **state) {
    (void)state;
    char err[512];
    wr_config_t *cs =
        wr_config_load_string("[gateway]\ncase_sensitive_paths = true\n[room r]\npaths = /Checkout\n",
                              "cs.ini", "/tmp", err, sizeof err);
    assert_non_null(cs);
    gw_route_t r = gw_route_match(cs, "h", 1, "/Checkout", 9);
    assert_int_equal(r.kind, GW_ROUTE_PROTECTED);
    r = gw_route_match(cs, "h", 1, "/checkout", 9);
    assert_int_equal(r.kind, GW_ROUTE_PASS);
    wr_config_free(cs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalised_variants_cannot_slip_past),
        cmocka_unit_test(test_segment_boundaries),
        cmocka_unit_test(test_unsafe_paths_refused),
        cmocka_unit_test(test_longest_prefix_and_bypass),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_unknown_hosts),
        cmocka_unit_test(test_case_sensitive_option),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
