/* The queue on the request path. See gate.h for the decisions; every number shown comes from the
 * cached room view (exact people ahead) or the measured admission pace (labelled an estimate). */
#include "gateway/gate.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/path.h"
#include "gateway/cookie.h"
#include "gateway/page.h"
#include "gateway/status.h"
#include "gateway/waitpage.h"
#include "lua_scripts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_JOIN, OP_CLAIM, OP_LEAVE, OP_PREJOIN, OP_PRELEAVE };

typedef struct gw_room_op {
    gw_conn_t *c; /* NULL once the client went away */
    gw_room_t *room;
    int kind;
    bool json;
    bool had_token;        /* the visitor came with a queue token (op->tok holds it) */
    gw_jar_t jar_q, jar_p; /* the other rooms' tokens in the visitor's cookies, kept when ours is set */
    wr_token_t tok;
    char redirect[1024]; /* the sanitised URL the buyer asked for */
    size_t redirect_len;
} gw_room_op_t;

static void start_op(gw_conn_t *c, gw_room_op_t *op);

void gw_room_op_orphan(gw_room_op_t *op) {
    op->c = NULL;
}

/* ---- answers ---------------------------------------------------------------------------------- */

/* How a waiting answer goes out. */
typedef struct {
    bool json;
    bool has_serial; /* the visitor holds a place with this serial (else: none yet, or provisional) */
    uint64_t serial;
    const char *set_cookie;
    const char *back; /* the sanitised URL the buyer asked for */
    size_t back_len;
} reply_t;

static const char *visible_state(const gw_room_t *r, bool fresh) {
    wr_room_state_t st = gw_room_state(r);
    if (st == WR_ROOM_SCHEDULED)
        return "scheduled"; /* the pre-queue needs no fresh view: nothing moves before the opening */
    if (!fresh)
        return "trouble";
    return st == WR_ROOM_OPEN ? "waiting" : wr_room_state_name(st);
}

/* The waiting answer: status JSON, or the room's waiting page (works without JavaScript). */
static void answer_waiting(gw_conn_t *c, gw_room_t *r, const reply_t *rp) {
    GW_ROOM_INC(r, polls);
    uint64_t now = uv_now(&c->w->loop);
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
            .open_at = !strcmp(state, "scheduled") ? gw_room_open_at(r) : 0,
        };
        char body[1024];
        long n = gw_status_json(&s, body, sizeof body);
        if (n < 0) {
            gw_conn_send_local(c, 500, NULL, "text/plain", "status unavailable\n", 19);
            return;
        }
        body[n++] = '\n';
        gw_conn_send_local(c, 200, rp->set_cookie, "application/json", body, (size_t)n);
        return;
    }
    const gw_page_room_t *page = &c->w->pages[r->cfg - c->w->cfg->rooms];
    gw_page_state_t ps = {
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
    /* the head goes first in the block's out buffer, the escaped values in its second half */
    gw_cblock_t *b = c->blk;
    size_t head_cap = b->out_cap / 2;
    uv_buf_t bufs[GW_PAGE_MAX_SEGMENTS + 8];
    size_t total;
    long nb = gw_page_render(page, r->cfg, &ps, bufs + 1, sizeof bufs / sizeof bufs[0] - 1, b->out + head_cap,
                             b->out_cap - head_cap, &total);
    if (nb < 0) {
        gw_conn_send_local(c, 500, NULL, "text/plain", "page unavailable\n", 17);
        return;
    }
    gw_conn_send_localv(c, 200, rp->set_cookie, "text/html; charset=utf-8", bufs, (unsigned)nb + 1, total,
                        head_cap);
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
    int tries;  /* pieces checked: a hostile cookie of many pieces costs at most GW_JAR_TOKENS * 2 MACs */
    int reason; /* why the first rejected piece was no token (WR_TOKEN_*), another room's aside; 0 = none */
} find_t;

