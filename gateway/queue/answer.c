/* What a buyer is told: the status JSON or the room's waiting page while they wait, a redirect (or JSON)
 * once admitted. Every number shown comes from the cached room view (the exact people ahead) or the
 * measured admission pace (labelled an estimate). */
#include "gateway/queue/internal.h"

#include "common/clock.h"
#include "gateway/queue/status.h"
#include "gateway/queue/waitpage.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *visible_state(const gw_room_t *r, bool fresh) {
    wr_room_state_t st = gw_room_state(r);
    if (st == WR_ROOM_SCHEDULED)
        return "scheduled"; /* the pre-queue needs no fresh view: nothing moves before the opening */
    if (!fresh)
        return "trouble";
    return st == WR_ROOM_OPEN ? "waiting" : wr_room_state_name(st);
}

/* The waiting answer: status JSON, or the room's waiting page (works without JavaScript). */
void gw_answer_waiting(gw_queue_t *q, gw_req_t *req, gw_room_t *r, const gw_reply_t *rp) {
    GW_ROOM_INC(r, polls);
    uint64_t now = uv_now(q->loop);
    bool fresh = gw_room_fresh(r, now);
    const char *state = visible_state(r, fresh);
    bool placed = rp->has_serial && fresh && strcmp(state, "scheduled") != 0;
    uint64_t ahead = placed ? gw_room_view_ahead(&r->view, rp->serial) : 0;
    gw_eta_estimate_t eta = gw_eta_estimate(&r->eta, now, ahead);
    bool has_eta = eta.known && placed && !strcmp(state, "waiting");
    bool likely_sold_out = placed && r->inventory_left >= 0 &&
                           (double)(ahead + 1) > (double)r->inventory_left * r->cfg->likely_sold_out_factor;
    if (rp->json) {
        gw_status_t s = {
            .room = r->cfg->name,
            .state = state,
            .has_position = placed,
            .ahead = ahead,
            .has_eta = has_eta,
            .eta_s = eta.p50_s,
            .eta_p90_s = eta.p90_s,
            .poll_after_ms = GW_POLL_AFTER_MS,
            .shuffle_commitment = r->commitment[0] ? r->commitment : NULL,
            .shuffle_seed = r->opened && r->seed[0] ? r->seed : NULL,
            .likely_sold_out = likely_sold_out,
            .prequeue_full = rp->prequeue_full && !strcmp(state, "scheduled"),
            .open_at = !strcmp(state, "scheduled") ? gw_room_open_at(r) : 0,
        };
        char body[1024];
        long n = gw_status_json(&s, body, sizeof body);
        if (n < 0) {
            gw_req_respond(req, 500, NULL, "text/plain", "status unavailable\n", 19);
            return;
        }
        body[n++] = '\n';
        gw_req_respond(req, 200, rp->set_cookie, "application/json", body, (size_t)n);
        return;
    }
    const gw_page_room_t *page = &q->pages[r->cfg - q->cfg->rooms];
    char proof[GW_LEAVE_PROOF_HEX + 1];
    if (rp->visitor)
        gw_tokens_leave_proof(q->keys, 0, rp->visitor, proof);
    gw_page_state_t ps = {
        .leave_proof = rp->visitor ? proof : NULL,
        .prequeue_full = rp->prequeue_full,
        .state = state,
        .has_position = placed,
        .ahead = ahead,
        .has_eta = has_eta,
        .eta_s = eta.p50_s,
        .eta_p90_s = eta.p90_s,
        .can_leave = placed || (!strcmp(state, "scheduled") && !rp->set_cookie),
        .open_at = gw_room_open_at(r),
        .now_s = wr_wall_ms() / 1000,
        .commitment = r->commitment[0] ? r->commitment : NULL,
        .seed = r->opened && r->seed[0] ? r->seed : NULL,
        .back = rp->back,
        .back_len = rp->back_len,
        .likely_sold_out = likely_sold_out,
    };
    /* the escaped values go to the request's scratch space, the literals stay in the template */
    size_t scratch_cap;
    char *scratch = gw_req_scratch(req, &scratch_cap);
    uv_buf_t bufs[GW_PAGE_MAX_SEGMENTS + 8];
    size_t total;
    long nb = gw_page_render(page, r->cfg, &ps, bufs + 1, sizeof bufs / sizeof bufs[0] - 1, scratch,
                             scratch_cap, &total);
    if (nb < 0) {
        gw_req_respond(req, 500, NULL, "text/plain", "page unavailable\n", 17);
        return;
    }
    gw_req_respondv(req, 200, rp->set_cookie, "text/html; charset=utf-8", bufs, (unsigned)nb + 1, total);
}

