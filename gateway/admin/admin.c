/* Admin HTTP: one request per connection (common/httpd), answered from the workers' metrics, the config
 * and the room API's own Redis connection. One table (`routes`, near the end) names every endpoint, and
 * one dispatcher (handle) applies the rules of admin.h to all of them: reads (GET, HEAD) of health,
 * metrics and the dashboard page are open; other reads are open from loopback unless admin_reads = token;
 * writes (PATCH /v1/rooms/NAME) always need the bearer token. Errors are JSON with their status. */
#include "gateway/admin/admin.h"
#include "gateway/admin/metrics.h"

#include "common/clock.h"
#include "common/history.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/signals.h"
#include "admin_assets.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADMIN_MAX_CONNS 64
#define ADMIN_REQ_MAX_BYTES 8192
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_RESP_MAX_BYTES (256 * 1024)
#define ADMIN_METRICS_MAX_BYTES (4 * 1024 * 1024)

typedef struct room_op room_op_t;
typedef wr_httpd_req_t admin_conn_t; /* one request, one connection (common/httpd) */
#define ADMIN(c) ((gw_admin_t *)(c)->srv->arg)

static void respond(admin_conn_t *c, int status, const char *reason, const char *ctype, const char *body,
                    size_t body_len) {
    wr_httpd_respond(c, status, reason, ctype, body, body_len);
}

static void respond_json(admin_conn_t *c, int status, const char *reason, json_t *doc) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(doc);
    size_t n = text ? strlen(text) : 0;
    char *body = text ? malloc(n + 1) : NULL;
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\",\"field\":null}\n";
        respond(c, 500, "Internal Server Error", "application/json", oom, sizeof oom - 1);
    } else {
        memcpy(body, text, n);
        body[n] = '\n';
        respond(c, status, reason, "application/json", body, n + 1);
    }
    free(body);
    free(text);
}

static void json_error_field(admin_conn_t *c, int status, const char *reason, const char *msg,
                             const char *field) {
    respond_json(c, status, reason, json_pack("{s:s, s:s?}", "error", msg, "field", field));
}

static void json_error(admin_conn_t *c, int status, const char *reason, const char *msg) {
    json_error_field(c, status, reason, msg, NULL);
}

/* ---- auth ---------------------------------------------------------------------------------------- */

/* "Bearer <token>" against the admin token, in constant time (both sides hashed first, so neither the
 * content nor the length leaks through timing). */
static bool bearer_ok(admin_conn_t *c) {
    gw_admin_t *a = ADMIN(c);
    if (c->auth_long || a->token_len == 0 || c->auth_len < 7 || strncasecmp(c->auth, "Bearer ", 7) != 0)
        return false;
    uint8_t h1[crypto_generichash_BYTES], h2[crypto_generichash_BYTES];
    crypto_generichash(h1, sizeof h1, (const uint8_t *)c->auth + 7, c->auth_len - 7, NULL, 0);
    crypto_generichash(h2, sizeof h2, (const uint8_t *)a->token, a->token_len, NULL, 0);
    return sodium_memcmp(h1, h2, sizeof h1) == 0;
}

/* Loopback reads need a Host of this machine too: a page elsewhere that rebinds its name to 127.0.0.1
 * reaches loopback from the buyer's or operator's browser, but with its own name as Host. */
static bool may_read(admin_conn_t *c) {
    return (!ADMIN(c)->cfg->admin_reads_need_token && wr_httpd_from_loopback(c) &&
            wr_httpd_host_is_local(c)) ||
           bearer_ok(c);
}

/* ---- rooms ---------------------------------------------------------------------------------------- */

struct room_op {
    admin_conn_t *c; /* NULL once the client went away */
    const wr_room_cfg_t *room;
    int pending;
    bool failed;
    long long counts[5]; /* seq, boundary, waiting, admitted_unclaimed, active */
    wr_sig_counts_t sig;
    bool fresh;
    int64_t inventory;
    json_t *ctl;  /* the controller's record, as strings */
    json_t *live; /* the organiser's live settings (wr:{ROOM}:cfg), as strings */
};

static const wr_room_cfg_t *find_room(const wr_config_t *cfg, const char *name, size_t len) {
    for (size_t i = 0; i < cfg->nrooms; i++)
        if (strlen(cfg->rooms[i].name) == len && memcmp(cfg->rooms[i].name, name, len) == 0)
            return &cfg->rooms[i];
    return NULL;
}

/* A room's Redis keys, formatted per request (admin requests are rare): config validated the name, and
 * common/keys.c asserts that every valid name fits, so this cannot fail. */
static void room_keys(wr_room_keys_t *keys, const wr_room_cfg_t *room) {
    (void)wr_room_keys_init(keys, room->name);
}