static bool try_token(const char *v, size_t len, void *arg) {
    find_t *f = arg;
    if (len != WR_TOKEN_TEXT_BYTES || ++f->tries > GW_JAR_TOKENS * 2)
        return false;
    gw_token_cache_t *slot = NULL;
    if (f->cache) {
        uint32_t h = 2166136261u; /* FNV-1a over the MAC's last characters */
        for (size_t i = len - 16; i < len; i++)
            h = (h ^ (uint8_t)v[i]) * 16777619u;
        slot = &f->cache[h % GW_TOKEN_CACHE_SLOTS];
        if (slot->room == f->room && slot->type == (uint8_t)f->type && memcmp(slot->text, v, len) == 0) {
            if (f->now_s >= slot->tok.expires_at) {
                if (!f->reason)
                    f->reason = WR_TOKEN_EXPIRED;
                return false;
            }
            *f->out = slot->tok;
            return true;
        }
    }
    int rc = wr_token_decode(f->keys, f->room, strlen(f->room), f->type, v, len, f->now_s, f->out);
    if (rc != 0) {
        if (!f->reason && rc != WR_TOKEN_OTHER_ROOM)
            f->reason = rc;
        return false;
    }
    if (slot) {
        slot->room = f->room;
        slot->type = (uint8_t)f->type;
        memcpy(slot->text, v, len);
        slot->tok = *f->out;
    }
    return true;
}

/* A cookie value is one token, or several (one per room) joined by '.': each is tried. */
/* Calls fn for each '.'-separated piece of a cookie value (one token per room), until it returns true. */
static bool each_piece(const char *v, size_t len, bool (*fn)(const char *, size_t, void *), void *arg) {
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && v[end] != '.')
            end++;
        if (fn(v + i, end - i, arg))
            return true;
        i = end + 1;
    }
    return false;
}

static bool try_tokens(const char *v, size_t len, void *arg) {
    return each_piece(v, len, try_token, arg);
}

static bool find_token(gw_conn_t *c, const gw_hdrs_t *hs, const char *room, wr_token_type_t type,
                       int64_t now_s, wr_token_t *out) {
    find_t f = {c->w->keys, room, type, now_s, out, c->w->token_cache, 0, 0};
    bool ok = gw_cookie_each(hs, type == WR_TOKEN_QUEUE ? "wr_q" : "wr_p", try_tokens, &f);
    c->w->last_token_reason = ok ? 0 : f.reason;
    return ok;
}

static const char *cookie_name(wr_token_type_t type) {
    return type == WR_TOKEN_QUEUE ? "wr_q" : "wr_p";
}

typedef struct {
    gw_conn_t *c;
    const wr_room_cfg_t *room; /* the room whose token is being set: its old one is not kept */
    wr_token_type_t type;
    int64_t now_s;
    gw_jar_t *jar;
    uint8_t taken[GW_JAR_TOKENS]; /* room indexes already in the jar, +1 */
    int tries;                    /* pieces looked at: bounded like find_t's */
} collect_t;

static bool collect_piece(const char *v, size_t len, void *arg) {
    collect_t *k = arg;
    const wr_config_t *cfg = k->c->w->cfg;
    if (len != WR_TOKEN_TEXT_BYTES || k->jar->len + len + 1 > sizeof k->jar->text ||
        ++k->tries > GW_JAR_TOKENS * 2)
        return false;
    for (size_t i = 0; i < cfg->nrooms && i < 255; i++) {
        const wr_room_cfg_t *r = &cfg->rooms[i];
        if (r == k->room)
            continue;
        wr_token_t t;
        if (wr_token_decode(k->c->w->keys, r->name, strlen(r->name), k->type, v, len, k->now_s, &t) != 0)
            continue;
        size_t n = k->jar->len / (WR_TOKEN_TEXT_BYTES + 1);
        for (size_t j = 0; j < n; j++)
            if (k->taken[j] == i + 1)
                return false; /* this room's token is in already: keep the first */
        if (k->jar->len)
            k->jar->text[k->jar->len++] = '.';
        memcpy(k->jar->text + k->jar->len, v, len);
        k->jar->len = (uint16_t)(k->jar->len + len);
        k->taken[n] = (uint8_t)(i + 1);
        if (t.expires_at > k->jar->max_expires)
            k->jar->max_expires = t.expires_at;
        return false;
    }
    return false;
}

