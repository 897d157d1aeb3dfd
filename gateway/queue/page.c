/* The gateway's own endpoints under /__waitroom/ on the public port: GET /__waitroom/status (the status
 * JSON; without a valid token it tells the room's state and creates no place) and POST
 * /__waitroom/leave. Anything else under /__waitroom/ is a 404 here, never the origin's. The room is
 * named by ?room=NAME, or is the only room there is. */
#include "gateway/queue/internal.h"

#include "common/path.h"
#include "gateway/queue/status.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *gw_query_param(const char *query, size_t query_len, const char *name, size_t *value_len) {
    size_t nl = strlen(name), i = 0;
    if (query_len && query[0] == '?')
        i = 1;
    while (i < query_len) {
        size_t end = i;
        while (end < query_len && query[end] != '&')
            end++;
        if (end - i > nl && query[i + nl] == '=' && memcmp(query + i, name, nl) == 0) {
            *value_len = end - i - nl - 1;
            return query + i + nl + 1;
        }
        i = end + 1;
    }
    return NULL;
}

static void json_error(gw_req_t *req, int status, const char *msg) {
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
    gw_req_respond(req, status, NULL, "application/json", body, (size_t)n);
}

/* The state a visitor without a place is told. */
static const char *room_state(const wr_room_cfg_t *cfg, bool fresh) {
    if (cfg->state != WR_ROOM_OPEN)
        return wr_room_state_name(cfg->state); /* scheduled, paused, sold_out, closed: same words */
    return fresh ? "waiting" : "trouble";      /* trouble: our view of the queue is stale (Redis) */
}

/* The room a /__waitroom/ request is about: ?room=NAME, or the only room. NULL after answering. */
static const wr_room_cfg_t *pick_room(gw_queue_t *q, gw_req_t *req) {
    const wr_config_t *cfg = q->cfg;
    const char *query = req->query;
    size_t query_len = req->query_len;
    if (cfg->nrooms == 0 || !q->has_rooms) {
        json_error(req, 404, "this site has no waiting room");
        return NULL;
    }
    size_t vl;
    const char *v = gw_query_param(query, query_len, "room", &vl);
    if (v) {
        for (size_t i = 0; i < cfg->nrooms; i++)
            if (strlen(cfg->rooms[i].name) == vl && memcmp(cfg->rooms[i].name, v, vl) == 0)
                return &cfg->rooms[i];
        json_error(req, 404, "no such room");
        return NULL;
    }
    if (cfg->nrooms == 1)
        return &cfg->rooms[0];
    json_error(req, 400, "this site has several rooms: name one with ?room=NAME");
    return NULL;
}

/* Same-origin only: a form on another site must not make a buyer leave (RFC 6454 Origin). */
static bool same_origin(const gw_hdrs_t *hs);

/* Where a leave may come from. A browser says which site sent it: Sec-Fetch-Site (every current
 * browser) must be same-origin, and an Origin must name this host. A request with neither (an old
 * browser, a plain HTML form without scripts in one, or a tool) must carry the proof only the buyer's
 * own page knows (gw_tokens_leave_proof, in the page's leave URL): a third-party page cannot make a
 * buyer leave. Returns 1 allowed, 0 allowed with a proof, -1 refused. */
static int leave_origin(const gw_hdrs_t *hs) {
    long f = gw_hdr_find(hs, "sec-fetch-site");
    if (f >= 0 &&
        !(hs->h[f].value_len == 11 && strncasecmp(hs->base + hs->h[f].value_off, "same-origin", 11) == 0))
        return -1;
    long o = gw_hdr_find(hs, "origin");
    if (o < 0)
        return f >= 0 ? 1 : 0;
    return same_origin(hs) ? 1 : -1;
}

static bool same_origin(const gw_hdrs_t *hs) {
    long o = gw_hdr_find(hs, "origin"), h = gw_hdr_find(hs, "host");
    if (o < 0)
        return true;
    const char *ov = hs->base + hs->h[o].value_off;
    size_t ol = hs->h[o].value_len;
    const char *p = memchr(ov, ':', ol);
    if (!p || (size_t)(p - ov) + 3 > ol || p[1] != '/' || p[2] != '/' || h < 0)
        return false;
    const char *oh = p + 3;
    size_t ohl = ol - (size_t)(oh - ov);
    return ohl == hs->h[h].value_len && strncasecmp(oh, hs->base + hs->h[h].value_off, ohl) == 0;
}

static void status(gw_queue_t *q, gw_req_t *req) {
    const char *query = req->query;
    size_t query_len = req->query_len;
    const wr_room_cfg_t *room = pick_room(q, req);
    if (!room)
        return;
    /* ?return=URL (percent-encoded): where an admitted visitor goes next, checked like any redirect */
    char back[1024];
    size_t bl = 0, rl;
    const char *ret = gw_query_param(query, query_len, "return", &rl);
    for (size_t i = 0; ret && i < rl && bl < sizeof back; i++) {
        int hi, lo;
        if (ret[i] == '%' && i + 2 < rl && (hi = wr_hexval((unsigned char)ret[i + 1])) >= 0 &&
            (lo = wr_hexval((unsigned char)ret[i + 2])) >= 0) {
            back[bl++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            back[bl++] = ret[i] == '+' ? ' ' : ret[i];
        }
    }
    if (gw_gate_request(q, req, room, bl ? back : NULL, bl, true))
        return; /* the visitor's place, from the token, or the room's state without one */
    gw_room_t *r = gw_rooms_find(&q->rooms, room);
    bool fresh = r && gw_room_fresh(r, uv_now(q->loop));
    gw_status_t s = {
        .room = room->name,
        .state = room_state(room, fresh),
        .poll_after_ms = GW_POLL_AFTER_MS,
    };
    char body[1024];
    long n = gw_status_json(&s, body, sizeof body);
    if (n < 0) {
        json_error(req, 500, "status unavailable");
        return;
    }
    body[n++] = '\n';
    gw_req_respond(req, 200, NULL, "application/json", body, (size_t)n);
}

bool gw_page_handle(gw_queue_t *q, gw_req_t *req) {
    const char *path = req->path;
    size_t path_len = req->path_len;
    uint8_t method = req->method;
    int from;
    size_t pl = sizeof GW_PAGE_PREFIX - 1;
    if (path_len < pl || memcmp(path, GW_PAGE_PREFIX, pl) != 0)
        return false;
    const char *rest = path + pl;
    size_t rl = path_len - pl;
    if (rl == 6 && memcmp(rest, "status", 6) == 0) {
        if (method != HTTP_GET && method != HTTP_HEAD)
            json_error(req, 405, "use GET");
        else
            status(q, req);
        return true;
    }
    if (rl == 5 && memcmp(rest, "leave", 5) == 0) {
        if (method != HTTP_POST) {
            json_error(req, 405, "use POST");
        } else if ((from = leave_origin(&req->hs)) < 0) {
            json_error(req, 403, "cross-site request refused");
        } else {
            const wr_room_cfg_t *room = pick_room(q, req);
            if (room)
                gw_gate_leave(q, req, room, from == 0);
        }
        return true;
    }
    json_error(req, 404, "not found");
    return true;
}
