/* Sessions: the requests of a visitor holding a pass (wr_p). They go to the origin with no Redis call;
 * the origin's answer ends the session (Waitroom-Release: done, or a completion path), extends it by
 * the room's grace_s on a 5xx or timeout (logged as origin_error), or renews it on activity in its
 * second half, up to session_max_s; each is one fire-and-forget script call. Optionally each request
 * carries the signed Waitroom-Pass header for the origin. */
#include "gateway/queue/internal.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/path.h"
#include "lua_scripts.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void gw_session_begin(gw_queue_t *q, gw_req_t *req, const wr_room_cfg_t *room, const wr_token_t *pass,
                      int64_t now_s) {
    gw_qreq_t *st = gw_qreq(req);
    st->pass_room = room; /* the origin's answer may end, renew or extend the session */
    st->pass = *pass;
    gw_tokens_jar(q, &req->hs, WR_TOKEN_PASS, room, now_s, &st->pass_jar);
    for (size_t i = 0; i < room->ncompletion; i++)
        if (wr_path_has_prefix(req->path, req->path_len, room->completion[i], strlen(room->completion[i]),
                               q->cfg->case_sensitive_paths))
            st->pass_completion = true;
}

static void on_fire_and_forget(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        WR_WARN("session update refused", "what=%s error=\"%.200s\"", (const char *)arg, rep->str);
}

/* extend.lua for the pass this request carried: its session's end moves to end_ms (reason
 * 'extended' or 'grace', status the origin's 5xx for a grace, else 0), as of now_ms. */
static void extend_call(gw_queue_t *q, gw_qreq_t *st, gw_room_t *r, int64_t now_ms, int64_t end_ms,
                        const char *reason, int status, wr_redis_reply_cb cb, void *arg) {
    char vhex[33], serial[24], now[24], gwid[16], end[24], code[8];
    sodium_bin2hex(vhex, sizeof vhex, st->pass.visitor, sizeof st->pass.visitor);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)st->pass.serial);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(gwid, sizeof gwid, "w%d", q->worker);
    snprintf(end, sizeof end, "%lld", (long long)end_ms);
    snprintf(code, sizeof code, "%d", status);
    const char *argv[] = {r->keys.k[WR_KEY_ACTIVE],
                          r->keys.k[WR_KEY_LOG],
                          r->keys.k[WR_KEY_OWED],
                          r->keys.k[WR_KEY_ENDED],
                          serial,
                          vhex,
                          now,
                          end,
                          reason,
                          gwid,
                          r->log_maxlen,
                          code};
    wr_redis_eval(&r->owner->redis, WR_LUA_EXTEND, cb, arg, 4, 12, argv, NULL);
}

/* release.lua or extend.lua for the pass this request carried; nobody waits for the answer. */
static void session_call(gw_queue_t *q, gw_qreq_t *st, gw_room_t *r, const char *reason, int64_t new_end_ms,
                         int status) {
    if (!strcmp(reason, "released"))
        GW_ROOM_INC(r, releases);
    else if (!strcmp(reason, "completed"))
        GW_ROOM_INC(r, completions);
    else if (!strcmp(reason, "grace"))
        GW_ROOM_INC(r, graces);
    if (new_end_ms != 0) {
        extend_call(q, st, r, wr_wall_ms(), new_end_ms, reason, status, on_fire_and_forget, "extend");
        return;
    }
    char vhex[33], serial[24], now[24], gwid[16];
    sodium_bin2hex(vhex, sizeof vhex, st->pass.visitor, sizeof st->pass.visitor);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)st->pass.serial);
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", q->worker);
    const char *argv[] = {r->keys.k[WR_KEY_ACTIVE],
                          r->keys.k[WR_KEY_LOG],
                          r->keys.k[WR_KEY_ENDED],
                          r->keys.k[WR_KEY_OWED],
                          r->keys.k[WR_KEY_REVOKED],
                          serial,
                          vhex,
                          now,
                          reason,
                          gwid,
                          r->log_maxlen,
                          r->pass_life_ms};
    wr_redis_eval(&r->owner->redis, WR_LUA_RELEASE, on_fire_and_forget, "release", 5, 12, argv, NULL);
}