static bool collect_value(const char *v, size_t len, void *arg) {
    return each_piece(v, len, collect_piece, arg);
}

/* The other rooms' valid tokens in the request's cookie of this type (none in a one-room deployment). */
static void jar_collect(gw_conn_t *c, const gw_hdrs_t *hs, wr_token_type_t type, const wr_room_cfg_t *room,
                        int64_t now_s, gw_jar_t *jar) {
    jar->len = 0;
    jar->max_expires = 0;
    if (c->w->cfg->nrooms < 2)
        return;
    collect_t k = {.c = c, .room = room, .type = type, .now_s = now_s, .jar = jar};
    gw_cookie_each(hs, cookie_name(type), collect_value, &k);
}

/* Set-Cookie for a token, beside the other rooms' ones (jar may be NULL). */
static int cookie_for(gw_conn_t *c, const char *room, wr_token_t *t, const gw_jar_t *jar, char *hdr,
                      size_t cap, int64_t now_s) {
    char text[WR_TOKEN_TEXT_BYTES + 1 + GW_JAR_BYTES];
    if (wr_token_encode(c->w->keys, room, strlen(room), t, text, WR_TOKEN_TEXT_BYTES + 1) < 0)
        return -1;
    size_t len = WR_TOKEN_TEXT_BYTES;
    int64_t until = t->expires_at;
    if (jar && jar->len) {
        text[len++] = '.';
        memcpy(text + len, jar->text, jar->len);
        len += jar->len;
        if (jar->max_expires > until)
            until = jar->max_expires;
    }
    return gw_cookie_set(hdr, cap, cookie_name(t->type), text, len, until - now_s, false) < 0 ? -1 : 0;
}

/* Set-Cookie taking this room's token out: the other rooms' stay; none left deletes the cookie. */
static int cookie_without(wr_token_type_t type, const gw_jar_t *jar, char *hdr, size_t cap, int64_t now_s) {
    if (!jar || !jar->len)
        return gw_cookie_set(hdr, cap, cookie_name(type), "", 0, 0, false) < 0 ? -1 : 0;
    return gw_cookie_set(hdr, cap, cookie_name(type), jar->text, jar->len, jar->max_expires - now_s, false) <
                   0
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

/* A waiting answer for an op: its visitor, its page. */
static void op_waiting(gw_conn_t *c, gw_room_op_t *op, bool has_serial, uint64_t serial,
                       const char *set_cookie) {
    reply_t rp = {op->json, has_serial, serial, set_cookie, op->redirect, op->redirect_len};
    answer_waiting(c, op->room, &rp);
}

/* A token without a serial yet: the visitor has a provisional place (Redis unreachable) or is in the
 * pre-queue. It gets a serial when it next shows up with Redis back, or at the opening. */
static int provisional_cookie(gw_conn_t *c, gw_room_t *r, wr_token_t *t, const gw_jar_t *jar, char *hdr,
                              size_t cap) {
    int64_t now_s = wr_wall_ms() / 1000;
    t->type = WR_TOKEN_QUEUE;
    t->serial = 0;
    if (t->max_until != 1)
        t->max_until = 0;
    t->issued_at = now_s;
    t->expires_at = now_s + r->cfg->queue_token_ttl_s;
    return cookie_for(c, r->cfg->name, t, jar, hdr, cap, now_s);
}

static void on_join(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_op_t *op = arg;
    gw_conn_t *c = op_conn(op);
    if (!c)
        return;
    char hdr[GW_JAR_BYTES + 256];
    if (op->tok.serial) { /* re-registered at the serial of the visitor's token: same place, same cookie */
        bool ok = rep && rep->type == REDIS_REPLY_INTEGER && (uint64_t)rep->integer == op->tok.serial;
        if (ok && op->tok.serial > op->room->view.seq)
            op->room->view.seq = op->tok.serial;
        op_waiting(c, op, true, op->tok.serial, NULL);
        free(op);
        return;
    }
    if (!rep || rep->type != REDIS_REPLY_INTEGER || rep->integer <= 0) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            WR_WARN("join refused", "room=%s error=\"%.200s\"", op->room->cfg->name, rep->str);
        /* no serial now: the visitor keeps (or gets) a provisional place and joins on their next poll */
        bool had = op->had_token;
        op_waiting(
            c, op, false, 0,
            !had && provisional_cookie(c, op->room, &op->tok, &op->jar_q, hdr, sizeof hdr) == 0 ? hdr : NULL);
        free(op);
        return;
    }
    int64_t now_s = wr_wall_ms() / 1000;
    op->tok.serial = (uint64_t)rep->integer;
    op->tok.issued_at = now_s;
    op->tok.expires_at = now_s + op->room->cfg->queue_token_ttl_s;
    if (cookie_for(c, op->room->cfg->name, &op->tok, &op->jar_q, hdr, sizeof hdr, now_s) < 0) {
        op_waiting(c, op, false, 0, NULL);
        free(op);
        return;
    }
    gw_room_heartbeat(op->room, op->tok.serial);
    GW_ROOM_INC(op->room, joins);
    if (op->tok.serial > op->room->view.seq)
        op->room->view.seq = op->tok.serial; /* our own join counts before the next refresh */
    op_waiting(c, op, true, op->tok.serial, hdr);
    free(op);
}