static json_t *room_config_json(const wr_room_cfg_t *r) {
    json_t *paths = json_array(), *hosts = json_array();
    for (size_t i = 0; i < r->npaths; i++)
        json_array_append_new(paths, json_string(r->paths[i]));
    for (size_t i = 0; i < r->nhosts; i++)
        json_array_append_new(hosts, json_string(r->hosts[i]));
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:o, s:I}", "name", r->name, "state",
                     wr_room_state_name(r->state), "mode", r->mode == WR_MODE_ADAPTIVE ? "adaptive" : "fixed",
                     "paths", paths, "hosts", hosts, "rate_per_minute", (json_int_t)r->rate_per_minute,
                     "max_active", (json_int_t)r->max_active, "open_at",
                     r->open_at > 0 ? json_integer(r->open_at) : json_null(), "session_ttl_s",
                     (json_int_t)r->session_ttl_s);
}

static json_t *ctl_field(json_t *ctl, const char *k) {
    json_t *v = ctl ? json_object_get(ctl, k) : NULL;
    return v ? json_incref(v) : json_null();
}

static void room_answer(room_op_t *op) {
    admin_conn_t *c = op->c;
    if (!c) {
        json_decref(op->ctl);
        json_decref(op->live);
        free(op);
        return;
    }
    c->waiter = NULL;
    if (op->failed) {
        json_decref(op->ctl);
        json_decref(op->live);
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the room's live state is unknown");
        free(op);
        return;
    }
    const wr_room_cfg_t *r = op->room;
    json_t *doc = room_config_json(r);
    /* the organiser's live settings win over the file's */
    const char *lk;
    json_t *lvv;
    json_object_foreach(op->live, lk, lvv) {
        const char *sv = json_string_value(lvv);
        if (!strcmp(lk, "state") || !strcmp(lk, "mode"))
            json_object_set_new(doc, lk, json_string(sv));
        else if (!strcmp(lk, "max_active") || !strcmp(lk, "min_rate") || !strcmp(lk, "max_rate") ||
                 !strcmp(lk, "open_at") || !strcmp(lk, "session_ttl_s"))
            json_object_set_new(doc, lk, json_integer(strtoll(sv, NULL, 10)));
    }
    json_t *live_cfg_rate = op->live ? json_object_get(op->live, "rate_per_minute") : NULL;
    const char *live_rate = op->ctl ? json_string_value(json_object_get(op->ctl, "rate_per_minute")) : NULL;
    json_t *ctl_state = op->ctl ? json_object_get(op->ctl, "sold_out") : NULL;
    bool sold_out = ctl_state && json_string_value(ctl_state) && !strcmp(json_string_value(ctl_state), "1");
    const char *st_now = json_string_value(json_object_get(doc, "state"));
    if (sold_out && st_now && !strcmp(st_now, "open"))
        json_object_set_new(doc, "state", json_string("sold_out"));
    json_object_set_new(doc, "configured_rate_per_minute",
                        json_integer(live_cfg_rate ? strtoll(json_string_value(live_cfg_rate), NULL, 10)
                                                   : r->rate_per_minute));
    if (live_rate)
        json_object_set_new(doc, "rate_per_minute", json_real(strtod(live_rate, NULL)));
    json_object_set_new(doc, "waiting", json_integer(op->counts[2]));
    json_object_set_new(doc, "admitted_not_claimed", json_integer(op->counts[3]));
    json_object_set_new(doc, "active_sessions", json_integer(op->counts[4]));
    json_object_set_new(doc, "boundary", json_integer(op->counts[1]));
    json_object_set_new(doc, "last_serial", json_integer(op->counts[0]));
    json_object_set_new(doc, "admitted_last_minute", ctl_field(op->ctl, "admitted_last_minute"));
    json_object_set_new(doc, "inventory", op->inventory >= 0 ? json_integer(op->inventory) : json_null());
    json_t *origin = json_object();
    json_object_set_new(origin, "fresh", json_boolean(op->fresh));
    json_object_set_new(origin, "requests", json_integer((json_int_t)op->sig.requests));
    json_object_set_new(origin, "p50_ms",
                        op->sig.requests ? json_real(wr_sig_quantile_ms(&op->sig, 0.5)) : json_null());
    json_object_set_new(origin, "p99_ms",
                        op->sig.requests ? json_real(wr_sig_quantile_ms(&op->sig, 0.99)) : json_null());
    json_object_set_new(origin, "error_rate",
                        op->sig.requests ? json_real(wr_sig_error_rate(&op->sig)) : json_null());
    json_object_set_new(doc, "origin", origin);
    json_t *ctl = json_object();
    static const char *const keys[] = {"leader", "epoch", "tick_ms", "reason", "limit", "admitted"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        json_object_set_new(ctl, keys[i], ctl_field(op->ctl, keys[i]));
    json_object_set_new(doc, "controller", ctl);
    json_object_set_new(doc, "now_ms", json_integer((json_int_t)wr_wall_ms()));
    json_decref(op->ctl);
    json_decref(op->live);
    respond_json(c, 200, "OK", doc);
    free(op);
}

static void on_room_counts(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    room_op_t *op = arg;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 8 ||
        rep->element[5]->type != REDIS_REPLY_ARRAY) {
        op->failed = true;
    } else {
        for (int i = 0; i < 5; i++)
            op->counts[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ? rep->element[i]->integer : 0;
        uint64_t now = (uint64_t)wr_wall_ms(), newest = 0;
        const redisReply *lv = rep->element[6];
        if (lv->type == REDIS_REPLY_ARRAY && lv->elements) {
            op->live = json_object();
            for (size_t i = 0; i + 1 < lv->elements; i += 2)
                if (lv->element[i]->type == REDIS_REPLY_STRING &&
                    lv->element[i + 1]->type == REDIS_REPLY_STRING)
                    json_object_set_new(op->live, lv->element[i]->str,
                                        json_stringn(lv->element[i + 1]->str, lv->element[i + 1]->len));
        }
        const redisReply *h = rep->element[5];
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const redisReply *v = h->element[i + 1];
            uint64_t end;
            int64_t inv;
            wr_sig_counts_t one = {0};
            if (v->type != REDIS_REPLY_STRING || wr_sig_parse(v->str, v->len, &end, &inv, &one) < 0 ||
                end + 3000 < now)
                continue;
            op->fresh = true;
            wr_sig_merge(&op->sig, &one);
            if (inv >= 0 && end >= newest) {
                op->inventory = inv;
                newest = end;
            }
        }
    }
    if (--op->pending == 0)
        room_answer(op);
}

