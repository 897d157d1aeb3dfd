/* The queue on the request path. See gate.h for the decisions; every number shown comes from the
 * cached room view (exact people ahead) or the measured admission pace (labelled an estimate). */
#include "gateway/gate.h"

#include "common/log.h"
#include "common/path.h"
#include "gateway/cookie.h"
#include "gateway/status.h"
#include "lua_scripts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_JOIN, OP_CLAIM, OP_LEAVE };

typedef struct gw_room_op {
    gw_conn_t *c; /* NULL once the client went away */
    gw_room_t *room;
    int kind;
    bool json;
    wr_token_t tok;
    char redirect[1024];
    size_t redirect_len;
} gw_room_op_t;

static void start_op(gw_conn_t *c, gw_room_op_t *op);

void gw_room_op_orphan(gw_room_op_t *op) {
    op->c = NULL;
}

static int64_t wall_ms(void) {
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- answers ---------------------------------------------------------------------------------- */

static const char *visible_state(const gw_room_t *r, bool fresh) {
    if (!fresh)
        return "trouble";
    switch (r->cfg->state) {
    case WR_ROOM_OPEN:
        return "waiting";
    default:
        return wr_room_state_name(r->cfg->state);
    }
}

static void human_wait(char *out, size_t cap, uint64_t s) {
    if (s < 90)
        snprintf(out, cap, "about a minute");
    else if (s < 90 * 60)
        snprintf(out, cap, "about %llu minutes", (unsigned long long)((s + 30) / 60));
    else
        snprintf(out, cap, "about %llu hours", (unsigned long long)((s + 1800) / 3600));
}

static void html_escape(char *out, size_t cap, const char *in, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 7 < cap; i++) {
        const char *rep = NULL;
        switch (in[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        }
        if (rep) {
            size_t rl = strlen(rep);
            memcpy(out + o, rep, rl);
            o += rl;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
}

/* The waiting answer: status JSON or a small page that refreshes itself (works without JavaScript). */
static void answer_waiting(gw_conn_t *c, gw_room_t *r, bool json, bool has_serial, uint64_t serial,
                           const char *set_cookie) {
    uint64_t now = uv_now(&c->w->loop);
    bool fresh = gw_room_fresh(r, now);
    uint64_t ahead = has_serial ? gw_room_view_ahead(&r->view, serial) : 0;
    gw_eta_estimate_t eta = gw_eta_estimate(&r->eta, now, ahead);
    gw_status_t s = {
        .room = r->cfg->name,
        .state = visible_state(r, fresh),
        .has_position = has_serial && fresh,
        .ahead = ahead,
        .has_eta = eta.known && has_serial && fresh && r->cfg->state == WR_ROOM_OPEN,
        .eta_s = eta.p50_s,
        .eta_p90_s = eta.p90_s,
        .poll_after_ms = 2000,
    };
    char body[4096];
    long n;
    if (json) {
        n = gw_status_json(&s, body, sizeof body);
        if (n > 0)
            body[n++] = '\n';
    } else {
        char where[256], wait[256] = "";
        if (!s.has_position)
            snprintf(
                where, sizeof where, "%s",
                fresh
                    ? "You are in the queue."
                    : "We are having trouble reaching the queue. Keep this page open: you keep your place.");
        else
            snprintf(
                where, sizeof where, "Your place in the queue: <strong>%llu</strong> (%llu %s ahead of you).",
                (unsigned long long)(ahead + 1), (unsigned long long)ahead, ahead == 1 ? "person" : "people");
        if (s.has_eta) {
            char a[48], b[48];
            human_wait(a, sizeof a, eta.p50_s);
            human_wait(b, sizeof b, eta.p90_s);
            snprintf(wait, sizeof wait, "<p>Estimated wait: %s, perhaps up to %s. This is an estimate.</p>",
                     a, b);
        } else if (r->cfg->state == WR_ROOM_PAUSED) {
            snprintf(wait, sizeof wait, "<p>The sale is paused for now. You keep your place.</p>");
        } else if (r->cfg->state == WR_ROOM_SOLD_OUT) {
            snprintf(wait, sizeof wait,
                     "<p>Tickets are sold out for now. You keep your place in case more are released.</p>");
        } else {
            snprintf(wait, sizeof wait, "<p>We cannot estimate the wait yet.</p>");
        }
        char room[160], leave[400] = "";
        html_escape(room, sizeof room, r->cfg->name, strlen(r->cfg->name));
        if (s.has_position)
            snprintf(
                leave, sizeof leave,
                "<form method=\"post\" action=\"/__waitroom/leave?room=%s\"><button>Leave the queue</button> "
                "(your place goes to the next person)</form>",
                room);
        n = snprintf(
            body, sizeof body,
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<meta http-equiv=\"refresh\" content=\"5\"><title>In the queue</title>"
            "<body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em\">"
            "<h1>You are in the queue: %s</h1><p aria-live=\"polite\">%s</p>%s"
            "<p>Keep this page open. It updates by itself, and you keep your place.</p>%s</body></html>\n",
            room, where, wait, leave);
        if (n >= (long)sizeof body)
            n = -1;
    }
    if (n < 0) {
        gw_conn_send_local(c, 500, NULL, "text/plain", "status unavailable\n", 19);
        return;
    }
    gw_conn_send_local(c, 200, set_cookie, json ? "application/json" : "text/html; charset=utf-8", body,
                       (size_t)n);
}

static void answer_admitted(gw_conn_t *c, gw_room_t *r, bool json, const char *set_cookie,
                            const char *redirect, size_t redirect_len) {
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
        gw_conn_send_local(c, 200, set_cookie, "application/json", body, (size_t)n);
        return;
    }
    /* back to the page the buyer asked for, now with a pass */
    char hdrs[2048];
    snprintf(hdrs, sizeof hdrs, "%sLocation: %.*s\r\n", set_cookie ? set_cookie : "", (int)redirect_len,
             redirect);
    static const char body[] = "Your turn: taking you to the site.\n";
    gw_conn_send_local(c, 302, hdrs, "text/plain; charset=utf-8", body, sizeof body - 1);
}

/* ---- tokens ----------------------------------------------------------------------------------- */

typedef struct {
    const wr_keyring_t *keys;
    const char *room;
    wr_token_type_t type;
    int64_t now_s;
    wr_token_t *out;
    gw_token_cache_t *cache;
} find_t;

static bool try_token(const char *v, size_t len, void *arg) {
    find_t *f = arg;
    if (len != WR_TOKEN_TEXT_BYTES)
        return false;
    gw_token_cache_t *slot = NULL;
    if (f->cache) {
        uint32_t h = 2166136261u; /* FNV-1a over the MAC's last characters */
        for (size_t i = len - 16; i < len; i++)
            h = (h ^ (uint8_t)v[i]) * 16777619u;
        slot = &f->cache[h % GW_TOKEN_CACHE_SLOTS];
        if (slot->room == f->room && slot->type == (uint8_t)f->type && memcmp(slot->text, v, len) == 0) {
            if (f->now_s >= slot->tok.expires_at)
                return false;
            *f->out = slot->tok;
            return true;
        }
    }
    if (wr_token_decode(f->keys, f->room, strlen(f->room), f->type, v, len, f->now_s, f->out) != 0)
        return false;
    if (slot) {
        slot->room = f->room;
        slot->type = (uint8_t)f->type;
        memcpy(slot->text, v, len);
        slot->tok = *f->out;
    }
    return true;
}

static bool find_token(gw_conn_t *c, const gw_hdrs_t *hs, const char *room, wr_token_type_t type,
                       int64_t now_s, wr_token_t *out) {
    find_t f = {c->w->keys, room, type, now_s, out, c->w->token_cache};
    return gw_cookie_each(hs, type == WR_TOKEN_QUEUE ? "wr_q" : "wr_p", try_token, &f);
}

static int cookie_for(gw_conn_t *c, const char *room, wr_token_t *t, char *hdr, size_t cap, int64_t now_s) {
    char text[WR_TOKEN_TEXT_BYTES + 1];
    if (wr_token_encode(c->w->keys, room, strlen(room), t, text, sizeof text) < 0)
        return -1;
    return gw_cookie_set(hdr, cap, t->type == WR_TOKEN_QUEUE ? "wr_q" : "wr_p", text, WR_TOKEN_TEXT_BYTES,
                         t->expires_at - now_s, false) < 0
               ? -1
               : 0;
}

/* ---- Redis calls -------------------------------------------------------------------------------- */

static void visitor_hex(const wr_token_t *t, char out[33]) {
    sodium_bin2hex(out, 33, t->visitor, sizeof t->visitor);
}

/* The connection an answered op was for, detached from the op; NULL (and the op freed) if the client
 * went away meanwhile. */
static gw_conn_t *op_conn(gw_room_op_t *op) {
    gw_conn_t *c = op->c;
    if (!c) {
        free(op);
        return NULL;
    }
    c->op = NULL;
    return c;
}

static void on_join(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_op_t *op = arg;
    gw_conn_t *c = op_conn(op);
    if (!c)
        return;
    if (op->tok.serial) { /* re-registered at the serial of the visitor's token: same place, same cookie */
        bool ok = rep && rep->type == REDIS_REPLY_INTEGER && (uint64_t)rep->integer == op->tok.serial;
        if (ok && op->tok.serial > op->room->view.seq)
            op->room->view.seq = op->tok.serial;
        answer_waiting(c, op->room, op->json, true, op->tok.serial, NULL);
        free(op);
        return;
    }
    if (!rep || rep->type != REDIS_REPLY_INTEGER || rep->integer <= 0) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            WR_WARN("join refused", "room=%s error=\"%.200s\"", op->room->cfg->name, rep->str);
        answer_waiting(c, op->room, op->json, false, 0, NULL); /* trouble: no place yet, try again */
        free(op);
        return;
    }
    int64_t now_s = wall_ms() / 1000;
    op->tok.serial = (uint64_t)rep->integer;
    op->tok.issued_at = now_s;
    op->tok.expires_at = now_s + op->room->cfg->queue_token_ttl_s;
    char hdr[512];
    if (cookie_for(c, op->room->cfg->name, &op->tok, hdr, sizeof hdr, now_s) < 0) {
        answer_waiting(c, op->room, op->json, false, 0, NULL);
        free(op);
        return;
    }
    gw_room_heartbeat(op->room, op->tok.serial);
    answer_waiting(c, op->room, op->json, true, op->tok.serial, hdr);
    free(op);
}

static void on_claim(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_op_t *op = arg;
    gw_conn_t *c = op_conn(op);
    if (!c)
        return;
    long long st = -1, expires_ms = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[1]->type == REDIS_REPLY_INTEGER) {
        st = rep->element[0]->integer;
        expires_ms = rep->element[1]->integer;
    }
    if (st == 1 || st == 4) { /* claimed now, or already holds a session (another tab) */
        int64_t now_s = wall_ms() / 1000;
        wr_token_t pass = op->tok;
        pass.type = WR_TOKEN_PASS;
        pass.issued_at = now_s;
        pass.expires_at = expires_ms / 1000;
        pass.max_until = now_s + op->room->cfg->session_max_s;
        if (pass.max_until < pass.expires_at)
            pass.max_until = pass.expires_at;
        char hdr[512];
        if (pass.expires_at > now_s &&
            cookie_for(c, op->room->cfg->name, &pass, hdr, sizeof hdr, now_s) == 0) {
            answer_admitted(c, op->room, op->json, hdr, op->redirect, op->redirect_len);
            free(op);
            return;
        }
    }
    if (st == 5) { /* this place had its session and it is over: a new place at the back */
        memset(&op->tok, 0, sizeof op->tok);
        op->tok.type = WR_TOKEN_QUEUE;
        randombytes_buf(op->tok.visitor, sizeof op->tok.visitor);
        op->kind = OP_JOIN;
        start_op(c, op);
        return;
    }
    /* 2: skipped earlier, now first in the rejoin lane; 3: not yet; errors: trouble. The place stays. */
    answer_waiting(c, op->room, op->json, st == 2 || st == 3,
                   st == 2 ? op->room->view.boundary : op->tok.serial, NULL);
    free(op);
}