static void on_prejoin(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_op_t *op = arg;
    gw_conn_t *c = op_conn(op);
    if (!c)
        return;
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -3;
    if (v == -1) { /* another gateway opened the room a moment ago: an ordinary join */
        op->room->opened = true;
        op->kind = OP_JOIN;
        start_op(c, op);
        return;
    }
    if (v == -2)
        op->room->schedule_checked_ms = 0; /* Redis lost the seed: a new one is drawn at the next tick */
    /* In the pre-queue (max_until = 1 marks it), or not yet (Redis trouble): then a token without that
     * mark, and the visitor is pre-queued on their next request. */
    op->tok.max_until = v == 0 ? 1 : 0;
    char hdr[GW_JAR_BYTES + 256];
    bool set = v == 0 || !op->had_token;
    op_waiting(c, op, false, 0,
               set && provisional_cookie(c, op->room, &op->tok, &op->jar_q, hdr, sizeof hdr) == 0 ? hdr
                                                                                                  : NULL);
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
        int64_t now_s = wr_wall_ms() / 1000;
        wr_token_t pass = op->tok;
        pass.type = WR_TOKEN_PASS;
        pass.issued_at = now_s;
        pass.expires_at = expires_ms / 1000;
        pass.max_until = now_s + op->room->cfg->session_max_s;
        if (pass.max_until < pass.expires_at)
            pass.max_until = pass.expires_at;
        char hdr[GW_JAR_BYTES + 256];
        if (st == 1)
            GW_ROOM_INC(op->room, claims);
        if (pass.expires_at > now_s &&
            cookie_for(c, op->room->cfg->name, &pass, &op->jar_p, hdr, sizeof hdr, now_s) == 0) {
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
        op->had_token = false;
        start_op(c, op);
        return;
    }
    /* 2: skipped earlier, now first in the rejoin lane; 3: not yet; errors: trouble. The place stays. */
    op_waiting(c, op, st == 2 || st == 3, st == 2 ? op->room->view.boundary : op->tok.serial, NULL);
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
        if (op->tok.serial)
            gw_room_view_add_left(&op->room->view, op->tok.serial);
        char hdr[GW_JAR_BYTES + 256];
        cookie_without(WR_TOKEN_QUEUE, &op->jar_q, hdr, sizeof hdr, wr_wall_ms() / 1000);
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
    wr_redis_eval(&r->owner->redis, script, cb, arg, nkeys, argc, argv, NULL);
}

