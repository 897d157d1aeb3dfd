/* The queue's decision applied to a request on a protected path (and to /__waitroom/status): the
 * inputs gathered (tokens, the room's cached view), gw_decide (decide.c) asked, and its action carried
 * out: an answer from the cache, or one Redis script call (join, claim, leave, pre-queue) whose reply
 * answers the held request. See internal.h for the decisions and for orphaned calls. */
#include "gateway/queue/internal.h"

#include "common/clock.h"
#include "common/log.h"
#include "gateway/queue/decide.h"
#include "gateway/queue/status.h"
#include "lua_scripts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void start_op(gw_queue_t *q, gw_req_t *req);

/* ---- Redis calls -------------------------------------------------------------------------------- */

static void visitor_hex(const wr_token_t *t, char out[33]) {
    sodium_bin2hex(out, 33, t->visitor, sizeof t->visitor);
}

/* The request an answered call was for, the call record returned to the free list; NULL if the
 * request is over (the client went away, or the connection timed out) and the answer is dropped. */
gw_req_t *gw_gate_call_end(void *arg, gw_queue_t **qp) {
    gw_qcall_t *call = arg;
    gw_queue_t *q = *qp = call->q;
    gw_req_t *req = call->req;
    if (req)
        gw_qreq(req)->call = NULL;
    if (q->nfree_calls < GW_QCALL_FREELIST_MAX) {
        call->next_free = q->free_calls;
        q->free_calls = call;
        q->nfree_calls++;
    } else {
        free(call);
    }
    return req;
}

void gw_gate_orphan(gw_qreq_t *st) {
    if (st->call) {
        st->call->req = NULL;
        st->call = NULL;
    }
}

/* A waiting answer for an op: its visitor, its page. */
static void op_waiting(gw_queue_t *q, gw_req_t *req, bool has_serial, uint64_t serial,
                       const char *set_cookie) {
    gw_qreq_t *op = gw_qreq(req);
    gw_reply_t rp = {op->json,     has_serial,       serial,          set_cookie,
                     op->redirect, op->redirect_len, op->tok.visitor, op->prequeue_full};
    gw_answer_waiting(q, req, op->room, &rp);
}

static void on_join(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_queue_t *q;
    gw_req_t *req = gw_gate_call_end(arg, &q);
    if (!req)
        return;
    gw_qreq_t *op = gw_qreq(req);
    char hdr[GW_JAR_BYTES + 256];
    if (op->tok.serial) { /* re-registered at the serial of the visitor's token: same place, same cookie */
        bool ok = rep && rep->type == REDIS_REPLY_INTEGER && (uint64_t)rep->integer == op->tok.serial;
        if (ok && op->tok.serial > op->room->view.seq)
            op->room->view.seq = op->tok.serial;
        if (ok && op->tok.serial > op->room->max_serial)
            op->room->max_serial = op->tok.serial;
        op_waiting(q, req, true, op->tok.serial, NULL);
        return;
    }
    if (!rep || rep->type != REDIS_REPLY_INTEGER || rep->integer <= 0) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            WR_WARN("join refused", "room=%s error=\"%.200s\"", op->room->cfg->name, rep->str);
        /* no serial now: the visitor keeps (or gets) a provisional place and joins on their next poll */
        bool had = op->had_token;
        op_waiting(
            q, req, false, 0,
            !had && gw_tokens_provisional(q, op->room, &op->tok, &op->jar_q, hdr, sizeof hdr, op->secure) == 0
                ? hdr
                : NULL);
        return;
    }
    int64_t now_s = wr_wall_ms() / 1000;
    op->tok.serial = (uint64_t)rep->integer;
    op->tok.issued_at = now_s;
    op->tok.expires_at = now_s + op->room->cfg->queue_token_ttl_s;
    if (gw_tokens_cookie(q, op->room->cfg->name, &op->tok, &op->jar_q, hdr, sizeof hdr, now_s, op->secure) <
        0) {
        op_waiting(q, req, false, 0, NULL);
        return;
    }
    gw_room_heartbeat(op->room, op->tok.serial);
    GW_ROOM_INC(op->room, joins);
    if (op->tok.serial > op->room->view.seq)
        op->room->view.seq = op->tok.serial; /* our own join counts before the next refresh */
    if (op->tok.serial > op->room->max_serial)
        op->room->max_serial = op->tok.serial; /* and is put back if Redis loses it before then */
    op_waiting(q, req, true, op->tok.serial, hdr);
}