static void on_leave(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_op_t *op = arg;
    gw_conn_t *c = op_conn(op);
    if (!c)
        return;
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        static const char body[] = "{\"left\":false,\"error\":\"the queue is unreachable; try again\"}\n";
        gw_conn_send_local(c, 503, NULL, "application/json", body, sizeof body - 1);
    } else {
        gw_room_view_add_left(&op->room->view, op->tok.serial);
        char hdr[256];
        gw_cookie_set(hdr, sizeof hdr, "wr_q", "", 0, 0, false);
        if (op->json) {
            static const char body[] = "{\"left\":true}\n";
            gw_conn_send_local(c, 200, hdr, "application/json", body, sizeof body - 1);
        } else {
            static const char body[] =
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>You left the queue</title>"
                "<body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em\">"
                "<h1>You left the queue</h1><p>Your place went to the next person. Thank "
                "you.</p></body></html>\n";
            gw_conn_send_local(c, 200, hdr, "text/html; charset=utf-8", body, sizeof body - 1);
        }
    }
    free(op);
}

/* EVALSHA of one of the room scripts with C-string arguments (keys first). */
static void eval(gw_room_t *r, wr_lua_script_t script, wr_redis_reply_cb cb, void *arg, int nkeys, int argc,
                 const char **argv) {
    size_t lens[16];
    for (int i = 0; i < argc && i < 16; i++)
        lens[i] = strlen(argv[i]);
    wr_redis_eval(&r->owner->redis, script, cb, arg, nkeys, argc, argv, lens);
}

