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

/* release.lua or extend.lua for the pass this request carried; nobody waits for the answer. */
static void session_call(gw_queue_t *q, gw_qreq_t *st, gw_room_t *r, const char *reason, int64_t new_end_ms,
                         int status) {
    if (!strcmp(reason, "released"))
        GW_ROOM_INC(r, releases);
    else if (!strcmp(reason, "completed"))
        GW_ROOM_INC(r, completions);
    else if (!strcmp(reason, "grace"))
        GW_ROOM_INC(r, graces);
    char vhex[33], serial[24], now[24], gwid[16], end[24], code[8];
    sodium_bin2hex(vhex, sizeof vhex, st->pass.visitor, sizeof st->pass.visitor);
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)st->pass.serial);
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    snprintf(gwid, sizeof gwid, "w%d", q->worker);
    if (new_end_ms == 0) {
        const char *argv[] = {r->keys.k[WR_KEY_ACTIVE],
                              r->keys.k[WR_KEY_LOG],
                              r->keys.k[WR_KEY_ENDED],
                              r->keys.k[WR_KEY_OWED],
                              serial,
                              vhex,
                              now,
                              reason,
                              gwid,
                              r->log_maxlen};
        wr_redis_eval(&r->owner->redis, WR_LUA_RELEASE, on_fire_and_forget, "release", 4, 10, argv, NULL);
        return;
    }
    snprintf(end, sizeof end, "%lld", (long long)new_end_ms);
    snprintf(code, sizeof code, "%d", status);
    const char *argv[] = {r->keys.k[WR_KEY_ACTIVE],
                          r->keys.k[WR_KEY_LOG],
                          r->keys.k[WR_KEY_OWED],
                          serial,
                          vhex,
                          now,
                          end,
                          reason,
                          gwid,
                          r->log_maxlen,
                          code};
    wr_redis_eval(&r->owner->redis, WR_LUA_EXTEND, on_fire_and_forget, "extend", 3, 11, argv, NULL);
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
            session_call(q, st, r, "grace", p->expires_at * 1000, status); /* still logged for support */
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
    if (gw_tokens_cookie(q, cfg->name, p, &st->pass_jar, st->set_cookie, sizeof st->set_cookie, now_s,
                         st->secure) < 0)
        return NULL;
    session_call(q, st, r, why, end * 1000, status >= 500 ? status : 0);
    return st->set_cookie;
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