void gw_answer_admitted(gw_queue_t *q, gw_req_t *req, gw_room_t *r, bool json, const char *set_cookie,
                        const char *redirect, size_t redirect_len) {
    (void)q;
    if (json) {
        gw_status_t s = {.room = r->cfg->name,
                         .state = "admitted",
                         .has_position = true,
                         .ahead = 0,
                         .poll_after_ms = 0,
                         .admitted = true,
                         .redirect = redirect,
                         .redirect_len = redirect_len};
        char body[2048];
        long n = gw_status_json(&s, body, sizeof body);
        if (n < 0) {
            s.redirect = NULL;
            n = gw_status_json(&s, body, sizeof body);
        }
        body[n++] = '\n';
        gw_req_respond(req, 200, set_cookie, "application/json", body, (size_t)n);
        return;
    }
    /* back to the page the buyer asked for, now with a pass */
    /* room for the longest of all: two cookies with a token per room each (the pass, and the queue token
     * marked as having had its session) and a 1 KiB redirect */
    char hdrs[2 * (GW_JAR_BYTES + 256) + sizeof((gw_qreq_t *)0)->redirect + 32];
    int n = snprintf(hdrs, sizeof hdrs, "%sLocation: %.*s\r\n", set_cookie ? set_cookie : "",
                     (int)redirect_len, redirect);
    if (n < 0 || (size_t)n >= sizeof hdrs) /* never a cut head: the front page is always a safe way back */
        snprintf(hdrs, sizeof hdrs, "%sLocation: /\r\n",
                 set_cookie && strlen(set_cookie) < sizeof hdrs - 16 ? set_cookie : "");
    static const char body[] = "Your turn: taking you to the site.\n";
    gw_req_respond(req, 302, hdrs, "text/plain; charset=utf-8", body, sizeof body - 1);
}

/* Whether any Accept header names the media type (a plain substring test: q-values are not weighed). */
bool gw_accepts(const gw_hdrs_t *hs, const char *type) {
    size_t tl = strlen(type);
    for (size_t i = 0; i < hs->n; i++) {
        if (!gw_hdr_name_is(hs, i, "accept"))
            continue;
        const char *v = hs->base + hs->h[i].value_off;
        size_t n = hs->h[i].value_len;
        for (size_t k = 0; k + tl <= n; k++)
            if (strncasecmp(v + k, type, tl) == 0)
                return true;
    }
    return false;
}

void gw_answer_ended(gw_queue_t *q, gw_req_t *req, gw_room_t *r, bool json) {
    (void)q;
    gw_qreq_t *st = gw_qreq(req);
    GW_ROOM_INC(r, ended_passes);
    char hdr[GW_JAR_BYTES + 256];
    if (gw_tokens_cookie_without(WR_TOKEN_PASS, &st->pass_jar, hdr, sizeof hdr, wr_wall_ms() / 1000,
                                 st->secure) < 0)
        hdr[0] = '\0';
    if (json) {
        char body[256];
        int n = snprintf(body, sizeof body,
                         "{\"room\":\"%s\",\"state\":\"ended\",\"admitted\":false,\"position\":null,"
                         "\"message\":\"Your turn in the shop has ended.\"}\n",
                         r->cfg->name);
        gw_req_respond(req, 200, hdr[0] ? hdr : NULL, "application/json", body, (size_t)n);
        return;
    }
    static const char body[] =
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Your turn has ended</title>"
        "<body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em\">"
        "<h1>Your turn has ended</h1><p>Your time in the shop is over: the order was completed, or the "
        "session ran out. If you still want tickets, <a href=\"/\">start again</a>; you will get a new place "
        "in the queue.</p></body></html>\n";
    gw_req_respond(req, 200, hdr[0] ? hdr : NULL, "text/html; charset=utf-8", body, sizeof body - 1);
}