static void start_op(gw_conn_t *c, gw_room_op_t *op) {
    gw_room_t *r = op->room;
    char vhex[33], serial[24], now[24], session[24], claim[24], gwid[16];
    visitor_hex(&op->tok, vhex);
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", c->w->id);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)op->tok.serial); /* join: 0 = a new place */
    op->c = c;
    c->op = op;
    c->phase = GW_C_FORWARD;
    c->local = 1;
    gw_conn_arm(c, c->w->cfg->send_timeout_ms); /* a Redis that never answers must not hold the client */
    switch (op->kind) {
    case OP_LEAVE: {
        const char *argv[] = {r->key_boundary, r->key_left, r->key_log, serial, vhex, now, gwid,
                              r->log_maxlen};
        eval(r, WR_LUA_LEAVE, on_leave, op, 3, 8, argv);
        break;
    }
    case OP_JOIN: {
        const char *argv[] = {r->key_seq, r->key_seen, r->key_log, r->key_presorted, vhex,
                              now,        gwid,        serial,     r->log_maxlen};
        eval(r, WR_LUA_JOIN, on_join, op, 4, 9, argv);
        break;
    }
    case OP_PREJOIN:
    case OP_PRELEAVE: {
        const char *argv[] = {
            r->key_pre, r->key_shuffle, r->key_log,    vhex,
            now,        gwid,           r->log_maxlen, op->kind == OP_PREJOIN ? "join" : "leave"};
        eval(r, WR_LUA_PREQUEUE, op->kind == OP_PREJOIN ? on_prejoin : on_leave, op, 3, 8, argv);
        break;
    }
    default: {
        snprintf(session, sizeof session, "%lld", (long long)gw_room_session_ttl(r) * 1000);
        snprintf(claim, sizeof claim, "%lld", (long long)r->cfg->claim_window_s * 1000);
        const char *argv[] = {r->key_boundary, r->key_admitted, r->key_active, r->key_rejoin, r->key_log,
                              r->key_ended,    r->key_owed,     serial,        vhex,          now,
                              session,         claim,           gwid,          r->log_maxlen};
        eval(r, WR_LUA_CLAIM, on_claim, op, 7, 14, argv);
    }
    }
}

/* ---- the decision ------------------------------------------------------------------------------- */

static void count_rejection(gw_room_t *r, int reason) {
    if (reason == WR_TOKEN_MALFORMED)
        GW_ROOM_INC(r, token_malformed);
    else if (reason == WR_TOKEN_FORGED)
        GW_ROOM_INC(r, token_forged);
    else if (reason == WR_TOKEN_EXPIRED)
        GW_ROOM_INC(r, token_expired);
}

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
static gw_room_op_t *new_op(gw_room_t *r, int kind, bool json, const wr_token_t *tok, const char *back,
                            size_t back_len) {
    gw_room_op_t *op = calloc(1, sizeof *op);
    if (op) {
        op->room = r;
        op->kind = kind;
        op->json = json;
        if (tok) {
            op->tok = *tok;
            op->had_token = true;
        }
        memcpy(op->redirect, back, back_len);
        op->redirect_len = back_len;
    }
    return op;
}

/* Starts a Redis call for this request, or answers from the cache if there is no memory for one. */
static void run_op(gw_conn_t *c, const gw_hdrs_t *hs, gw_room_t *r, int kind, const reply_t *rp,
                   const wr_token_t *tok) {
    gw_room_op_t *op = new_op(r, kind, rp->json, tok, rp->back, rp->back_len);
    if (!op) {
        answer_waiting(c, r, rp);
        return;
    }
    int64_t now_s = wr_wall_ms() / 1000;
    jar_collect(c, hs, WR_TOKEN_QUEUE, r->cfg, now_s, &op->jar_q);
    if (kind == OP_CLAIM)
        jar_collect(c, hs, WR_TOKEN_PASS, r->cfg, now_s, &op->jar_p);
    if (!tok) {
        op->tok.type = WR_TOKEN_QUEUE;
        randombytes_buf(op->tok.visitor, sizeof op->tok.visitor);
    }
    start_op(c, op);
}

