/* Waiting page templates: parsing (unknown placeholders and unclosed braces refused), rendering (every
 * value escaped, literals passed through, the script block carrying the sanitised return URL), and the
 * built-in page holding what a buyer needs with and without JavaScript. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/queue/waitpage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wr_room_cfg_t room = {.name = "sale", .open_at = 1796119200}; /* 2026-12-01T10:00:00Z */

/* Renders to one string (caller frees). */
static char *render(const gw_page_room_t *p, const gw_page_state_t *s) {
    uv_buf_t bufs[GW_PAGE_MAX_SEGMENTS + 8];
    static char scratch[8192];
    size_t total = 0;
    long n = gw_page_render(p, &room, s, bufs, sizeof bufs / sizeof bufs[0], scratch, sizeof scratch, &total);
    assert_true(n > 0);
    char *out = malloc(total + 1);
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        memcpy(out + o, bufs[i].base, bufs[i].len);
        o += bufs[i].len;
    }
    assert_int_equal(o, total);
    out[o] = '\0';
    return out;
}

static void test_parse_errors(void **state) {
    (void)state;
    gw_page_tpl_t t;
    char err[256];
    assert_int_equal(gw_page_tpl_parse(&t, "a\n{{position}} {{nope}}", 23, err, sizeof err), -1);
    assert_string_equal(err, "line 2: unknown placeholder {{nope}} (see gateway/waitpage.h)");
    assert_int_equal(gw_page_tpl_parse(&t, "x {{position", 12, err, sizeof err), -1);
    assert_string_equal(err, "line 1: '{{' without a closing '}}'");
    assert_int_equal(gw_page_tpl_parse(&t, "{ {{ahead}} }", 13, err, sizeof err), 0);
    assert_int_equal(t.nsegs, 3);
    gw_page_tpl_free(&t);
    char big[GW_PAGE_MAX_TEMPLATE_BYTES + 2];
    memset(big, 'x', sizeof big);
    assert_int_equal(gw_page_tpl_parse(&t, big, sizeof big, err, sizeof err), -1);
    /* too many pieces */
    char many[4096] = "";
    for (int i = 0; i < 60; i++)
        strcat(many, "a{{room}}");
    assert_int_equal(gw_page_tpl_parse(&t, many, strlen(many), err, sizeof err), -1);
}

static void test_values_are_escaped(void **state) {
    (void)state;
    gw_page_room_t p = {.script = "<S>", .script_len = 3};
    snprintf(p.leave_url, sizeof p.leave_url, "/__waitroom/leave?room=sale");
    const char *tpl =
        "<h1>{{headline}}</h1>[{{commitment}}]({{position}}/{{ahead}}){{script}}<{{leave_hidden}}>";
    char err[128];
    assert_int_equal(gw_page_tpl_parse(&p.tpl, tpl, strlen(tpl), err, sizeof err), 0);
    gw_page_state_t s = {.state = "waiting",
                         .has_position = true,
                         .ahead = 1,
                         .commitment = "<b>\"x\" & 'y'</b>",
                         .back = "/checkout?a=1",
                         .back_len = 13};
    char *out = render(&p, &s);
    assert_string_equal(out,
                        "<h1>You are in the queue</h1>[&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;]"
                        "(2/1 person)<script id=\"wr-data\" type=\"application/json\">{\"back\":\""
                        "/checkout?a=1<S><hidden>");
    free(out);
    gw_page_tpl_free(&p.tpl);
}

static void test_builtin_page(void **state) {
    (void)state;
    wr_config_t cfg = {.rooms = &room, .nrooms = 1};
    char err[256];
    gw_page_room_t *pages = gw_pages_create(&cfg, err, sizeof err);
    assert_non_null(pages);
    /* waiting with a place and an estimate */
    gw_page_state_t s = {.state = "waiting",
                         .has_position = true,
                         .ahead = 41,
                         .has_eta = true,
                         .eta_s = 600,
                         .eta_p90_s = 1500,
                         .can_leave = true,
                         .now_s = 1796119200,
                         .back = "/checkout",
                         .back_len = 9};
    char *out = render(&pages[0], &s);
    assert_non_null(strstr(out, "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
    assert_non_null(strstr(out, "aria-live=\"polite\""));
    assert_non_null(strstr(out, "id=\"wr-position\">42<"));
    assert_non_null(strstr(out, "41 people</span> ahead"));
    assert_non_null(strstr(out, "about 10 minutes, perhaps up to 25 minutes"));
    assert_non_null(strstr(out, "not a promise"));
    assert_non_null(strstr(out, "10:00:00 UTC"));
    assert_non_null(strstr(out, "action=\"/__waitroom/leave?room=sale\" id=\"wr-leave\" >"));
    assert_non_null(strstr(out, "\"status\":\"/__waitroom/status?room=sale\""));
    assert_null(strstr(out, "http://")); /* self-contained: nothing from elsewhere */
    assert_null(strstr(out, "https://"));
    assert_null(strstr(out, "{{"));
    free(out);
    /* paused: no wait shown as if it were moving */
    s.state = "paused";
    s.has_eta = false;
    out = render(&pages[0], &s);
    assert_non_null(strstr(out, "The sale is paused"));
    assert_non_null(strstr(out, "none while nobody is being let in"));
    free(out);
    /* scheduled: the opening time and the commitment, no place yet */
    gw_page_state_t sch = {.state = "scheduled",
                           .commitment = "ab12",
                           .now_s = 1,
                           .open_at = room.open_at,
                           .back = "/",
                           .back_len = 1};
    out = render(&pages[0], &sch);
    assert_non_null(strstr(out, "It opens at 2026-12-01 10:00 UTC."));
    assert_non_null(strstr(out, "id=\"wr-commitment\">ab12<"));
    assert_non_null(strstr(out, "id=\"wr-place\" hidden"));
    assert_non_null(strstr(out, "id=\"wr-seed-line\" hidden"));
    free(out);
    /* trouble: keep the tab open */
    gw_page_state_t tr = {.state = "trouble", .now_s = 1, .back = "/", .back_len = 1};
    out = render(&pages[0], &tr);
    assert_non_null(strstr(out, "Keep this tab open: you keep your place."));
    free(out);
    gw_pages_free(pages, 1);
}

static void test_small_buffers_fail_cleanly(void **state) {
    (void)state;
    wr_config_t cfg = {.rooms = &room, .nrooms = 1};
    char err[256];
    gw_page_room_t *pages = gw_pages_create(&cfg, err, sizeof err);
    gw_page_state_t s = {.state = "waiting", .has_position = true, .ahead = 3, .back = "/", .back_len = 1};
    uv_buf_t bufs[4];
    char scratch[16];
    size_t total;
    assert_int_equal(gw_page_render(&pages[0], &room, &s, bufs, 4, scratch, sizeof scratch, &total), -1);
    uv_buf_t many[GW_PAGE_MAX_SEGMENTS + 8];
    assert_int_equal(gw_page_render(&pages[0], &room, &s, many, GW_PAGE_MAX_SEGMENTS + 8, scratch, 8, &total),
                     -1);
    gw_pages_free(pages, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_values_are_escaped),
        cmocka_unit_test(test_builtin_page),
        cmocka_unit_test(test_small_buffers_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