/* Ends, extends or renews the session of the pass this request carried; the header line for the client. */
static const char *pass_answered(gw_queue_t *q, gw_qreq_t *st, int status, bool release) {
    const wr_room_cfg_t *cfg = st->pass_room;
    gw_room_t *r = cfg && q->has_rooms ? gw_rooms_find(&q->rooms, cfg) : NULL;
    if (!r)
        return NULL;
    int64_t now_s = wr_wall_ms() / 1000;
    wr_token_t *p = &st->pass;
    if (release || (st->pass_completion && status >= 200 && status < 400)) {
        session_call(q, st, r, release ? "released" : "completed", 0, 0);
        st->pass_room = NULL; /* once per request */
        if (gw_tokens_cookie_without(WR_TOKEN_PASS, &st->pass_jar, st->set_cookie, sizeof st->set_cookie,
                                     now_s, st->secure) < 0)
            return "Set-Cookie: wr_p=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\r\n";
        return st->set_cookie;
    }
    const char *renewed = st->renewed ? st->set_cookie : NULL; /* renewed before the request went on */
    if (status < 500 || cfg->grace_s <= 0)
        return renewed;
    /* Grace: the time the site failed the buyer is given back, bounded: never past a whole fresh session
     * plus the grace from now, and never past the session's last moment (max_until, session_max_s after
     * the claim) plus one grace_s, however many failures come. max_until itself never moves. */
    int64_t ttl = gw_room_session_ttl(r);
    int64_t end = p->expires_at + cfg->grace_s;
    if (end > now_s + ttl + cfg->grace_s)
        end = now_s + ttl + cfg->grace_s;
    if (end > p->max_until + cfg->grace_s)
        end = p->max_until + cfg->grace_s;
    if (end <= p->expires_at) {
        session_call(q, st, r, "grace", p->expires_at * 1000, status); /* still logged for support */
        return renewed;
    }
    p->expires_at = end; /* issued_at stays: a grace is no proof the session is still live in Redis */
    if (gw_tokens_cookie(q, cfg->name, p, &st->pass_jar, st->set_cookie, sizeof st->set_cookie, now_s,
                         st->secure) < 0)
        return renewed;
    session_call(q, st, r, "grace", end * 1000, status);
    return st->set_cookie;
}

bool gw_session_renew_due(gw_queue_t *q, const gw_room_t *r, const wr_token_t *pass, int64_t now_s) {
    (void)q;
    int64_t ttl = gw_room_session_ttl(r);
    return pass->expires_at - now_s <= ttl / 2 && pass->expires_at < pass->max_until;
}

/* extend.lua's answer to a renewal: the session is live (renewed, or its end stays) and the request goes
 * on to the origin; or it is over and the buyer is told so; or Redis is in trouble and the request goes
 * on with the pass it has. */
static void on_renewed(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_queue_t *q;
    gw_req_t *req = gw_gate_call_end(arg, &q);
    if (!req)
        return;
    gw_qreq_t *st = gw_qreq(req);
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    if (rep && rep->type == REDIS_REPLY_INTEGER && v == -1) { /* over: -2 (Redis lost it) keeps the pass */
        gw_answer_ended(q, req, st->room, st->json);
        return;
    }
    if (v == 1) {
        int64_t now_s = wr_wall_ms() / 1000;
        wr_token_t p = st->pass;
        p.expires_at = st->renew_end_s;
        p.issued_at = st->renew_now_ms; /* when Redis confirmed it live: a revocation after that wins */
        if (gw_tokens_cookie(q, st->pass_room->name, &p, &st->pass_jar, st->set_cookie, sizeof st->set_cookie,
                             now_s, st->secure) == 0) {
            st->pass = p;
            st->renewed = true;
        }
    }
    gw_req_forward(req);
}

void gw_session_renew(gw_queue_t *q, gw_req_t *req, gw_room_t *r) {
    gw_qreq_t *st = gw_qreq(req);
    int64_t now_s = wr_wall_ms() / 1000;
    int64_t end = now_s + gw_room_session_ttl(r);
    if (end > st->pass.max_until)
        end = st->pass.max_until;
    st->renew_end_s = end;
    st->room = r;
    gw_qcall_t *call = gw_gate_call_new(q, req);
    if (!call) {
        gw_req_forward(req);
        return;
    }
    GW_ROOM_INC(r, renewals);
    st->renew_now_ms = wr_wall_ms();
    gw_req_hold(req, q->cfg->send_timeout_ms);
    extend_call(q, st, r, st->renew_now_ms, end * 1000, "extended", 0, on_renewed, call);
}