bool gw_gate_request(gw_conn_t *c, const wr_room_cfg_t *cfg, const gw_hdrs_t *hs, const char *target,
                     size_t target_len, bool status_endpoint) {
    gw_room_t *r = c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    if (!r || gw_room_state(r) == WR_ROOM_CLOSED)
        return false; /* a closed room lets traffic through */
    int64_t now_s = wr_wall_ms() / 1000;
    wr_token_t tok;
    bool has_pass = !status_endpoint && find_token(c, hs, cfg->name, WR_TOKEN_PASS, now_s, &tok);
    if (!status_endpoint)
        count_rejection(r, c->w->last_token_reason);
    if (has_pass) {
        c->pass_room = cfg; /* the origin's answer may end, renew or extend the session */
        c->pass = tok;
        jar_collect(c, hs, WR_TOKEN_PASS, cfg, now_s, &c->blk->pass_jar);
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
    if (!fresh && cfg->fail_open && !status_endpoint) {
        GW_INC(&c->w->metrics, fail_open_passes);
        return false; /* the operator chose to let everyone through while the queue is unreachable */
    }
    char back[1024];
    long bl = target ? gw_redirect_sanitize(target, target_len, back, sizeof back) : -1;
    if (bl < 0) {
        memcpy(back, "/", 2);
        bl = 1;
    }
    reply_t rp = {
        .json = status_endpoint || accepts(hs, "application/json"), .back = back, .back_len = (size_t)bl};
    wr_room_state_t state = gw_room_state(r);
    bool connected = r->owner->redis.connected;
    bool has_q = find_token(c, hs, cfg->name, WR_TOKEN_QUEUE, now_s, &tok);
    count_rejection(r, c->w->last_token_reason);
    if (has_q && !(tok.serial && gw_room_view_has_left(&r->view, tok.serial))) {
        if (tok.serial == 0) {
            /* pre-queued, or a provisional place from a Redis outage: a serial once the room is open and
             * Redis answers (the draw's serial for a pre-queued visitor, else the back of the queue) */
            if (state != WR_ROOM_SCHEDULED && fresh && connected)
                run_op(c, hs, r, OP_JOIN, &rp, &tok);
            else if (state == WR_ROOM_SCHEDULED && connected && r->commitment[0] &&
                     (tok.max_until != 1 || tok.issued_at <= r->scheduled_s))
                /* provisional, or pre-queued under a seed Redis has since lost: tokens carry whole
                 * seconds, so one issued in the new seed's second is put in again too (prequeue.lua
                 * does nothing twice, and the re-issued token soon postdates the seed) */
                run_op(c, hs, r, OP_PREJOIN, &rp, &tok);
            else
                answer_waiting(c, r, &rp);
            return true;
        }
        rp.has_serial = true;
        rp.serial = tok.serial;
        if (fresh && tok.serial > r->view.seq && connected) {
            /* Redis does not know this place (its data was lost): register it again at this serial */
            run_op(c, hs, r, OP_JOIN, &rp, &tok);
            return true;
        }
        gw_room_heartbeat(r, tok.serial);
        if (!fresh || tok.serial > r->view.boundary || state != WR_ROOM_OPEN)
            answer_waiting(c, r, &rp);
        else
            run_op(c, hs, r, OP_CLAIM, &rp, &tok);
        return true;
    }
    if (status_endpoint) {
        answer_waiting(c, r, &rp); /* no place is made by a status poll */
        return true;
    }
    if (state == WR_ROOM_SCHEDULED) {
        if (connected && r->commitment[0]) {
            run_op(c, hs, r, OP_PREJOIN, &rp, NULL);
            return true;
        }
    } else if (fresh && connected) {
        run_op(c, hs, r, OP_JOIN, &rp, NULL);
        return true;
    }
    /* Redis unreachable (or the draw's seed not known yet): a provisional place, confirmed when the
     * visitor next shows up with Redis back */
    char hdr[GW_JAR_BYTES + 256];
    gw_jar_t jar;
    jar_collect(c, hs, WR_TOKEN_QUEUE, cfg, now_s, &jar);
    wr_token_t t = {.type = WR_TOKEN_QUEUE};
    randombytes_buf(t.visitor, sizeof t.visitor);
    if (provisional_cookie(c, r, &t, &jar, hdr, sizeof hdr) == 0)
        rp.set_cookie = hdr;
    GW_INC(&c->w->metrics, provisional_places);
    GW_ROOM_INC(r, provisional);
    answer_waiting(c, r, &rp);
    return true;
}

void gw_gate_leave(gw_conn_t *c, const wr_room_cfg_t *cfg, const gw_hdrs_t *hs) {
    gw_room_t *r = c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    wr_token_t tok;
    if (!r || !find_token(c, hs, cfg->name, WR_TOKEN_QUEUE, wr_wall_ms() / 1000, &tok)) {
        static const char body[] = "{\"left\":false,\"error\":\"no place in this queue\"}\n";
        gw_conn_send_local(c, 400, NULL, "application/json", body, sizeof body - 1);
        return;
    }
    bool json = accepts(hs, "application/json") || !accepts(hs, "text/html");
    /* a token without a serial: pre-queued (leave the pre-queue), or provisional (nothing in Redis) */
    int kind = tok.serial ? OP_LEAVE : OP_PRELEAVE;
    gw_room_op_t *op = new_op(r, kind, json, &tok, "/", 1);
    if (!op) {
        gw_conn_send_local(c, 503, NULL, "application/json", "{\"left\":false}\n", 15);
        return;
    }
    jar_collect(c, hs, WR_TOKEN_QUEUE, cfg, wr_wall_ms() / 1000, &op->jar_q);
    start_op(c, op);
}

static void on_fire_and_forget(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        WR_WARN("session update refused", "what=%s error=\"%.200s\"", (const char *)arg, rep->str);
}

/* release.lua or extend.lua for the pass this request carried; nobody waits for the answer. */
static void session_call(gw_conn_t *c, gw_room_t *r, const char *reason, int64_t new_end_ms, int status) {
    if (!strcmp(reason, "released"))
        GW_ROOM_INC(r, releases);
    else if (!strcmp(reason, "completed"))
        GW_ROOM_INC(r, completions);
    else if (!strcmp(reason, "grace"))
        GW_ROOM_INC(r, graces);
    char vhex[33], serial[24], now[24], gwid[16], end[24], st[8];
    visitor_hex(&c->pass, vhex);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)c->pass.serial);
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", c->w->id);
    if (new_end_ms == 0) {
        const char *argv[] = {r->key_active, r->key_log, r->key_ended, r->key_owed, serial,
                              vhex,          now,        reason,       gwid,        r->log_maxlen};
        eval(r, WR_LUA_RELEASE, on_fire_and_forget, "release", 4, 10, argv);
        return;
    }
    snprintf(end, sizeof end, "%lld", (long long)new_end_ms);
    snprintf(st, sizeof st, "%d", status);
    const char *argv[] = {r->key_active, r->key_log, r->key_owed, serial,        vhex, now,
                          end,           reason,     gwid,        r->log_maxlen, st};
    eval(r, WR_LUA_EXTEND, on_fire_and_forget, "extend", 3, 11, argv);
}