static void on_prejoin(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_queue_t *q;
    gw_req_t *req = gw_gate_call_end(arg, &q);
    if (!req)
        return;
    gw_qreq_t *op = gw_qreq(req);
    /* (no reply or an error reply: Redis trouble, never "full") */
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -100;
    if (v == -4 && op->had_token && op->tok.max_until == 1) {
        /* already pre-queued (put in again under a new seed): the draw gives their place; a join now
         * would give them one at the back */
        op_waiting(q, req, false, 0, NULL);
        return;
    }
    if (v == -1 || v == -4) { /* opened, or its draw has begun: an ordinary join, after the pre-queue */
        if (v == -1)
            op->room->opened = true; /* (a draw in progress leaves the room scheduled until it is done) */
        op->kind = GW_OP_JOIN;
        start_op(q, req);
        return;
    }
    if (v == -2)
        op->room->schedule_checked_ms = 0; /* Redis lost the seed: a new one is drawn at the next tick */
    /* In the pre-queue (max_until = 1 marks it), the pre-queue full (2: first-come at the opening, with
     * no Redis call until then), or not yet (Redis trouble): then a token without a mark, and the
     * visitor is pre-queued on their next request. */
    op->tok.max_until = v == 0 ? 1 : v == -3 ? 2 : 0;
    char hdr[GW_JAR_BYTES + 256];
    bool set = v == 0 || v == -3 || !op->had_token;
    op->prequeue_full = v == -3;
    op_waiting(q, req, false, 0,
               set && gw_tokens_provisional(q, op->room, &op->tok, &op->jar_q, hdr, sizeof hdr, op->secure) ==
                           0
                   ? hdr
                   : NULL);
}

static void on_claim(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_queue_t *q;
    gw_req_t *req = gw_gate_call_end(arg, &q);
    if (!req)
        return;
    gw_qreq_t *op = gw_qreq(req);
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
        pass.issued_at = wr_wall_ms(); /* a pass's issue time is in milliseconds (revoked.h) */
        pass.expires_at = expires_ms / 1000;
        pass.max_until = now_s + op->room->cfg->session_max_s;
        if (pass.max_until < pass.expires_at)
            pass.max_until = pass.expires_at;
        char hdr[2 * (GW_JAR_BYTES + 256)];
        if (st == 1)
            GW_ROOM_INC(op->room, claims);
        if (pass.expires_at > now_s && gw_tokens_cookie(q, op->room->cfg->name, &pass, &op->jar_p, hdr,
                                                        sizeof hdr, now_s, op->secure) == 0) {
            if (op->tok.max_until != GW_TOKEN_HAD_SESSION) { /* the queue token is marked spent too */
                size_t used = strlen(hdr);
                wr_token_t spent = op->tok;
                spent.max_until = GW_TOKEN_HAD_SESSION;
                if (gw_tokens_cookie(q, op->room->cfg->name, &spent, &op->jar_q, hdr + used,
                                     sizeof hdr - used, now_s, op->secure) < 0)
                    hdr[used] = '\0';
            }
            gw_answer_admitted(q, req, op->room, op->json, hdr, op->redirect, op->redirect_len);
            return;
        }
    }
    if (st == 5) { /* this place had its session and it is over: a new place at the back */
        memset(&op->tok, 0, sizeof op->tok);
        op->tok.type = WR_TOKEN_QUEUE;
        randombytes_buf(op->tok.visitor, sizeof op->tok.visitor);
        op->kind = GW_OP_JOIN;
        op->had_token = false;
        start_op(q, req);
        return;
    }
    /* 2: skipped earlier, now first in the rejoin lane; 3: not yet; errors: trouble. The place stays. */
    op_waiting(q, req, st == 2 || st == 3, st == 2 ? op->room->view.boundary : op->tok.serial, NULL);
}