static void on_room_ctl(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    room_op_t *op = arg;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        op->failed = true;
    } else if (rep->elements) {
        op->ctl = json_object();
        for (size_t i = 0; i + 1 < rep->elements; i += 2)
            if (rep->element[i]->type == REDIS_REPLY_STRING &&
                rep->element[i + 1]->type == REDIS_REPLY_STRING)
                json_object_set_new(op->ctl, rep->element[i]->str,
                                    json_stringn(rep->element[i + 1]->str, rep->element[i + 1]->len));
    }
    if (--op->pending == 0)
        room_answer(op);
}

static void room_get(admin_conn_t *c, const wr_room_cfg_t *room) {
    gw_admin_t *a = ADMIN(c);
    if (!a->redis_on || !a->redis.connected) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the room's live state is unknown");
        return;
    }
    room_op_t *op = calloc(1, sizeof *op);
    if (!op) {
        json_error(c, 500, "Internal Server Error", "out of memory");
        return;
    }
    op->c = c;
    c->waiter = &op->c;
    op->room = room;
    op->inventory = -1;
    op->pending = 2;
    wr_room_keys_t keys;
    room_keys(&keys, room);
    const char *argv[] = {keys.k[WR_KEY_SEQ],      keys.k[WR_KEY_BOUNDARY], keys.k[WR_KEY_LEFT],
                          keys.k[WR_KEY_ADMITTED], keys.k[WR_KEY_ACTIVE],   keys.k[WR_KEY_REJOIN],
                          keys.k[WR_KEY_SIG],      keys.k[WR_KEY_CFG],      keys.k[WR_KEY_CTL]};
    wr_redis_eval(&a->redis, WR_LUA_COUNTS, on_room_counts, op, 9, 9, argv, NULL);
    const char *hv[] = {"HGETALL", keys.k[WR_KEY_CTL]};
    wr_redis_argv(&a->redis, on_room_ctl, op, 2, hv, NULL);
}

static void rooms_list(admin_conn_t *c, const wr_room_cfg_t *room) {
    (void)room;
    json_t *list = json_array();
    for (size_t i = 0; i < ADMIN(c)->cfg->nrooms; i++)
        json_array_append_new(list, room_config_json(&ADMIN(c)->cfg->rooms[i]));
    respond_json(c, 200, "OK", json_pack("{s:o}", "rooms", list));
}

/* ---- GET /v1/rooms/NAME/log ---------------------------------------------------------------------- */

#define LOG_SCAN_MAX 10000 /* audit entries looked at per request, whatever the filter */
#define LOG_PAGE_MAX 1000

typedef struct {
    admin_conn_t *c; /* first: orphaned like a room read */
    char visitor[40], serial[24];
    size_t limit;
} log_op_t;

/* The query parameter `name`, copied (at most cap-1 bytes; only [A-Za-z0-9-] kept). */
static bool query_param(const char *url, size_t ul, const char *name, char *out, size_t cap) {
    const char *q = memchr(url, '?', ul);
    if (!q)
        return false;
    size_t nl = strlen(name), i = (size_t)(q - url) + 1;
    while (i < ul) {
        size_t end = i;
        while (end < ul && url[end] != '&')
            end++;
        if (end - i > nl && url[i + nl] == '=' && memcmp(url + i, name, nl) == 0) {
            size_t o = 0;
            for (size_t k = i + nl + 1; k < end && o + 1 < cap; k++) {
                char ch = url[k];
                if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    ch == '-')
                    out[o++] = ch;
            }
            out[o] = '\0';
            return true;
        }
        i = end + 1;
    }
    return false;
}