const char *gw_gate_pass_answered(gw_conn_t *c, int status, bool release) {
    const wr_room_cfg_t *cfg = c->pass_room;
    gw_room_t *r = cfg && c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    if (!r)
        return NULL;
    int64_t now_s = wr_wall_ms() / 1000;
    wr_token_t *p = &c->pass;
    if (release || (c->pass_completion && status >= 200 && status < 400)) {
        session_call(c, r, release ? "released" : "completed", 0, 0);
        c->pass_room = NULL; /* once per request */
        if (cookie_without(WR_TOKEN_PASS, &c->blk->pass_jar, c->w->pass_hdr, sizeof c->w->pass_hdr, now_s) <
            0)
            return "Set-Cookie: wr_p=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\r\n";
        return c->w->pass_hdr;
    }
    int64_t end, ttl = gw_room_session_ttl(r);
    const char *why;
    if (status >= 500) {
        if (cfg->grace_s <= 0)
            return NULL;
        /* the time the site failed the buyer is given back, but a run of failures cannot stretch the
         * session further than a whole fresh session plus the grace from now */
        end = p->expires_at + cfg->grace_s;
        if (end > now_s + ttl + cfg->grace_s)
            end = now_s + ttl + cfg->grace_s;
        if (end <= p->expires_at) {
            session_call(c, r, "grace", p->expires_at * 1000, status); /* still logged for support */
            return NULL;
        }
        if (p->max_until < end)
            p->max_until = end;
        why = "grace";
    } else {
        /* renewal on activity: in the second half of the session, up to session_max_s after the claim */
        if (p->expires_at - now_s > ttl / 2 || p->expires_at >= p->max_until)
            return NULL;
        end = now_s + ttl;
        if (end > p->max_until)
            end = p->max_until;
        if (end <= p->expires_at)
            return NULL;
        why = "extended";
    }
    p->expires_at = end;
    p->issued_at = now_s;
    if (cookie_for(c, cfg->name, p, &c->blk->pass_jar, c->w->pass_hdr, sizeof c->w->pass_hdr, now_s) < 0)
        return NULL;
    session_call(c, r, why, end * 1000, status >= 500 ? status : 0);
    return c->w->pass_hdr;
}