static void start_op(gw_conn_t *c, gw_room_op_t *op) {
    gw_room_t *r = op->room;
    char vhex[33], serial[24], now[24], session[24], claim[24], gwid[16];
    visitor_hex(&op->tok, vhex);
    snprintf(now, sizeof now, "%lld", (long long)wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", c->w->id);
    op->c = c;
    c->op = op;
    c->phase = GW_C_FORWARD;
    c->local = 1;
    gw_conn_arm(c, c->w->cfg->send_timeout_ms); /* a Redis that never answers must not hold the client */
    if (op->kind == OP_LEAVE) {
        snprintf(serial, sizeof serial, "%llu", (unsigned long long)op->tok.serial);
        const char *argv[] = {r->key_boundary, r->key_left, r->key_log, serial, vhex, now, gwid,
                              r->log_maxlen};
        eval(r, WR_LUA_LEAVE, on_leave, op, 3, 8, argv);
    } else if (op->kind == OP_JOIN) {
        snprintf(serial, sizeof serial, "%llu", (unsigned long long)op->tok.serial); /* 0: a new place */
        const char *argv[] = {r->key_seq, r->key_seen, r->key_log, vhex, now, gwid, serial, r->log_maxlen};
        eval(r, WR_LUA_JOIN, on_join, op, 3, 8, argv);
    } else {
        snprintf(serial, sizeof serial, "%llu", (unsigned long long)op->tok.serial);
        snprintf(session, sizeof session, "%lld", (long long)r->cfg->session_ttl_s * 1000);
        snprintf(claim, sizeof claim, "%lld", (long long)r->cfg->claim_window_s * 1000);
        const char *argv[] = {r->key_boundary, r->key_admitted, r->key_active, r->key_rejoin,
                              r->key_log,      r->key_ended,    serial,        vhex,
                              now,             session,         claim,         gwid,
                              r->log_maxlen};
        eval(r, WR_LUA_CLAIM, on_claim, op, 6, 13, argv);
    }
}

/* ---- the decision ------------------------------------------------------------------------------- */

/* Whether any Accept header names the media type (a plain substring test: q-values are not weighed). */
static bool accepts(const gw_hdrs_t *hs, const char *type) {
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

/* A Redis call on behalf of this request; NULL if out of memory. */
static gw_room_op_t *new_op(gw_room_t *r, int kind, bool json, const wr_token_t *tok) {
    gw_room_op_t *op = calloc(1, sizeof *op);
    if (op) {
        op->room = r;
        op->kind = kind;
        op->json = json;
        if (tok)
            op->tok = *tok;
    }
    return op;
}

bool gw_gate_request(gw_conn_t *c, const wr_room_cfg_t *cfg, const gw_hdrs_t *hs, const char *target,
                     size_t target_len, bool status_endpoint) {
    gw_room_t *r = c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    if (!r || cfg->state == WR_ROOM_CLOSED)
        return false; /* a closed room lets traffic through */
    int64_t now_s = wall_ms() / 1000;
    bool json = status_endpoint || accepts(hs, "application/json");
    wr_token_t tok;
    if (!status_endpoint && find_token(c, hs, cfg->name, WR_TOKEN_PASS, now_s, &tok)) {
        c->pass_room = cfg; /* the origin's answer may end, renew or extend the session */
        c->pass = tok;
        size_t pl = 0;
        while (pl < target_len && target[pl] != '?')
            pl++;
        for (size_t i = 0; i < cfg->ncompletion; i++)
            if (wr_path_has_prefix(target, pl, cfg->completion[i], strlen(cfg->completion[i]),
                                   c->w->cfg->case_sensitive_paths))
                c->pass_completion = 1;
        return false; /* admitted: no Redis, straight to the origin */
    }
    bool fresh = gw_room_fresh(r, uv_now(&c->w->loop));
    if (find_token(c, hs, cfg->name, WR_TOKEN_QUEUE, now_s, &tok) &&
        !gw_room_view_has_left(&r->view, tok.serial)) {
        if (fresh && tok.serial > r->view.seq && r->owner->redis.connected) {
            /* Redis does not know this place (its data was lost): register it again at this serial */
            gw_room_op_t *op = new_op(r, OP_JOIN, json, &tok);
            if (op) {
                start_op(c, op);
                return true;
            }
        }
        gw_room_heartbeat(r, tok.serial);
        if (!fresh || tok.serial > r->view.boundary || cfg->state != WR_ROOM_OPEN) {
            answer_waiting(c, r, json, true, tok.serial, NULL);
            return true;
        }
        gw_room_op_t *op = new_op(r, OP_CLAIM, json, &tok);
        if (!op) {
            answer_waiting(c, r, json, true, tok.serial, NULL);
            return true;
        }
        long rl = status_endpoint
                      ? -1
                      : gw_redirect_sanitize(target, target_len, op->redirect, sizeof op->redirect);
        if (rl < 0) {
            memcpy(op->redirect, "/", 2);
            rl = 1;
        }
        op->redirect_len = (size_t)rl;
        start_op(c, op);
        return true;
    }
    if (status_endpoint || !r->owner->redis.connected) {
        answer_waiting(c, r, json, false, 0, NULL); /* no place is made by a status poll, nor without Redis */
        return true;
    }
    gw_room_op_t *op = new_op(r, OP_JOIN, json, NULL);
    if (!op) {
        answer_waiting(c, r, json, false, 0, NULL);
        return true;
    }
    op->tok.type = WR_TOKEN_QUEUE;
    randombytes_buf(op->tok.visitor, sizeof op->tok.visitor);
    start_op(c, op);
    return true;
}

void gw_gate_leave(gw_conn_t *c, const wr_room_cfg_t *cfg, const gw_hdrs_t *hs) {
    gw_room_t *r = c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    wr_token_t tok;
    if (!r || !find_token(c, hs, cfg->name, WR_TOKEN_QUEUE, wall_ms() / 1000, &tok)) {
        static const char body[] = "{\"left\":false,\"error\":\"no place in this queue\"}\n";
        gw_conn_send_local(c, 400, NULL, "application/json", body, sizeof body - 1);
        return;
    }
    gw_room_op_t *op =
        new_op(r, OP_LEAVE, accepts(hs, "application/json") || !accepts(hs, "text/html"), &tok);
    if (!op) {
        gw_conn_send_local(c, 503, NULL, "application/json", "{\"left\":false}\n", 15);
        return;
    }
    start_op(c, op);
}

static void on_fire_and_forget(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        WR_WARN("session update refused", "what=%s error=\"%.200s\"", (const char *)arg, rep->str);
}

/* release.lua or extend.lua for the pass this request carried; nobody waits for the answer. */
static void session_call(gw_conn_t *c, gw_room_t *r, const char *reason, int64_t new_end_ms, int status) {
    char vhex[33], serial[24], now[24], gwid[16], end[24], st[8];
    visitor_hex(&c->pass, vhex);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)c->pass.serial);
    snprintf(now, sizeof now, "%lld", (long long)wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", c->w->id);
    if (new_end_ms == 0) {
        const char *argv[] = {r->key_active, r->key_log, r->key_ended, serial, vhex, now, reason, gwid,
                              r->log_maxlen};
        eval(r, WR_LUA_RELEASE, on_fire_and_forget, "release", 3, 9, argv);
        return;
    }
    snprintf(end, sizeof end, "%lld", (long long)new_end_ms);
    snprintf(st, sizeof st, "%d", status);
    const char *argv[] = {r->key_active, r->key_log, serial, vhex, now, end, reason, gwid, r->log_maxlen, st};
    eval(r, WR_LUA_EXTEND, on_fire_and_forget, "extend", 2, 10, argv);
}

const char *gw_gate_pass_answered(gw_conn_t *c, int status, bool release) {
    const wr_room_cfg_t *cfg = c->pass_room;
    gw_room_t *r = cfg && c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    if (!r)
        return NULL;
    int64_t now_s = wall_ms() / 1000;
    wr_token_t *p = &c->pass;
    if (release || (c->pass_completion && status >= 200 && status < 400)) {
        session_call(c, r, release ? "released" : "completed", 0, 0);
        c->pass_room = NULL; /* once per request */
        return "Set-Cookie: wr_p=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\r\n";
    }
    int64_t end;
    const char *why;
    if (status >= 500) {
        if (cfg->grace_s <= 0)
            return NULL;
        /* the time the site failed the buyer is given back, but a run of failures cannot stretch the
         * session further than a whole fresh session plus the grace from now */
        end = p->expires_at + cfg->grace_s;
        if (end > now_s + cfg->session_ttl_s + cfg->grace_s)
            end = now_s + cfg->session_ttl_s + cfg->grace_s;
        if (end <= p->expires_at) {
            session_call(c, r, "grace", p->expires_at * 1000, status); /* still logged for support */
            return NULL;
        }
        if (p->max_until < end)
            p->max_until = end;
        why = "grace";
    } else {
        /* renewal on activity: in the second half of the session, up to session_max_s after the claim */
        if (p->expires_at - now_s > cfg->session_ttl_s / 2 || p->expires_at >= p->max_until)
            return NULL;
        end = now_s + cfg->session_ttl_s;
        if (end > p->max_until)
            end = p->max_until;
        if (end <= p->expires_at)
            return NULL;
        why = "extended";
    }
    p->expires_at = end;
    p->issued_at = now_s;
    if (cookie_for(c, cfg->name, p, c->w->pass_hdr, sizeof c->w->pass_hdr, now_s) < 0)
        return NULL;
    session_call(c, r, why, end * 1000, status >= 500 ? status : 0);
    return c->w->pass_hdr;
}