static void on_log(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    log_op_t *lo = arg;
    admin_conn_t *c = lo->c;
    if (!c) {
        free(lo);
        return;
    }
    c->waiter = NULL;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        free(lo);
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the audit stream cannot be read");
        return;
    }
    json_t *events = json_array();
    const char *next = NULL;
    char serials[64][24]; /* serials this visitor held, learned while scanning (joined, drawn, rejoined) */
    size_t nserials = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        next = e->element[0]->str;
        const redisReply *f = e->element[1];
        json_t *ev = json_object();
        json_object_set_new(ev, "id", json_string(e->element[0]->str));
        const char *visitor = NULL, *serial = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (f->element[k]->type != REDIS_REPLY_STRING || f->element[k + 1]->type != REDIS_REPLY_STRING)
                continue;
            json_object_set_new(ev, f->element[k]->str,
                                json_stringn(f->element[k + 1]->str, f->element[k + 1]->len));
            if (!strcmp(f->element[k]->str, "visitor"))
                visitor = f->element[k + 1]->str;
            else if (!strcmp(f->element[k]->str, "serial"))
                serial = f->element[k + 1]->str;
        }
        bool keep = true;
        if (lo->visitor[0]) {
            keep = visitor && !strcmp(visitor, lo->visitor);
            if (keep && serial && strcmp(serial, "0") != 0 && nserials < 64) {
                bool known = false;
                for (size_t k = 0; k < nserials; k++)
                    known = known || !strcmp(serials[k], serial);
                if (!known)
                    snprintf(serials[nserials++], sizeof serials[0], "%s", serial);
            }
            for (size_t k = 0; !keep && serial && k < nserials; k++)
                keep = !strcmp(serials[k], serial);
        }
        if (keep && lo->serial[0])
            keep = serial && !strcmp(serial, lo->serial);
        if (keep)
            json_array_append_new(events, ev);
        else
            json_decref(ev);
        if (json_array_size(events) >= lo->limit)
            break;
    }
    bool more = rep->elements == LOG_SCAN_MAX || json_array_size(events) >= lo->limit;
    json_t *doc = json_pack("{s:o, s:s?}", "events", events, "next", more ? next : NULL);
    free(lo);
    respond_json(c, 200, "OK", doc);
}

static void room_log(admin_conn_t *c, const wr_room_cfg_t *room) {
    gw_admin_t *a = ADMIN(c);
    const char *url = c->url;
    size_t ul = c->url_len;
    if (!a->redis_on || !a->redis.connected) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the audit stream cannot be read");
        return;
    }
    log_op_t *lo = calloc(1, sizeof *lo);
    if (!lo) {
        json_error(c, 500, "Internal Server Error", "out of memory");
        return;
    }
    char after[48] = "", limit[16] = "";
    query_param(url, ul, "visitor", lo->visitor, sizeof lo->visitor);
    query_param(url, ul, "serial", lo->serial, sizeof lo->serial);
    query_param(url, ul, "after", after, sizeof after);
    lo->limit = query_param(url, ul, "limit", limit, sizeof limit) ? (size_t)strtoul(limit, NULL, 10) : 100;
    if (lo->limit == 0 || lo->limit > LOG_PAGE_MAX)
        lo->limit = LOG_PAGE_MAX;
    lo->c = c;
    c->waiter = &lo->c;
    wr_room_keys_t keys;
    room_keys(&keys, room);
    char start[56], count[16];
    snprintf(start, sizeof start, "%s%s", after[0] ? "(" : "", after[0] ? after : "-");
    snprintf(count, sizeof count, "%d", LOG_SCAN_MAX);
    const char *argv[] = {"XRANGE", keys.k[WR_KEY_LOG], start, "+", "COUNT", count};
    wr_redis_argv(&a->redis, on_log, lo, 6, argv, NULL);
}

/* ---- one Redis call for one request about one room ---------------------------------------------- */

/* c goes NULL if the client leaves first (c->waiter points at it). */
typedef struct {
    admin_conn_t *c;
    const wr_room_cfg_t *room;
} room_call_t;

static room_call_t *room_call(admin_conn_t *c, const wr_room_cfg_t *room) {
    room_call_t *rc = calloc(1, sizeof *rc);
    if (!rc) {
        json_error(c, 500, "Internal Server Error", "out of memory");
        return NULL;
    }
    rc->c = c;
    rc->room = room;
    c->waiter = &rc->c;
    return rc;
}

/* The call's answer came: frees it; returns the request (NULL if it is gone) and its room. */
static admin_conn_t *room_call_end(void *arg, const wr_room_cfg_t **room) {
    room_call_t *rc = arg;
    admin_conn_t *c = rc->c;
    *room = rc->room;
    free(rc);
    if (c)
        c->waiter = NULL;
    return c;
}