static void on_leave(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_queue_t *q;
    gw_req_t *req = gw_gate_call_end(arg, &q);
    if (!req)
        return;
    gw_qreq_t *op = gw_qreq(req);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        static const char body[] = "{\"left\":false,\"error\":\"the queue is unreachable; try again\"}\n";
        gw_req_respond(req, 503, NULL, "application/json", body, sizeof body - 1);
    } else {
        if (op->tok.serial)
            gw_room_view_add_left(&op->room->view, op->tok.serial);
        char hdr[GW_JAR_BYTES + 256];
        gw_tokens_cookie_without(WR_TOKEN_QUEUE, &op->jar_q, hdr, sizeof hdr, wr_wall_ms() / 1000,
                                 op->secure);
        if (op->json) {
            static const char body[] = "{\"left\":true}\n";
            gw_req_respond(req, 200, hdr, "application/json", body, sizeof body - 1);
        } else {
            static const char body[] =
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>You left the queue</title>"
                "<body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em\">"
                "<h1>You left the queue</h1><p>Your place went to the next person. Thank "
                "you.</p></body></html>\n";
            gw_req_respond(req, 200, hdr, "text/html; charset=utf-8", body, sizeof body - 1);
        }
    }
}

/* EVALSHA of one of the room scripts with C-string arguments (keys first). */
static void eval(gw_room_t *r, wr_lua_script_t script, wr_redis_reply_cb cb, void *arg, int nkeys, int argc,
                 const char **argv) {
    wr_redis_eval(&r->owner->redis, script, cb, arg, nkeys, argc, argv, NULL);
}

/* A call record for the request's Redis call, from the free list; NULL if out of memory. */
gw_qcall_t *gw_gate_call_new(gw_queue_t *q, gw_req_t *req) {
    gw_qcall_t *call = q->free_calls;
    if (call) {
        q->free_calls = call->next_free;
        q->nfree_calls--;
    } else if (!(call = malloc(sizeof *call))) {
        return NULL;
    }
    call->q = q;
    call->req = req;
    gw_qreq(req)->call = call;
    return call;
}

/* Starts the request's Redis operation (its kind and arguments in the request's queue state); the
 * request is held until the answer. Without memory for the call, the waiting answer from the cache. */
