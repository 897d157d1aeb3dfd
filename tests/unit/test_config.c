/* Config loading: defaults, every kind of value, and one clear error naming file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[1024];

static wr_config_t *load(const char *text) {
    err[0] = '\0';
    return wr_config_load_string(text, "t.ini", "/etc/wr", err, sizeof err);
}

/* The text must be refused with exactly this message. */
static void refused(const char *text, const char *want) {
    wr_config_t *c = load(text);
    if (c) {
        wr_config_free(c);
        fail_msg("accepted: %s", text);
    }
    assert_string_equal(err, want);
}

static void test_defaults(void **state) {
    (void)state;
    wr_config_t *c = load("");
    assert_non_null(c);
    assert_string_equal(c->listen.host, "127.0.0.1");
    assert_int_equal(c->listen.port, 8080);
    assert_int_equal(c->admin_listen.port, 8081);
    assert_int_equal(c->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    assert_string_equal(c->key_file, "/etc/wr/waitroom.key");
    assert_string_equal(c->admin_token_file, "/etc/wr/admin.token");
    assert_int_equal(c->max_header_bytes, 16384);
    assert_int_equal(c->max_body_bytes, 16 * 1024 * 1024);
    assert_int_equal(c->origin.port, 9000);
    assert_string_equal(c->origin_url, "http://127.0.0.1:9000");
    assert_int_equal(c->redis.port, 6379);
    assert_false(c->trust_forwarded);
    assert_int_equal(c->nrooms, 0);
    wr_config_free(c);
}

static void test_every_section(void **state) {
    (void)state;
    wr_config_t *c = load("# comment\n"
                          "; another\n"
                          "[gateway]\n"
                          "listen = [::1]:80\n"
                          "admin_listen=127.0.0.2:81   \n"
                          "workers = 3\n"
                          "key_file = keys/k\n"
                          "admin_token_file = /abs/tok\n"
                          "max_connections = 50000\n"
                          "header_timeout_ms = 5000\n"
                          "max_body_bytes = 0\n"
                          "trust_forwarded = yes\n"
                          "access_log = on\n"
                          "log_level = debug\n"
                          "\n"
                          "[origin]\n"
                          "url = http://origin.internal\n"
                          "pool_max_idle = 7\n"
                          "connect_timeout_ms = 250\n"
                          "[redis]\n"
                          "url = redis://10.0.0.5\n"
                          "[room spring-sale_2]\n"
                          "paths = /Checkout/ /tickets\n"
                          "hosts = Tickets.Example.com\n"
                          "state = scheduled\n"
                          "open_at = 2026-12-01T10:00:00+01:00\n"
                          "mode = adaptive\n"
                          "min_rate = 10\n"
                          "max_rate = 100\n"
                          "rate_per_minute = 0\n"
                          "max_active = 500\n"
                          "target_p99_ms = 800\n"
                          "max_error_rate = 0.05\n");
    assert_non_null(c);
    assert_string_equal(c->listen.host, "::1");
    assert_int_equal(c->listen.port, 80);
    assert_string_equal(c->admin_listen.host, "127.0.0.2");
    assert_int_equal(c->workers, 3);
    assert_string_equal(c->key_file, "/etc/wr/keys/k");
    assert_string_equal(c->admin_token_file, "/abs/tok");
    assert_int_equal(c->max_connections, 50000);
    assert_int_equal(c->header_timeout_ms, 5000);
    assert_int_equal(c->max_body_bytes, 0);
    assert_true(c->trust_forwarded);
    assert_true(c->access_log);
    assert_int_equal(c->log_level, 0);
    assert_string_equal(c->origin.host, "origin.internal");
    assert_int_equal(c->origin.port, 80);
    assert_int_equal(c->origin_pool_max_idle, 7);
    assert_int_equal(c->origin_connect_timeout_ms, 250);
    assert_string_equal(c->redis.host, "10.0.0.5");
    assert_int_equal(c->redis.port, 6379);
    assert_int_equal(c->nrooms, 1);
    wr_room_cfg_t *r = &c->rooms[0];
    assert_string_equal(r->name, "spring-sale_2");
    assert_int_equal(r->npaths, 2);
    assert_string_equal(r->paths[0], "/checkout"); /* normalised, lower-cased, no trailing slash */
    assert_string_equal(r->paths[1], "/tickets");
    assert_string_equal(r->hosts[0], "tickets.example.com");
    assert_int_equal(r->state, WR_ROOM_SCHEDULED);
    assert_int_equal(r->open_at, 1796115600); /* 2026-12-01T09:00:00Z */
    assert_int_equal(r->mode, WR_MODE_ADAPTIVE);
    assert_int_equal(r->rate_per_minute, 0);
    assert_int_equal(r->max_active, 500);
    assert_int_equal(r->target_p99_ms, 800);
    assert_true(r->max_error_rate > 0.0499 && r->max_error_rate < 0.0501);
    assert_int_equal(r->claim_window_s, 120); /* queue timeouts: defaults */
    assert_int_equal(r->session_ttl_s, 600);
    assert_int_equal(r->abandon_after_s, 60);
    assert_int_equal(r->queue_token_ttl_s, 7 * 86400);
    wr_config_free(c);
    c = load("[room t]\npaths = /a\nclaim_window_s = 30\nsession_ttl_s = 900\nabandon_after_s = 45\n"
             "queue_token_ttl_s = 86400\n");
    assert_non_null(c);
    assert_int_equal(c->rooms[0].claim_window_s, 30);
    assert_int_equal(c->rooms[0].session_ttl_s, 900);
    assert_int_equal(c->rooms[0].abandon_after_s, 45);
    assert_int_equal(c->rooms[0].queue_token_ttl_s, 86400);
    wr_config_free(c);
}

static void test_rfc3339(void **state) {
    (void)state;
    int64_t t;
    assert_int_equal(wr_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(wr_parse_rfc3339("2026-12-01T10:00:00Z", &t), 0);
    assert_int_equal(t, 1796119200);
    assert_int_equal(wr_parse_rfc3339("2026-12-01T10:00:00.250Z", &t), 0);
    assert_int_equal(t, 1796119200);
    assert_int_equal(wr_parse_rfc3339("2026-12-01T05:30:00-04:30", &t), 0);
    assert_int_equal(t, 1796119200);
    assert_int_equal(wr_parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
    const char *bad[] = {"2026-12-01",
                         "2026-12-01T10:00:00",
                         "2026-13-01T10:00:00Z",
                         "2026-02-30T10:00:00Z",
                         "2025-02-29T00:00:00Z",
                         "2026-12-01T24:00:00Z",
                         "2026-12-01T10:00:00+1:00",
                         "2026-12-01T10:00:00Zjunk",
                         "x026-12-01T10:00:00Z",
                         "2026-12-01T10:00:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(wr_parse_rfc3339(bad[i], &t), -1);
}

static void test_errors_name_file_line_and_key(void **state) {
    (void)state;
    refused("[gateway]\nlisen = 1.2.3.4:5\n",
            "t.ini:2: [gateway] lisen: unknown key (see config/waitroom.example.ini)");
    refused("\n\n[gatewy]\n",
            "t.ini:3: unknown section [gatewy] (expected gateway, origin, redis, admission or room NAME)");
    refused("[gateway]\nworkers = many\n", "t.ini:2: [gateway] workers: 'many' is not 'auto' or a number of "
                                           "workers in 0..256 (0 = one per core)");
    refused("[gateway]\nmax_header_bytes = 10\n",
            "t.ini:2: [gateway] max_header_bytes: '10' is not a whole number in 1024..1048576");
    refused("[gateway]\nmax_connections = -5\n",
            "t.ini:2: [gateway] max_connections: '-5' is not a whole number in 1..1000000");
    refused("[gateway]\nlisten = localhost\n",
            "t.ini:2: [gateway] listen: 'localhost' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)");
    refused(
        "[gateway]\nlisten = 1.2.3.4:99999\n",
        "t.ini:2: [gateway] listen: '1.2.3.4:99999' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)");
    refused("[gateway]\ntrust_forwarded = maybe\n",
            "t.ini:2: [gateway] trust_forwarded: 'maybe' is not true or false");
    refused("[gateway]\nlog_level = loud\n",
            "t.ini:2: [gateway] log_level: 'loud' is not one of debug, info, warn, error");
    refused("[gateway]\nlisten = 127.0.0.1:9\nadmin_listen = 127.0.0.1:9\n",
            "t.ini: [gateway] admin_listen: must differ from listen (127.0.0.1:9)");
    refused("[origin]\nurl = https://x\n", "t.ini:2: [origin] url: 'https://x' is not http://HOST[:PORT] "
                                           "(https and path prefixes are not supported)");
    refused(
        "[origin]\nurl = http://x/prefix\n",
        "t.ini:2: [origin] url: 'http://x/prefix' is not http://HOST[:PORT] (https and path prefixes are not "
        "supported)");
    refused("[redis]\nurl = http://x\n", "t.ini:2: [redis] url: 'http://x' is not redis://HOST[:PORT]");
    refused("[admission]\ntick_ms = 10\n",
            "t.ini:2: [admission] tick_ms: '10' is not a number of milliseconds in 50..5000");
    refused("[admission]\ntick_ms = 1000\nlease_ms = 2000\n",
            "t.ini: [admission] lease_ms: must be at least 4 x tick_ms (4000 ms)");
    refused("[admission]\nmetrics_listen = 8082\n",
            "t.ini:2: [admission] metrics_listen: '8082' is not HOST:PORT (e.g. 127.0.0.1:8082)");
    refused("[admission]\nleader = me\n",
            "t.ini:2: [admission] leader: unknown key (see config/waitroom.example.ini)");
    refused("key = 1\n", "t.ini:1: key: key outside of any section");
    refused("[gateway]\njust words\n", "t.ini:2: [gateway]: expected 'key = value'");
    refused("[gateway\n", "t.ini:1: bad section header (expected [name])");
}

static void test_room_errors(void **state) {
    (void)state;
    refused("[room a]\npaths = /a\n[room a]\npaths = /b\n",
            "t.ini:3: [room a]: room 'a' is defined twice (first on line 1)");
    refused("[room a b]\n",
            "t.ini:1: [room a b]: room name 'a b' may only hold letters, digits, '-' and '_'");
    refused("[room x]\nstate = open\n",
            "t.ini:1: [room x] paths: missing: a room must protect at least one path prefix");
    refused("[room x]\npaths = /a\nstate = scheduled\n",
            "t.ini:1: [room x] open_at: missing: state = scheduled needs an opening time");
    refused("[room x]\npaths = /a\nstate = shut\n",
            "t.ini:3: [room x] state: 'shut' is not one of open, scheduled, paused, sold_out, closed");
    refused("[room x]\npaths = checkout\n",
            "t.ini:2: [room x] paths: 'checkout' is not a valid path prefix (must start with '/')");
    refused("[room x]\npaths = /a%2fb\n",
            "t.ini:2: [room x] paths: '/a%2fb' is not a valid path prefix (must start with '/')");
    refused("[room x]\npaths = /a\nhosts = ex_ample.com\n",
            "t.ini:3: [room x] hosts: 'ex_ample.com' is not a valid host name");
    refused("[room x]\npaths = /a\nopen_at = tomorrow\n",
            "t.ini:3: [room x] open_at: 'tomorrow' is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z)");
    refused("[room x]\npaths = /a\nmode = smart\n",
            "t.ini:3: [room x] mode: 'smart' is not fixed or adaptive");
    refused("[room x]\npaths = /a\nmax_error_rate = 5\n",
            "t.ini:3: [room x] max_error_rate: '5' is not a fraction in 0..1 (0.01 = 1 %)");
    refused("[room x]\npaths = /a\nmode = adaptive\nmin_rate = 100\nmax_rate = 10\n",
            "t.ini:1: [room x] max_rate: is below min_rate");
    refused("[room x]\npaths = /a\nrate_per_minute = -1\n",
            "t.ini:3: [room x] rate_per_minute: '-1' is not a whole number in 0..10000000");
    refused("[room x]\npaths =\n", "t.ini:2: [room x] paths: empty list");
    refused("[room x]\npaths = /a\nclaim_window_s = 5\n",
            "t.ini:1: [room x] claim_window_s: must be at least 10 seconds");
    refused("[room x]\npaths = /a\nqueue_token_ttl_s = 60\n",
            "t.ini:1: [room x] queue_token_ttl_s: must be at least 3600 seconds (a place must outlive the "
            "queue)");
    refused("[room x]\npaths = /a\n[gateway]\ncase_sensitive_paths = true\n",
            "t.ini:4: [gateway] case_sensitive_paths: must come before the first [room] section");
}

static void test_file_errors(void **state) {
    (void)state;
    wr_config_t *c = wr_config_load("/nonexistent/waitroom.ini", err, sizeof err);
    assert_null(c);
    assert_string_equal(err, "/nonexistent/waitroom.ini: cannot open: No such file or directory");
    char path[] = "/tmp/wr-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "[room x]\npaths = /a\n", 20), 20);
    close(fd);
    c = wr_config_load(path, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->dir, "/tmp");
    assert_string_equal(c->key_file, "/tmp/waitroom.key");
    wr_config_free(c);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_every_section),
        cmocka_unit_test(test_rfc3339),     cmocka_unit_test(test_errors_name_file_line_and_key),
        cmocka_unit_test(test_room_errors), cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