/* ---- GET /v1/rooms/NAME/history ------------------------------------------------------------------ */

static json_t *or_null(double v) {
    return v < 0 ? json_null() : json_real(v);
}

static void on_history(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    const wr_room_cfg_t *room;
    admin_conn_t *c = room_call_end(arg, &room);
    if (!c)
        return;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the room's history cannot be read");
        return;
    }
    json_t *samples = json_array();
    for (size_t i = rep->elements; i-- > 0;) { /* the list is newest first; the answer oldest first */
        const redisReply *e = rep->element[i];
        wr_hist_sample_t s;
        if (e->type != REDIS_REPLY_STRING || wr_hist_parse(e->str, e->len, &s) < 0)
            continue;
        json_array_append_new(
            samples, json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:s}", "t_ms", (json_int_t)s.ms,
                               "waiting", (json_int_t)s.waiting, "admitted_not_claimed",
                               (json_int_t)s.unclaimed, "active_sessions", (json_int_t)s.active,
                               "admitted_last_minute", (json_int_t)s.admitted_last_minute, "rate_per_minute",
                               s.rate_per_minute, "limit", s.limit, "origin_p99_ms", or_null(s.p99_ms),
                               "origin_error_rate", or_null(s.error_rate), "reason", s.reason));
    }
    json_t *doc = json_pack("{s:s, s:i, s:i, s:o}", "room", room->name, "interval_ms", WR_HIST_INTERVAL_MS,
                            "max_samples", WR_HIST_SAMPLES, "samples", samples);
    respond_json(c, 200, "OK", doc);
}

/* The last 15 minutes as the admission leader sampled them (common/history.h); empty until a
 * controller has run. */
static void room_history(admin_conn_t *c, const wr_room_cfg_t *room) {
    gw_admin_t *a = ADMIN(c);
    if (!a->redis_on || !a->redis.connected) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the room's history cannot be read");
        return;
    }
    room_call_t *call = room_call(c, room);
    if (!call)
        return;
    wr_room_keys_t keys;
    room_keys(&keys, room);
    char last[16];
    snprintf(last, sizeof last, "%d", WR_HIST_SAMPLES - 1);
    const char *argv[] = {"LRANGE", keys.k[WR_KEY_HIST], "0", last};
    wr_redis_argv(&a->redis, on_history, call, 4, argv, NULL);
}

/* ---- GET /v1/config ------------------------------------------------------------------------------- */

static void config_get(admin_conn_t *c, const wr_room_cfg_t *room) {
    (void)room;
    const wr_config_t *cfg = ADMIN(c)->cfg;
    json_t *rooms = json_array();
    for (size_t i = 0; i < cfg->nrooms; i++) {
        const wr_room_cfg_t *r = &cfg->rooms[i];
        json_t *o = room_config_json(r);
        json_object_update_new(
            o, json_pack("{s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s?, s:I, s:I}",
                         "min_rate", (json_int_t)r->min_rate, "max_rate", (json_int_t)r->max_rate,
                         "target_p99_ms", (json_int_t)r->target_p99_ms, "max_error_rate", r->max_error_rate,
                         "claim_window_s", (json_int_t)r->claim_window_s, "session_ttl_s",
                         (json_int_t)r->session_ttl_s, "session_max_s", (json_int_t)r->session_max_s,
                         "grace_s", (json_int_t)r->grace_s, "abandon_after_s", (json_int_t)r->abandon_after_s,
                         "queue_token_ttl_s", (json_int_t)r->queue_token_ttl_s, "open_at",
                         (json_int_t)r->open_at, "fail_open", r->fail_open, "page_template", r->page_template,
                         "log_max_entries", (json_int_t)r->log_max_entries, "burst", (json_int_t)r->burst));
        json_array_append_new(rooms, o);
    }
    char listen[300], admin[300], origin[300];
    snprintf(listen, sizeof listen, "%s:%u", cfg->listen.host, cfg->listen.port);
    snprintf(admin, sizeof admin, "%s:%u", cfg->admin_listen.host, cfg->admin_listen.port);
    snprintf(origin, sizeof origin, "%s", cfg->origin_url ? cfg->origin_url : "");
    /* secrets are never shown: the key and token files' contents stay out, only where they are */
    json_t *hosts = json_array(); /* [gateway] hosts: empty = unset */
    for (size_t i = 0; i < cfg->nhosts; i++)
        json_array_append_new(hosts, json_string(cfg->hosts[i]));
    json_t *doc =
        json_pack("{s:s, s:{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:o}, s:{s:s, s:s?}, s:{s:s, s:s}, s:o}",
                  "file", cfg->path ? cfg->path : "", "gateway", "listen", listen, "admin_listen", admin,
                  "workers", cfg->workers, "key_file", cfg->key_file ? cfg->key_file : "", "admin_token_file",
                  cfg->admin_token_file ? cfg->admin_token_file : "", "admin_reads",
                  cfg->admin_reads_need_token ? "token" : "loopback", "max_connections",
                  (json_int_t)cfg->max_connections, "hosts", hosts, "origin", "url", origin,
                  "pass_signing_key_file", cfg->pass_signing_key_file, "redis", "url",
                  cfg->redis_url ? cfg->redis_url : "", "secrets", "redacted", "rooms", rooms);
    respond_json(c, 200, "OK", doc);
}

