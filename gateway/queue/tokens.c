/* The visitor's tokens: found in the wr_q / wr_p cookies (verified once, then remembered in the worker's
 * cache), and written back as Set-Cookie beside the other rooms' tokens the cookie holds. A hostile
 * cookie of many pieces costs a bounded number of MAC checks. */
#include "gateway/queue/internal.h"

#include "common/clock.h"
#include "gateway/queue/cookie.h"

#include <sodium.h>
#include <string.h>

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

bool gw_tokens_find(gw_queue_t *q, gw_qreq_t *st, const gw_hdrs_t *hs, const char *room, wr_token_type_t type,
                    int64_t now_s, wr_token_t *out) {
    find_t f = {q->keys, room, type, now_s, out, q->token_cache, 0, 0};
    bool ok = gw_cookie_each(hs, type == WR_TOKEN_QUEUE ? "wr_q" : "wr_p", try_tokens, &f);
    st->token_reason = ok ? 0 : f.reason;
    return ok;
}

static const char *cookie_name(wr_token_type_t type) {
    return type == WR_TOKEN_QUEUE ? "wr_q" : "wr_p";
}

typedef struct {
    gw_queue_t *q;
    const wr_room_cfg_t *room; /* the room whose token is being set: its old one is not kept */
    wr_token_type_t type;
    int64_t now_s;
    gw_jar_t *jar;
    uint8_t taken[GW_JAR_TOKENS]; /* room indexes already in the jar, +1 */
    int tries;                    /* pieces looked at: bounded like find_t's */
} collect_t;

static bool collect_piece(const char *v, size_t len, void *arg) {
    collect_t *k = arg;
    const wr_config_t *cfg = k->q->cfg;
    if (len != WR_TOKEN_TEXT_BYTES || k->jar->len + len + 1 > sizeof k->jar->text ||
        ++k->tries > GW_JAR_TOKENS * 2)
        return false;
    for (size_t i = 0; i < cfg->nrooms && i < 255; i++) {
        const wr_room_cfg_t *r = &cfg->rooms[i];
        if (r == k->room)
            continue;
        wr_token_t t;
        if (wr_token_decode(k->q->keys, r->name, strlen(r->name), k->type, v, len, k->now_s, &t) != 0)
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

void gw_tokens_jar(gw_queue_t *q, const gw_hdrs_t *hs, wr_token_type_t type, const wr_room_cfg_t *room,
                   int64_t now_s, gw_jar_t *jar) {
    jar->len = 0;
    jar->max_expires = 0;
    if (q->cfg->nrooms < 2)
        return;
    collect_t k = {.q = q, .room = room, .type = type, .now_s = now_s, .jar = jar};
    gw_cookie_each(hs, cookie_name(type), collect_value, &k);
}

int gw_tokens_cookie(gw_queue_t *q, const char *room, wr_token_t *t, const gw_jar_t *jar, char *hdr,
                     size_t cap, int64_t now_s, bool secure) {
    char text[WR_TOKEN_TEXT_BYTES + 1 + GW_JAR_BYTES];
    if (wr_token_encode(q->keys, room, strlen(room), t, text, WR_TOKEN_TEXT_BYTES + 1) < 0)
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
    return gw_cookie_set(hdr, cap, cookie_name(t->type), text, len, until - now_s, secure) < 0 ? -1 : 0;
}

int gw_tokens_cookie_without(wr_token_type_t type, const gw_jar_t *jar, char *hdr, size_t cap, int64_t now_s,
                             bool secure) {
    if (!jar || !jar->len)
        return gw_cookie_set(hdr, cap, cookie_name(type), "", 0, 0, secure) < 0 ? -1 : 0;
    return gw_cookie_set(hdr, cap, cookie_name(type), jar->text, jar->len, jar->max_expires - now_s, secure) <
                   0
               ? -1
               : 0;
}

/* A token without a serial yet: the visitor has a provisional place (Redis unreachable) or is in the
 * pre-queue. It gets a serial when it next shows up with Redis back, or at the opening. */
int gw_tokens_provisional(gw_queue_t *q, gw_room_t *r, wr_token_t *t, const gw_jar_t *jar, char *hdr,
                          size_t cap, bool secure) {
    int64_t now_s = wr_wall_ms() / 1000;
    t->type = WR_TOKEN_QUEUE;
    t->serial = 0;
    if (t->max_until != 1 && t->max_until != 2) /* the pre-queue marks: in it, or it was full */
        t->max_until = 0;
    t->issued_at = now_s;
    t->expires_at = now_s + r->cfg->queue_token_ttl_s;
    return gw_tokens_cookie(q, r->cfg->name, t, jar, hdr, cap, now_s, secure);
}

void gw_tokens_leave_proof(const wr_keyring_t *keys, int k, const uint8_t visitor[16],
                           char out[GW_LEAVE_PROOF_HEX + 1]) {
    static const char ctx[] = "waitroom leave v1";
    uint8_t h[GW_LEAVE_PROOF_HEX / 2];
    crypto_generichash_state st;
    crypto_generichash_init(&st, keys->keys[k].key, sizeof keys->keys[k].key, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof ctx - 1);
    crypto_generichash_update(&st, visitor, 16);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, GW_LEAVE_PROOF_HEX + 1, h, sizeof h);
}