const char *gw_gate_pass_header(gw_conn_t *c, size_t *len) {
    gw_worker_t *w = c->w;
    if (!c->pass_room || !w->pass_sk || !w->passsig_cache)
        return NULL;
    const wr_token_t *p = &c->pass;
    gw_passsig_cache_t *e =
        &w->passsig_cache[(p->visitor[0] | (unsigned)p->visitor[1] << 8) % GW_PASSSIG_CACHE_SLOTS];
    if (e->room != c->pass_room->name || e->expires != p->expires_at || e->serial != p->serial ||
        memcmp(e->visitor, p->visitor, sizeof e->visitor) != 0) {
        wr_passsig_t ps = {.serial = p->serial, .expires = p->expires_at};
        snprintf(ps.room, sizeof ps.room, "%s", c->pass_room->name);
        memcpy(ps.visitor, p->visitor, sizeof ps.visitor);
        static const char name[] = "Waitroom-Pass: ";
        memcpy(e->line, name, sizeof name - 1);
        long n = wr_passsig_sign(w->pass_sk, &ps, e->line + sizeof name - 1,
                                 sizeof e->line - (sizeof name - 1) - 2);
        if (n < 0) { /* cannot happen with config-checked room names; said, not silent */
            e->room = NULL;
            WR_WARN("Waitroom-Pass not signed", "room=%s", c->pass_room->name);
            return NULL;
        }
        memcpy(e->line + sizeof name - 1 + n, "\r\n", 2);
        e->len = (uint16_t)(sizeof name - 1 + (size_t)n + 2);
        e->room = c->pass_room->name;
        memcpy(e->visitor, p->visitor, sizeof e->visitor);
        e->serial = p->serial;
        e->expires = p->expires_at;
    }
    *len = e->len;
    return e->line;
}

void gw_gate_origin_answered(gw_conn_t *c, const gw_hdrs_t *hs, int status, uint64_t latency_us) {
    const wr_config_t *wc = c->w->cfg;
    const wr_room_cfg_t *cfg = c->pass_room ? c->pass_room : wc->nrooms == 1 ? &wc->rooms[0] : NULL;
    gw_room_t *r = cfg && c->w->has_rooms ? gw_rooms_find(&c->w->rooms, cfg) : NULL;
    if (!r)
        return;
    if (c->pass_room)
        gw_room_signal(r, status, latency_us, false);
    long i = hs ? gw_hdr_find(hs, "waitroom-inventory") : -1;
    if (i < 0)
        return;
    const char *v = hs->base + hs->h[i].value_off;
    size_t n = hs->h[i].value_len;
    if (n == 0 || n > 12)
        return; /* not a count we believe */
    int64_t left = 0;
    for (size_t k = 0; k < n; k++) {
        if (v[k] < '0' || v[k] > '9')
            return;
        left = left * 10 + (v[k] - '0');
    }
    gw_room_inventory(r, left, uv_now(&c->w->loop));
}

void gw_gate_origin_failed(gw_conn_t *c, int status) {
    gw_room_t *r = c->pass_room && c->w->has_rooms ? gw_rooms_find(&c->w->rooms, c->pass_room) : NULL;
    if (r)
        gw_room_signal(r, status, 0, status == 504);
}