/* ---- PATCH /v1/rooms/NAME ----------------------------------------------------------------------- */

static void on_configured(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    const wr_room_cfg_t *room;
    admin_conn_t *c = room_call_end(arg, &room);
    if (!c)
        return;
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: nothing was changed");
        return;
    }
    if (rep->integer < 0) {
        json_error_field(c, 409, "Conflict", "the room has opened: its draw is done, nothing was changed",
                         "open_at");
        return;
    }
    room_get(c, room); /* the answer is the room's new state */
}

/* open_at: unix seconds or an RFC 3339 time ("2026-12-01T18:00:00Z"), for a scheduled room, not long
 * past (then the room opens at once) and within a year and a bit. */
static const char *patch_open_at(const wr_room_cfg_t *room, json_t *v, char *out, size_t cap) {
    if (room->state != WR_ROOM_SCHEDULED)
        return "only a room configured with state = scheduled has an opening time";
    int64_t at;
    if (json_is_integer(v))
        at = json_integer_value(v);
    else if (!json_is_string(v) || wr_parse_rfc3339(json_string_value(v), &at) < 0)
        return "must be unix seconds or an RFC 3339 time such as 2026-12-01T18:00:00Z";
    int64_t now_s = wr_wall_ms() / 1000;
    if (at < now_s - 60 || at > now_s + 400 * 86400)
        return "must be from a minute ago to 400 days ahead";
    snprintf(out, cap, "%lld", (long long)at);
    return NULL;
}

/* Checks one field of a PATCH; on success writes its value as text and its stored name (the config
 * key's). Returns an error message or NULL. */
static const char *patch_field(const wr_room_cfg_t *room, const char *k, json_t *v, char *out, size_t cap,
                               const char **name) {
    *name = k;
    if (!strcmp(k, "open_at"))
        return patch_open_at(room, v, out, cap);
    if (!strcmp(k, "session_ttl_s") || !strcmp(k, "session_ttl")) {
        *name = "session_ttl_s";
        if (!json_is_integer(v) || json_integer_value(v) < 10 || json_integer_value(v) > room->session_max_s)
            return "must be whole seconds, from 10 to the room's session_max_s";
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        return NULL;
    }
    static const struct {
        const char *name;
        json_int_t max;
    } ints[] = {{"rate_per_minute", 10000000},
                {"max_active", 100000000},
                {"min_rate", 10000000},
                {"max_rate", 10000000},
                {"inventory_remaining", 1000000000}};
    if (!strcmp(k, "state")) {
        const char *st = json_string_value(v);
        if (!st)
            return "must be a string";
        if (!strcmp(st, "scheduled"))
            return "a room becomes scheduled in the configuration file (its fair draw starts there); "
                   "open_at can be moved here";
        if (strcmp(st, "open") && strcmp(st, "paused") && strcmp(st, "sold_out") && strcmp(st, "closed"))
            return "must be one of open, paused, sold_out, closed";
        snprintf(out, cap, "%s", st);
        return NULL;
    }
    if (!strcmp(k, "mode")) {
        const char *m = json_string_value(v);
        if (!m || (strcmp(m, "fixed") && strcmp(m, "adaptive")))
            return "must be fixed or adaptive";
        snprintf(out, cap, "%s", m);
        return NULL;
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(k, ints[i].name) != 0)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > ints[i].max)
            return "must be a whole number, not negative, within range";
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        return NULL;
    }
    return "unknown field";
}