const char *gw_session_pass_header(gw_queue_t *q, gw_req_t *req, size_t *len) {
    gw_qreq_t *st = gw_qreq(req);
    if (!st->pass_room || !q->pass_sk || !q->passsig_cache)
        return NULL;
    const wr_token_t *p = &st->pass;
    gw_passsig_cache_t *e =
        &q->passsig_cache[(p->visitor[0] | (unsigned)p->visitor[1] << 8) % GW_PASSSIG_CACHE_SLOTS];
    if (e->room != st->pass_room->name || e->expires != p->expires_at || e->serial != p->serial ||
        memcmp(e->visitor, p->visitor, sizeof e->visitor) != 0) {
        wr_passsig_t ps = {.serial = p->serial, .expires = p->expires_at};
        snprintf(ps.room, sizeof ps.room, "%s", st->pass_room->name);
        memcpy(ps.visitor, p->visitor, sizeof ps.visitor);
        static const char name[] = "Waitroom-Pass: ";
        memcpy(e->line, name, sizeof name - 1);
        long n = wr_passsig_sign(q->pass_sk, &ps, e->line + sizeof name - 1,
                                 sizeof e->line - (sizeof name - 1) - 2);
        if (n < 0) { /* cannot happen with config-checked room names; said, not silent */
            e->room = NULL;
            WR_WARN("Waitroom-Pass not signed", "room=%s", st->pass_room->name);
            return NULL;
        }
        memcpy(e->line + sizeof name - 1 + n, "\r\n", 2);
        e->len = (uint16_t)(sizeof name - 1 + (size_t)n + 2);
        e->room = st->pass_room->name;
        memcpy(e->visitor, p->visitor, sizeof e->visitor);
        e->serial = p->serial;
        e->expires = p->expires_at;
    }
    *len = e->len;
    return e->line;
}

/* Counts the answer in the room's signals when the visitor was admitted (wr-admission steers by
 * them), and remembers a Waitroom-Inventory header for the room. */
static void origin_answered(gw_queue_t *q, gw_qreq_t *st, const gw_hdrs_t *hs, int status,
                            uint64_t latency_us) {
    const wr_config_t *wc = q->cfg;
    const wr_room_cfg_t *cfg = st->pass_room ? st->pass_room : wc->nrooms == 1 ? &wc->rooms[0] : NULL;
    gw_room_t *r = cfg && q->has_rooms ? gw_rooms_find(&q->rooms, cfg) : NULL;
    if (!r)
        return;
    if (st->pass_room)
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
    gw_room_inventory(r, left, uv_now(q->loop));
}

const char *gw_session_answered(gw_queue_t *q, gw_req_t *req, int status, const gw_hdrs_t *hs,
                                uint64_t latency_us) {
    gw_qreq_t *st = gw_qreq(req);
    if (!q->has_rooms)
        return NULL;
    /* the origin's health as the room's admitted visitors see it, and what is left */
    origin_answered(q, st, hs, status, latency_us);
    if (!st->pass_room)
        return NULL;
    long rel = gw_hdr_find(hs, "waitroom-release");
    bool done =
        rel >= 0 && hs->h[rel].value_len == 4 && strncasecmp(hs->base + hs->h[rel].value_off, "done", 4) == 0;
    return pass_answered(q, st, status, done);
}

bool gw_session_failed(gw_queue_t *q, gw_req_t *req, int status, bool can_answer) {
    gw_qreq_t *st = gw_qreq(req);
    gw_room_t *r = st->pass_room && q->has_rooms ? gw_rooms_find(&q->rooms, st->pass_room) : NULL;
    if (r)
        gw_room_signal(r, status, 0, status == 504);
    /* an admitted buyer failed by the site: the session is extended (grace) and they are told so */
    const wr_room_cfg_t *room = st->pass_room;
    const char *extra = room && can_answer ? pass_answered(q, st, status, false) : NULL;
    if (!extra)
        return false;
    char body[512];
    int n = snprintf(body, sizeof body,
                     "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>The site had a "
                     "problem</title><body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;"
                     "padding:0 1em\"><h1>The ticket site had a problem (%d)</h1><p>This was not your "
                     "fault. Your turn has been extended by %lld minutes: please try again.</p></body>"
                     "</html>\n",
                     status, (long long)(room->grace_s + 59) / 60);
    gw_req_respond(req, status, extra, "text/html; charset=utf-8", body, (size_t)n);
    return true;
}