static void start_op(gw_queue_t *q, gw_req_t *req) {
    gw_qreq_t *op = gw_qreq(req);
    gw_room_t *r = op->room;
    gw_qcall_t *call = gw_gate_call_new(q, req);
    if (!call) {
        if (op->kind == GW_OP_LEAVE || op->kind == GW_OP_PRELEAVE) {
            gw_req_respond(req, 503, NULL, "application/json", "{\"left\":false}\n", 15);
            return;
        }
        gw_reply_t rp = {op->json,     op->tok.serial != 0, op->tok.serial,  NULL,
                         op->redirect, op->redirect_len,    op->tok.visitor, false};
        gw_answer_waiting(q, req, r, &rp);
        return;
    }
    char vhex[33], serial[24], now[24], session[24], claim[24], gwid[16];
    visitor_hex(&op->tok, vhex);
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", q->worker);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)op->tok.serial); /* join: 0 = a new place */
    gw_req_hold(req, q->cfg->send_timeout_ms); /* a Redis that never answers must not hold the client */
    switch (op->kind) {
    case GW_OP_LEAVE: {
        const char *argv[] = {r->keys.k[WR_KEY_BOUNDARY],
                              r->keys.k[WR_KEY_LEFT],
                              r->keys.k[WR_KEY_LOG],
                              serial,
                              vhex,
                              now,
                              gwid,
                              r->log_maxlen};
        eval(r, WR_LUA_LEAVE, on_leave, call, 3, 8, argv);
        break;
    }
    case GW_OP_JOIN: {
        char floor[24];
        snprintf(floor, sizeof floor, "%llu", (unsigned long long)r->max_serial);
        const char *argv[] = {r->keys.k[WR_KEY_SEQ],
                              r->keys.k[WR_KEY_SEEN],
                              r->keys.k[WR_KEY_LOG],
                              r->keys.k[WR_KEY_PRESORTED],
                              r->keys.k[WR_KEY_TICK],
                              vhex,
                              now,
                              gwid,
                              serial,
                              r->log_maxlen,
                              floor,
                              GW_ROOM_RESTORE_SETTLE_MS};
        eval(r, WR_LUA_JOIN, on_join, call, 5, 12, argv);
        break;
    }
    case GW_OP_PREJOIN:
    case GW_OP_PRELEAVE: {
        const char *argv[] = {r->keys.k[WR_KEY_PRE],
                              r->keys.k[WR_KEY_SHUFFLE],
                              r->keys.k[WR_KEY_LOG],
                              vhex,
                              now,
                              gwid,
                              r->log_maxlen,
                              op->kind == GW_OP_PREJOIN ? "join" : "leave",
                              r->prequeue_max};
        eval(r, WR_LUA_PREQUEUE, op->kind == GW_OP_PREJOIN ? on_prejoin : on_leave, call, 3, 9, argv);
        break;
    }
    default: {
        snprintf(session, sizeof session, "%lld", (long long)gw_room_session_ttl(r) * 1000);
        snprintf(claim, sizeof claim, "%lld", (long long)r->cfg->claim_window_s * 1000);
        const char *argv[] = {r->keys.k[WR_KEY_BOUNDARY],
                              r->keys.k[WR_KEY_ADMITTED],
                              r->keys.k[WR_KEY_ACTIVE],
                              r->keys.k[WR_KEY_REJOIN],
                              r->keys.k[WR_KEY_LOG],
                              r->keys.k[WR_KEY_ENDED],
                              r->keys.k[WR_KEY_OWED],
                              r->keys.k[WR_KEY_REVOKED],
                              r->keys.k[WR_KEY_SKIPPED],
                              r->keys.k[WR_KEY_TICK],
                              serial,
                              vhex,
                              now,
                              session,
                              claim,
                              gwid,
                              r->log_maxlen,
                              r->pass_life_ms,
                              r->rejoin_window_ms,
                              op->tok.max_until == GW_TOKEN_HAD_SESSION ? "1" : "0"};
        eval(r, WR_LUA_CLAIM, on_claim, call, 10, 20, argv);
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

/* The request's Redis operation, set up in its queue state and started. */
static void run_op(gw_queue_t *q, gw_req_t *req, gw_room_t *r, int kind, const gw_reply_t *rp,
                   const wr_token_t *tok) {
    gw_qreq_t *op = gw_qreq(req);
    op->room = r;
    op->kind = kind;
    op->json = rp->json;
    op->had_token = tok != NULL;
    memcpy(op->redirect, rp->back, rp->back_len);
    op->redirect_len = rp->back_len;
    int64_t now_s = wr_wall_ms() / 1000;
    gw_tokens_jar(q, &req->hs, WR_TOKEN_QUEUE, r->cfg, now_s, &op->jar_q);
    if (kind == GW_OP_CLAIM)
        gw_tokens_jar(q, &req->hs, WR_TOKEN_PASS, r->cfg, now_s, &op->jar_p);
    if (tok) {
        op->tok = *tok;
    } else {
        memset(&op->tok, 0, sizeof op->tok);
        op->tok.type = WR_TOKEN_QUEUE;
        randombytes_buf(op->tok.visitor, sizeof op->tok.visitor);
    }
    start_op(q, req);
}

bool gw_gate_request(gw_queue_t *q, gw_req_t *req, const wr_room_cfg_t *cfg, const char *target,
                     size_t target_len, bool status_endpoint) {
    gw_qreq_t *st = gw_qreq(req);
    const gw_hdrs_t *hs = &req->hs;
    gw_room_t *r = q->has_rooms ? gw_rooms_find(&q->rooms, cfg) : NULL;
    if (!r)
        return false;
    gw_decide_in_t in = {
        .state = gw_room_state(r),
        .status_endpoint = status_endpoint,
        .fresh = gw_room_fresh(r, uv_now(q->loop)),
        .connected = r->owner->redis.connected,
        .fail_open = cfg->fail_open,
        .draw_known = r->commitment[0] != '\0',
        .draw_s = r->scheduled_s,
        .seq = r->view.seq,
        .boundary = r->view.boundary,
    };
    if (in.state == WR_ROOM_CLOSED)
        return false; /* a closed room lets traffic through: no token is even looked at */
    int64_t now_s = wr_wall_ms() / 1000;
    wr_token_t tok = {0}; /* read below only when a lookup found one, but never uninitialised */
    in.has_pass = !status_endpoint && gw_tokens_find(q, st, hs, cfg->name, WR_TOKEN_PASS, now_s, &tok);
    if (in.has_pass) {
        in.pass_revoked = gw_revoked_refuses(&r->revoked, tok.serial, tok.issued_at); /* ms */
        in.renew_due = gw_session_renew_due(q, r, &tok, now_s);
    }
    if (!status_endpoint)
        count_rejection(r, st->token_reason);
    if (!in.has_pass) {
        in.has_token = gw_tokens_find(q, st, hs, cfg->name, WR_TOKEN_QUEUE, now_s, &tok);
        if (in.has_token) {
            in.serial = tok.serial;
            in.serial_left = tok.serial && gw_room_view_has_left(&r->view, tok.serial);
            in.prequeued = tok.max_until == 1;
            in.prequeue_full = tok.max_until == 2;
            in.issued_s = tok.issued_at;
        }
    }
    gw_decision_t d = gw_decide(&in);
    switch (d.act) {
    case GW_DO_ORIGIN:
        return false;
    case GW_DO_PASS:
        gw_session_begin(q, req, cfg, &tok, now_s);
        return false; /* admitted: no Redis, straight to the origin */
    case GW_DO_RENEW:
        gw_session_begin(q, req, cfg, &tok, now_s);
        st->json = gw_accepts(hs, "application/json");
        gw_session_renew(q, req, r); /* then on to the origin, once Redis confirms the session */
        return true;
    case GW_DO_ENDED:
        gw_tokens_jar(q, hs, WR_TOKEN_PASS, cfg, now_s, &st->pass_jar);
        gw_answer_ended(q, req, r, gw_accepts(hs, "application/json"));
        return true;
    case GW_DO_FAIL_OPEN:
        GW_INC(&q->metrics, fail_open_passes);
        return false;
    default:
        break;
    }
    count_rejection(r, st->token_reason);
    char back[1024];
    long bl = target ? gw_redirect_sanitize(target, target_len, back, sizeof back) : -1;
    if (bl < 0) {
        memcpy(back, "/", 2);
        bl = 1;
    }
    gw_reply_t rp = {.json = status_endpoint || gw_accepts(hs, "application/json"),
                     .has_serial = d.placed,
                     .serial = tok.serial,
                     .back = back,
                     .back_len = (size_t)bl,
                     .visitor = in.has_token ? tok.visitor : NULL,
                     .prequeue_full = in.has_token && in.prequeue_full};
    if (d.heartbeat)
        gw_room_heartbeat(r, tok.serial);
    const wr_token_t *mine = d.with_token ? &tok : NULL;
    bool new_place = !mine && (d.act == GW_DO_JOIN || d.act == GW_DO_PREJOIN || d.act == GW_DO_PROVISIONAL);
    if (new_place && !gw_gate_join_allowed(q, req, r, rp.json))
        return true; /* 429: too many new places from this address, or in all */
    switch (d.act) {
    case GW_DO_JOIN:
        run_op(q, req, r, GW_OP_JOIN, &rp, mine);
        return true;
    case GW_DO_PREJOIN:
        run_op(q, req, r, GW_OP_PREJOIN, &rp, mine);
        return true;
    case GW_DO_CLAIM:
        run_op(q, req, r, GW_OP_CLAIM, &rp, mine);
        return true;
    case GW_DO_PROVISIONAL: {
        char hdr[GW_JAR_BYTES + 256];
        gw_jar_t jar;
        gw_tokens_jar(q, hs, WR_TOKEN_QUEUE, cfg, now_s, &jar);
        wr_token_t t = {.type = WR_TOKEN_QUEUE};
        randombytes_buf(t.visitor, sizeof t.visitor);
        if (gw_tokens_provisional(q, r, &t, &jar, hdr, sizeof hdr, st->secure) == 0)
            rp.set_cookie = hdr;
        GW_INC(&q->metrics, provisional_places);
        GW_ROOM_INC(r, provisional);
        gw_answer_waiting(q, req, r, &rp);
        return true;
    }
    default:
        gw_answer_waiting(q, req, r, &rp);
        return true;
    }
}

/* The client's address for limits: the peer, or behind a trusted load balancer the last
 * X-Forwarded-For entry (the one that balancer added; earlier ones are the client's to invent). */
static void client_address(const gw_queue_t *q, const gw_req_t *req, const char **ip, size_t *len) {
    *ip = req->client_ip;
    *len = strlen(req->client_ip);
    if (!q->cfg->trust_forwarded)
        return;
    const gw_hdrs_t *hs = &req->hs;
    for (size_t i = 0; i < hs->n; i++) { /* the last header, its last entry */
        if (!gw_hdr_name_is(hs, i, "x-forwarded-for"))
            continue;
        const char *v = hs->base + hs->h[i].value_off;
        size_t n = hs->h[i].value_len, s = n;
        while (s > 0 && v[s - 1] != ',')
            s--;
        while (s < n && (v[s] == ' ' || v[s] == '\t'))
            s++;
        if (s < n) {
            *ip = v + s;
            *len = n - s;
        }
    }
}

bool gw_gate_join_allowed(gw_queue_t *q, gw_req_t *req, gw_room_t *r, bool json) {
    uint64_t now_us = uv_hrtime() / 1000, wait = 0;
    if (q->join_ip) {
        const char *ip;
        size_t len;
        client_address(q, req, &ip, &len);
        wait = wr_rate_take(q->join_ip, ip, len, now_us);
    }
    if (!wait && q->join_all)
        wait = wr_rate_take(q->join_all, "", 0, now_us);
    if (!wait)
        return true;
    GW_ROOM_INC(r, join_limited);
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Retry-After: %llu\r\n", (unsigned long long)(wait + 999999) / 1000000);
    if (json) {
        char body[192];
        int n = snprintf(body, sizeof body,
                         "{\"room\":\"%s\",\"error\":\"too many new places from here: try again in a "
                         "moment\",\"retry_after_s\":%llu}\n",
                         r->cfg->name, (unsigned long long)(wait + 999999) / 1000000);
        gw_req_respond(req, 429, hdr, "application/json", body, (size_t)n);
        return false;
    }
    static const char body[] =
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Please wait a moment</title>"
        "<body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em\">"
        "<h1>Please wait a moment</h1><p>Too many people joined the queue from your network just now. "
        "Please try again in a few seconds: the queue is fair, and joining later than that costs you "
        "nothing against the people joining now.</p></body></html>\n";
    gw_req_respond(req, 429, hdr, "text/html; charset=utf-8", body, sizeof body - 1);
    return false;
}

void gw_gate_leave(gw_queue_t *q, gw_req_t *req, const wr_room_cfg_t *cfg, bool need_proof) {
    gw_room_t *r = q->has_rooms ? gw_rooms_find(&q->rooms, cfg) : NULL;
    wr_token_t tok;
    if (!r ||
        !gw_tokens_find(q, gw_qreq(req), &req->hs, cfg->name, WR_TOKEN_QUEUE, wr_wall_ms() / 1000, &tok)) {
        static const char body[] = "{\"left\":false,\"error\":\"no place in this queue\"}\n";
        gw_req_respond(req, 400, NULL, "application/json", body, sizeof body - 1);
        return;
    }
    if (need_proof) { /* neither Sec-Fetch-Site nor Origin: only the buyer's own page knows the proof */
        char want[GW_LEAVE_PROOF_HEX + 1];
        size_t pl = 0;
        const char *proof = gw_query_param(req->query, req->query_len, "proof", &pl);
        bool ok = false;
        for (int k = 0; proof && pl == GW_LEAVE_PROOF_HEX && k < q->keys->n && !ok; k++) { /* rotation */
            gw_tokens_leave_proof(q->keys, k, tok.visitor, want);
            ok = sodium_memcmp(proof, want, GW_LEAVE_PROOF_HEX) == 0;
        }
        if (!ok) {
            static const char body[] = "{\"left\":false,\"error\":\"cross-site request refused\"}\n";
            gw_req_respond(req, 403, NULL, "application/json", body, sizeof body - 1);
            return;
        }
    }
    bool json = gw_accepts(&req->hs, "application/json") || !gw_accepts(&req->hs, "text/html");
    /* a token without a serial: pre-queued (leave the pre-queue), or provisional (nothing in Redis) */
    gw_reply_t rp = {.json = json, .back = "/", .back_len = 1};
    run_op(q, req, r, tok.serial ? GW_OP_LEAVE : GW_OP_PRELEAVE, &rp, &tok);
}