/* The bearer token was checked by handle, like every write's. */
static void room_patch(admin_conn_t *c, const wr_room_cfg_t *room) {
    gw_admin_t *a = ADMIN(c);
    json_error_t je;
    json_t *doc = c->body_len ? json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!doc || !json_is_object(doc)) {
        char msg[300];
        snprintf(msg, sizeof msg, "the body must be a JSON object%s%s", doc ? "" : ": ", doc ? "" : je.text);
        json_decref(doc);
        json_error(c, 400, "Bad Request", msg);
        return;
    }
    if (json_object_size(doc) == 0 || json_object_size(doc) > 8) {
        json_decref(doc);
        json_error(c, 400, "Bad Request", "nothing to change (or too much at once)");
        return;
    }
    char values[8][32], now[24], who[80], maxlen[24];
    const char *argv[7 + 16];
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        const char *name;
        const char *err = patch_field(room, k, v, values[n / 2], sizeof values[0], &name);
        if (err) {
            json_error_field(c, 400, "Bad Request", err, k);
            json_decref(doc);
            return;
        }
        argv[7 + n] = name;
        argv[7 + n + 1] = values[n / 2];
        n += 2;
    }
    json_t *lo = json_object_get(doc, "min_rate"), *hi = json_object_get(doc, "max_rate");
    if (lo && hi && json_integer_value(lo) > json_integer_value(hi)) {
        json_error_field(c, 400, "Bad Request", "is below min_rate", "max_rate");
        json_decref(doc);
        return;
    }
    if (!a->redis_on || !a->redis.connected) {
        json_decref(doc);
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: nothing was changed");
        return;
    }
    wr_room_keys_t keys;
    room_keys(&keys, room);
    argv[0] = keys.k[WR_KEY_CFG];
    argv[1] = keys.k[WR_KEY_CTL];
    argv[2] = keys.k[WR_KEY_LOG];
    argv[3] = keys.k[WR_KEY_SHUFFLE];
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    char ip[64];
    wr_httpd_peer(c, ip, sizeof ip);
    snprintf(who, sizeof who, "admin:%s", ip);
    snprintf(maxlen, sizeof maxlen, "%lld", (long long)room->log_max_entries);
    argv[4] = now;
    argv[5] = who;
    argv[6] = maxlen;
    room_call_t *call = room_call(c, room);
    if (call)
        wr_redis_eval(&a->redis, WR_LUA_CONFIGURE, on_configured, call, 4, 7 + n, argv, NULL);
    json_decref(doc); /* argv's keys point into doc: the command was copied out by hiredis already */
}

/* ---- GET /healthz, GET /metrics, GET /dashboard -------------------------------------------------- */

static void healthz(admin_conn_t *c, const wr_room_cfg_t *room) {
    (void)room;
    gw_admin_t *a = ADMIN(c);
    uint64_t conns = 0;
    for (int i = 0; i < a->nworkers; i++)
        conns += atomic_load_explicit(&gw_worker_metrics(a->workers[i])->conns_open, memory_order_relaxed);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"workers\":%d,\"connections\":%llu}\n",
                     a->draining ? "draining" : "ok", a->nworkers, (unsigned long long)conns);
    respond(c, a->draining ? 503 : 200, a->draining ? "Service Unavailable" : "OK", "application/json", body,
            (size_t)n);
}

static void metrics(admin_conn_t *c, const wr_room_cfg_t *room) {
    (void)room;
    gw_admin_t *a = ADMIN(c);
    gw_http_metrics_t *ms[256];
    gw_queue_metrics_t *qs[256];
    int n = a->nworkers < 256 ? a->nworkers : 256;
    for (int i = 0; i < n; i++) {
        ms[i] = gw_worker_metrics(a->workers[i]);
        qs[i] = gw_queue_metrics(a->queues[i]);
    }
    /* 256 KiB holds a few rooms' text; 64 rooms with long names need more: double until it fits */
    char *buf = NULL;
    long len = -1;
    for (size_t cap = ADMIN_RESP_MAX_BYTES; len < 0 && cap <= ADMIN_METRICS_MAX_BYTES; cap *= 2) {
        free(buf);
        if (!(buf = malloc(cap)))
            break;
        len =
            gw_metrics_render(ms, qs, n, a->nworkers, a->cfg, a->redis_on ? a->redis.stats : NULL, buf, cap);
    }
    if (len < 0)
        json_error(c, 500, "Internal Server Error", "metrics rendering failed");
    else
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf, (size_t)len);
    free(buf);
}

/* The page holds no data: it reads the API like any client (and sends the token it is given). */
static void dashboard(admin_conn_t *c, const wr_room_cfg_t *room) {
    (void)room;
    respond(c, 200, "OK", "text/html; charset=utf-8", wr_asset_dashboard_html, wr_asset_dashboard_html_len);
}

/* ---- routing ------------------------------------------------------------------------------------- */

typedef void route_fn(admin_conn_t *c, const wr_room_cfg_t *room);

/* One resource: its path, who may read it, and its handlers. A room route's path is what follows
 * /v1/rooms/NAME (NAME is at least one byte and may hold anything else: an unknown one is a 404). */
typedef struct {
    const char *path;
    bool room;
    bool open;               /* GET and HEAD need no token (health, metrics, the page holding no data) */
    route_fn *get, *patch;   /* get serves HEAD too (common/httpd leaves the body out); NULL = 405 */
    const char *not_allowed; /* the 405's message */
} route_t;

#define ROOMS_PREFIX "/v1/rooms/"
#define NOT_ALLOWED "method not allowed"
#define NOT_ALLOWED_API "method not allowed (reads are GET; PATCH /v1/rooms/NAME writes)"

/* First match wins: /log and /history before the bare room, whose NAME would take them in. */
static const route_t routes[] = {
    /* path, room, open, GET and HEAD, PATCH, 405's message */
    {"/dashboard", false, true, dashboard, NULL, NOT_ALLOWED},
    {"/log", true, false, room_log, NULL, NOT_ALLOWED},
    {"/history", true, false, room_history, NULL, NOT_ALLOWED},
    {"/v1/config", false, false, config_get, NULL, NOT_ALLOWED},
    {"/healthz", false, true, healthz, NULL, NOT_ALLOWED_API},
    {"/metrics", false, true, metrics, NULL, NOT_ALLOWED_API},
    {"/v1/rooms", false, false, rooms_list, NULL, NOT_ALLOWED_API},
    {"", true, false, room_get, room_patch, NOT_ALLOWED_API},
};

/* Whether the path (the URL before any '?', pl bytes) is the route's; a room route's NAME length in
 * *name_len. */
static bool route_match(const route_t *rt, const char *path, size_t pl, size_t *name_len) {
    size_t n = strlen(rt->path), pre = sizeof ROOMS_PREFIX - 1;
    if (!rt->room)
        return pl == n && memcmp(path, rt->path, n) == 0;
    if (pl <= pre + n || memcmp(path, ROOMS_PREFIX, pre) != 0 || memcmp(path + pl - n, rt->path, n) != 0)
        return false;
    *name_len = pl - pre - n;
    return true;
}

/* The path picks the route (404 if none); then the method (405), reads' access (401, before the room is
 * looked up), the room (404), and writes' bearer token (401, after it: a missing room answers 404 to
 * anyone, as it always has). */
static void handle(admin_conn_t *c) {
    size_t pl = 0, name_len = 0;
    while (pl < c->url_len && c->url[pl] != '?')
        pl++;
    const route_t *rt = NULL;
    for (size_t i = 0; !rt && i < sizeof routes / sizeof routes[0]; i++)
        if (route_match(&routes[i], c->url, pl, &name_len))
            rt = &routes[i];
    if (!rt) {
        json_error(c, 404, "Not Found",
                   "not found: /healthz, /metrics, /v1/rooms, /v1/rooms/NAME[/log|/history], /v1/config, "
                   "/dashboard");
        return;
    }
    bool read = c->method == HTTP_GET || c->method == HTTP_HEAD;
    route_fn *fn = read ? rt->get : c->method == HTTP_PATCH ? rt->patch : NULL;
    if (!fn) {
        json_error(c, 405, "Method Not Allowed", rt->not_allowed);
        return;
    }
    if (read && !rt->open && !may_read(c)) {
        json_error(c, 401, "Unauthorized", "unauthorized");
        return;
    }
    const wr_room_cfg_t *room = NULL;
    if (rt->room && !(room = find_room(ADMIN(c)->cfg, c->url + sizeof ROOMS_PREFIX - 1, name_len))) {
        json_error_field(c, 404, "Not Found", "no such room", "name");
        return;
    }
    if (!read && !bearer_ok(c)) {
        json_error(c, 401, "Unauthorized", "unauthorized");
        return;
    }
    fn(c, room);
}

int gw_admin_start(gw_admin_t *a) {
    /* the admin token, for requests from beyond loopback */
    FILE *tf = fopen(a->cfg->admin_token_file, "r");
    if (tf) {
        size_t n = fread(a->token, 1, sizeof a->token - 1, tf);
        fclose(tf);
        while (n && (a->token[n - 1] == '\n' || a->token[n - 1] == '\r' || a->token[n - 1] == ' '))
            n--;
        a->token_len = n;
    } else {
        WR_WARN("admin token unreadable: the room API answers loopback only", "path=%s",
                a->cfg->admin_token_file);
    }
    int rc = wr_httpd_start(&a->http, a->loop, a->cfg->admin_listen.host, a->cfg->admin_listen.port,
                            ADMIN_MAX_CONNS, ADMIN_REQ_MAX_BYTES, ADMIN_TIMEOUT_MS, handle, a);
    if (rc < 0) {
        a->closed = true;
        return rc;
    }
    if (a->cfg->nrooms && a->cfg->redis.port) {
        for (int i = 0; i < WR_LUA_COUNT; i++) {
            a->scripts[i].name = wr_lua_names[i];
            a->scripts[i].source = wr_lua_sources[i];
        }
        if (wr_redis_init(&a->redis, a->loop, a->cfg->redis.host, a->cfg->redis.port,
                          a->cfg->redis_timeout_ms, a->scripts, WR_LUA_COUNT, NULL, NULL) == 0)
            a->redis_on = true;
    }
    return 0;
}

void gw_admin_drain(gw_admin_t *a) {
    a->draining = true;
}

void gw_admin_close(gw_admin_t *a) {
    if (a->redis_on) {
        a->redis_on = false;
        wr_redis_close(&a->redis); /* pending reads answer with NULL: their requests get a 503 */
    }
    if (a->closed)
        return;
    a->closed = true;
    wr_httpd_close(&a->http);
}
