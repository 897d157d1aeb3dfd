/* Admin HTTP: one request per connection, answered from the workers' metrics. */
#include "gateway/admin.h"

#include "common/clock.h"
#include "common/history.h"
#include "common/log.h"
#include "common/signals.h"
#include "page_assets.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define ADMIN_MAX_CONNS 64
#define ADMIN_REQ_MAX_BYTES 8192
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_RESP_MAX_BYTES (256 * 1024)

typedef struct room_op room_op_t;
typedef struct admin_conn admin_conn_t;

struct admin_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    llhttp_t parser;
    gw_admin_t *a;
    admin_conn_t **op_conn; /* the `c` field of the Redis call in flight for this request, if any */
    char auth[300];         /* the Authorization header, if short enough to be ours */
    size_t auth_len;
    bool auth_long, in_auth_field, in_auth_value, auth_next;
    uint32_t body_off, body_len;
    gw_list_t link;
    char *resp;
    uint32_t len, url_off, url_len;
    int pending_closes;
    bool done, closing;
    char in[ADMIN_REQ_MAX_BYTES];
};

static void ac_free(uv_handle_t *h) {
    admin_conn_t *c = h->data;
    if (--c->pending_closes)
        return;
    free(c->resp);
    free(c);
}

static void ac_close(admin_conn_t *c) {
    if (c->closing)
        return;
    c->closing = true;
    if (c->op_conn) /* the call's answer will find nobody */
        *c->op_conn = NULL;
    gw_list_remove(&c->link);
    c->a->nconns--;
    c->pending_closes = 2;
    uv_close((uv_handle_t *)&c->tcp, ac_free);
    uv_close((uv_handle_t *)&c->timer, ac_free);
}

static void on_ac_timeout(uv_timer_t *t) {
    ac_close(t->data);
}

static void on_ac_write(uv_write_t *req, int status) {
    (void)status;
    ac_close(req->data);
}

static void respond(admin_conn_t *c, int status, const char *reason, const char *ctype, const char *body,
                    size_t body_len, bool head_only) {
    char head[256];
    int hl =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                 "Connection: close\r\n\r\n",
                 status, reason, ctype, body_len);
    size_t total = (size_t)hl + (head_only ? 0 : body_len);
    c->resp = malloc(total);
    if (!c->resp) {
        ac_close(c);
        return;
    }
    memcpy(c->resp, head, (size_t)hl);
    if (!head_only)
        memcpy(c->resp + hl, body, body_len);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)total);
    c->wreq.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_ac_write) < 0)
        ac_close(c);
}

static void respond_json(admin_conn_t *c, int status, const char *reason, json_t *doc, bool head_only) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(doc);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\",\"field\":null}\n";
        respond(c, 500, "Internal Server Error", "application/json", oom, sizeof oom - 1, false);
        return;
    }
    size_t n = strlen(text);
    char *body = malloc(n + 1);
    if (body) {
        memcpy(body, text, n);
        body[n] = '\n';
        respond(c, status, reason, "application/json", body, n + 1, head_only);
    } else {
        ac_close(c);
    }
    free(body);
    free(text);
}

static void json_error_field(admin_conn_t *c, int status, const char *reason, const char *msg,
                             const char *field) {
    respond_json(c, status, reason, json_pack("{s:s, s:s?}", "error", msg, "field", field), false);
}

static void json_error(admin_conn_t *c, int status, const char *reason, const char *msg) {
    json_error_field(c, status, reason, msg, NULL);
}

static bool path_is(const char *p, size_t n, const char *want) {
    size_t wl = strlen(want);
    if (n < wl || memcmp(p, want, wl) != 0)
        return false;
    return n == wl || p[wl] == '?';
}

/* ---- auth ---------------------------------------------------------------------------------------- */

static bool from_loopback(admin_conn_t *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
    }
    return false;
}

/* "Bearer <token>" against the admin token, in constant time (both sides hashed first, so neither the
 * content nor the length leaks through timing). */
static bool bearer_ok(admin_conn_t *c) {
    gw_admin_t *a = c->a;
    if (c->auth_long || a->token_len == 0 || c->auth_len < 7 || strncasecmp(c->auth, "Bearer ", 7) != 0)
        return false;
    uint8_t h1[crypto_generichash_BYTES], h2[crypto_generichash_BYTES];
    crypto_generichash(h1, sizeof h1, (const uint8_t *)c->auth + 7, c->auth_len - 7, NULL, 0);
    crypto_generichash(h2, sizeof h2, (const uint8_t *)a->token, a->token_len, NULL, 0);
    return sodium_memcmp(h1, h2, sizeof h1) == 0;
}

static bool may_read(admin_conn_t *c) {
    return (!c->a->cfg->admin_reads_need_token && from_loopback(c)) || bearer_ok(c);
}

/* ---- rooms ---------------------------------------------------------------------------------------- */

struct room_op {
    admin_conn_t *c; /* NULL once the client went away */
    const wr_room_cfg_t *room;
    int pending;
    bool failed, head_only;
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
    c->op_conn = NULL;
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
    respond_json(c, 200, "OK", doc, op->head_only);
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

static void room_get(admin_conn_t *c, const wr_room_cfg_t *room, bool head_only) {
    gw_admin_t *a = c->a;
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
    c->op_conn = &op->c;
    op->room = room;
    op->head_only = head_only;
    op->inventory = -1;
    op->pending = 2;
    char keys[9][96];
    static const char *const names[] = {"seq",    "boundary", "left", "admitted", "active",
                                        "rejoin", "sig",      "cfg",  "ctl"};
    const char *argv[9];
    for (int i = 0; i < 9; i++) {
        snprintf(keys[i], sizeof keys[i], "wr:{%s}:%s", room->name, names[i]);
        argv[i] = keys[i];
    }
    wr_redis_eval(&a->redis, WR_LUA_COUNTS, on_room_counts, op, 9, 9, argv, NULL);
    char ctl[96];
    snprintf(ctl, sizeof ctl, "wr:{%s}:ctl", room->name);
    const char *hv[] = {"HGETALL", ctl};
    wr_redis_argv(&a->redis, on_room_ctl, op, 2, hv, NULL);
}

static void rooms_list(admin_conn_t *c, bool head_only) {
    json_t *list = json_array();
    for (size_t i = 0; i < c->a->cfg->nrooms; i++)
        json_array_append_new(list, room_config_json(&c->a->cfg->rooms[i]));
    respond_json(c, 200, "OK", json_pack("{s:o}", "rooms", list), head_only);
}

/* ---- GET /v1/rooms/NAME/log ---------------------------------------------------------------------- */

#define LOG_SCAN_MAX 10000 /* audit entries looked at per request, whatever the filter */
#define LOG_PAGE_MAX 1000

typedef struct {
    admin_conn_t *c; /* first: orphaned like a room read */
    char visitor[40], serial[24];
    size_t limit;
    bool head_only;
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
    c->op_conn = NULL;
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
    bool head_only = lo->head_only;
    free(lo);
    respond_json(c, 200, "OK", doc, head_only);
}

static void room_log(admin_conn_t *c, const wr_room_cfg_t *room, const char *url, size_t ul, bool head_only) {
    gw_admin_t *a = c->a;
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
    lo->head_only = head_only;
    lo->c = c;
    c->op_conn = &lo->c;
    char key[96], start[56], count[16];
    snprintf(key, sizeof key, "wr:{%s}:log", room->name);
    snprintf(start, sizeof start, "%s%s", after[0] ? "(" : "", after[0] ? after : "-");
    snprintf(count, sizeof count, "%d", LOG_SCAN_MAX);
    const char *argv[] = {"XRANGE", key, start, "+", "COUNT", count};
    wr_redis_argv(&a->redis, on_log, lo, 6, argv, NULL);
}

/* ---- GET /v1/rooms/NAME/history ------------------------------------------------------------------ */

typedef struct {
    admin_conn_t *c;
    const wr_room_cfg_t *room;
    bool head_only;
} hist_op_t;

static json_t *or_null(double v) {
    return v < 0 ? json_null() : json_real(v);
}

static void on_history(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    hist_op_t *ho = arg;
    admin_conn_t *c = ho->c;
    const wr_room_cfg_t *room = ho->room;
    bool head_only = ho->head_only;
    free(ho);
    if (!c)
        return;
    c->op_conn = NULL;
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
    respond_json(c, 200, "OK", doc, head_only);
}

/* The last 15 minutes as the admission leader sampled them (common/history.h); empty until a
 * controller has run. */
static void room_history(admin_conn_t *c, const wr_room_cfg_t *room, bool head_only) {
    gw_admin_t *a = c->a;
    if (!a->redis_on || !a->redis.connected) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: the room's history cannot be read");
        return;
    }
    hist_op_t *ho = calloc(1, sizeof *ho);
    if (!ho) {
        json_error(c, 500, "Internal Server Error", "out of memory");
        return;
    }
    ho->c = c;
    ho->room = room;
    ho->head_only = head_only;
    c->op_conn = &ho->c;
    char key[96], last[16];
    snprintf(key, sizeof key, "wr:{%s}:hist", room->name);
    snprintf(last, sizeof last, "%d", WR_HIST_SAMPLES - 1);
    const char *argv[] = {"LRANGE", key, "0", last};
    wr_redis_argv(&a->redis, on_history, ho, 4, argv, NULL);
}

/* ---- GET /v1/config ------------------------------------------------------------------------------- */

static void config_get(admin_conn_t *c, bool head_only) {
    const wr_config_t *cfg = c->a->cfg;
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
    json_t *doc =
        json_pack("{s:s, s:{s:s, s:s, s:i, s:s, s:s, s:s, s:I}, s:{s:s}, s:{s:s, s:s}, s:o}", "file",
                  cfg->path ? cfg->path : "", "gateway", "listen", listen, "admin_listen", admin, "workers",
                  cfg->workers, "key_file", cfg->key_file ? cfg->key_file : "", "admin_token_file",
                  cfg->admin_token_file ? cfg->admin_token_file : "", "admin_reads",
                  cfg->admin_reads_need_token ? "token" : "loopback", "max_connections",
                  (json_int_t)cfg->max_connections, "origin", "url", origin, "redis", "url",
                  cfg->redis_url ? cfg->redis_url : "", "secrets", "redacted", "rooms", rooms);
    respond_json(c, 200, "OK", doc, head_only);
}

/* ---- PATCH /v1/rooms/NAME ----------------------------------------------------------------------- */

typedef struct {
    admin_conn_t *c;
    const wr_room_cfg_t *room;
} patch_op_t;

static void on_configured(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    patch_op_t *po = arg;
    admin_conn_t *c = po->c;
    const wr_room_cfg_t *room = po->room;
    free(po);
    if (!c)
        return;
    c->op_conn = NULL;
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        json_error(c, 503, "Service Unavailable", "Redis is unreachable: nothing was changed");
        return;
    }
    if (rep->integer < 0) {
        json_error_field(c, 409, "Conflict", "the room has opened: its draw is done, nothing was changed",
                         "open_at");
        return;
    }
    room_get(c, room, false); /* the answer is the room's new state */
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

static void room_patch(admin_conn_t *c, const wr_room_cfg_t *room) {
    gw_admin_t *a = c->a;
    if (!bearer_ok(c)) {
        json_error(c, 401, "Unauthorized", "unauthorized");
        return;
    }
    json_error_t je;
    json_t *doc =
        c->body_len ? json_loadb(c->in + c->body_off, c->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
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
    char values[8][32], keys[4][96], now[24], who[80], maxlen[24];
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
    static const char *const names[] = {"cfg", "ctl", "log", "shuffle"};
    for (int i = 0; i < 4; i++) {
        snprintf(keys[i], sizeof keys[i], "wr:{%s}:%s", room->name, names[i]);
        argv[i] = keys[i];
    }
    snprintf(now, sizeof now, "%lld", (long long)wr_wall_ms());
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char ip[64] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip);
    snprintf(who, sizeof who, "admin:%s", ip);
    snprintf(maxlen, sizeof maxlen, "%lld", (long long)room->log_max_entries);
    argv[4] = now;
    argv[5] = who;
    argv[6] = maxlen;
    patch_op_t *po = calloc(1, sizeof *po);
    if (!po) {
        json_decref(doc);
        json_error(c, 500, "Internal Server Error", "out of memory");
        return;
    }
    po->c = c;
    c->op_conn = &po->c;
    po->room = room;
    wr_redis_eval(&a->redis, WR_LUA_CONFIGURE, on_configured, po, 4, 7 + n, argv, NULL);
    json_decref(doc); /* argv's keys point into doc: the command was copied out by hiredis already */
}

static void handle(admin_conn_t *c) {
    gw_admin_t *a = c->a;
    const char *url = c->in + c->url_off;
    size_t ul = c->url_len;
    uint8_t m = llhttp_get_method(&c->parser);
    bool head_only = m == HTTP_HEAD;
    bool healthz = path_is(url, ul, "/healthz"), metrics = path_is(url, ul, "/metrics");
    bool rooms = path_is(url, ul, "/v1/rooms");
    size_t pl = 0;
    while (pl < ul && url[pl] != '?')
        pl++;
    bool room = !rooms && pl > 10 && memcmp(url, "/v1/rooms/", 10) == 0;
    bool log = room && pl > 14 && memcmp(url + pl - 4, "/log", 4) == 0;
    bool history = room && pl > 18 && memcmp(url + pl - 8, "/history", 8) == 0;
    bool config = path_is(url, ul, "/v1/config");
    if (path_is(url, ul, "/dashboard")) {
        /* the page holds no data: it reads the API like any client (and sends the token it is given) */
        if (m != HTTP_GET && m != HTTP_HEAD)
            json_error(c, 405, "Method Not Allowed", "method not allowed");
        else
            respond(c, 200, "OK", "text/html; charset=utf-8", wr_asset_dashboard_html,
                    wr_asset_dashboard_html_len, head_only);
        return;
    }
    if (log || history) {
        const wr_room_cfg_t *r = find_room(a->cfg, url + 10, pl - 10 - (log ? 4 : 8));
        if (m != HTTP_GET && m != HTTP_HEAD)
            json_error(c, 405, "Method Not Allowed", "method not allowed");
        else if (!may_read(c))
            json_error(c, 401, "Unauthorized", "unauthorized");
        else if (!r)
            json_error_field(c, 404, "Not Found", "no such room", "name");
        else if (log)
            room_log(c, r, url, ul, head_only);
        else
            room_history(c, r, head_only);
        return;
    }
    if (config) {
        if (m != HTTP_GET && m != HTTP_HEAD)
            json_error(c, 405, "Method Not Allowed", "method not allowed");
        else if (!may_read(c))
            json_error(c, 401, "Unauthorized", "unauthorized");
        else
            config_get(c, head_only);
        return;
    }
    if (!healthz && !metrics && !rooms && !room) {
        json_error(c, 404, "Not Found",
                   "not found: /healthz, /metrics, /v1/rooms, /v1/rooms/NAME[/log|/history], /v1/config, "
                   "/dashboard");
        return;
    }
    if (room && m == HTTP_PATCH) {
        const wr_room_cfg_t *r = find_room(a->cfg, url + 10, pl - 10);
        if (!r)
            json_error_field(c, 404, "Not Found", "no such room", "name");
        else
            room_patch(c, r);
        return;
    }
    if (m != HTTP_GET && m != HTTP_HEAD) {
        json_error(c, 405, "Method Not Allowed",
                   "method not allowed (reads are GET; PATCH /v1/rooms/NAME writes)");
        return;
    }
    if (rooms || room) {
        if (!may_read(c)) {
            json_error(c, 401, "Unauthorized", "unauthorized");
            return;
        }
        if (rooms) {
            rooms_list(c, head_only);
            return;
        }
        const wr_room_cfg_t *r = find_room(a->cfg, url + 10, pl - 10);
        if (!r)
            json_error_field(c, 404, "Not Found", "no such room", "name");
        else
            room_get(c, r, head_only);
        return;
    }
    if (healthz) {
        uint64_t conns = 0;
        for (int i = 0; i < a->nworkers; i++)
            conns += atomic_load_explicit(&a->workers[i].metrics.conns_open, memory_order_relaxed);
        char body[256];
        int n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"workers\":%d,\"connections\":%llu}\n",
                         a->draining ? "draining" : "ok", a->nworkers, (unsigned long long)conns);
        respond(c, a->draining ? 503 : 200, a->draining ? "Service Unavailable" : "OK", "application/json",
                body, (size_t)n, head_only);
        return;
    }
    char *buf = malloc(ADMIN_RESP_MAX_BYTES);
    gw_metrics_t *ms[256];
    int n = a->nworkers < 256 ? a->nworkers : 256;
    for (int i = 0; i < n; i++)
        ms[i] = &a->workers[i].metrics;
    long len = buf ? gw_metrics_render(ms, n, a->nworkers, a->cfg, a->redis_on ? a->redis.stats : NULL, buf,
                                       ADMIN_RESP_MAX_BYTES)
                   : -1;
    if (len < 0)
        json_error(c, 500, "Internal Server Error", "metrics rendering failed");
    else
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf, (size_t)len, head_only);
    free(buf);
}

static int ac_on_url(llhttp_t *p, const char *at, size_t len) {
    admin_conn_t *c = p->data;
    if (c->url_len == 0)
        c->url_off = (uint32_t)(at - c->in);
    c->url_len += (uint32_t)len;
    return 0;
}

static int ac_on_header_field(llhttp_t *p, const char *at, size_t len) {
    admin_conn_t *c = p->data;
    if (c->in_auth_value) /* a new header starts */
        c->in_auth_value = false;
    if (!c->in_auth_field) {
        c->in_auth_field = len == 13 && strncasecmp(at, "authorization", 13) == 0;
        c->auth_next = c->in_auth_field;
    } else {
        c->in_auth_field = false; /* split field names: not the one we want */
        c->auth_next = false;
    }
    return 0;
}

static int ac_on_header_value(llhttp_t *p, const char *at, size_t len) {
    admin_conn_t *c = p->data;
    c->in_auth_field = false;
    if (!c->auth_next)
        return 0;
    c->in_auth_value = true;
    if (c->auth_len + len >= sizeof c->auth) {
        c->auth_long = true;
        return 0;
    }
    memcpy(c->auth + c->auth_len, at, len);
    c->auth_len += len;
    return 0;
}

static int ac_on_header_value_complete(llhttp_t *p) {
    admin_conn_t *c = p->data;
    c->auth_next = false;
    c->in_auth_value = false;
    return 0;
}

static int ac_on_body(llhttp_t *p, const char *at, size_t len) {
    admin_conn_t *c = p->data;
    if (c->body_len == 0)
        c->body_off = (uint32_t)(at - c->in);
    c->body_len += (uint32_t)len; /* contiguous: the whole request sits in c->in */
    return 0;
}

static int ac_on_complete(llhttp_t *p) {
    admin_conn_t *c = p->data;
    c->done = true;
    return HPE_PAUSED;
}

static void ac_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    admin_conn_t *c = h->data;
    *buf = uv_buf_init(c->in + c->len, (unsigned)(sizeof c->in - c->len));
}

static void ac_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    admin_conn_t *c = s->data;
    if (c->done || c->closing)
        return;
    if (n < 0) {
        if (n == UV_ENOBUFS)
            json_error(c, 431, "Request Header Fields Too Large", "request too large");
        else
            ac_close(c);
        return;
    }
    llhttp_errno_t err = llhttp_execute(&c->parser, c->in + c->len, (size_t)n);
    c->len += (uint32_t)n;
    if (err == HPE_PAUSED && c->done)
        handle(c);
    else if (err != HPE_OK)
        json_error(c, 400, "Bad Request", "bad request");
}

static void on_admin_conn(uv_stream_t *server, int status) {
    gw_admin_t *a = server->data;
    if (status < 0)
        return;
    admin_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(a->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || a->nconns >= ADMIN_MAX_CONNS) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    c->a = a;
    uv_timer_init(a->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_ac_timeout, ADMIN_TIMEOUT_MS, 0);
    llhttp_init(&c->parser, HTTP_REQUEST, &a->settings);
    c->parser.data = c;
    gw_list_push(&a->conns, &c->link);
    a->nconns++;
    uv_read_start((uv_stream_t *)&c->tcp, ac_alloc, ac_read);
}

int gw_admin_start(gw_admin_t *a) {
    gw_list_init(&a->conns);
    llhttp_settings_init(&a->settings);
    a->settings.on_url = ac_on_url;
    a->settings.on_header_field = ac_on_header_field;
    a->settings.on_header_value = ac_on_header_value;
    a->settings.on_header_value_complete = ac_on_header_value_complete;
    a->settings.on_body = ac_on_body;
    a->settings.on_message_complete = ac_on_complete;
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
    struct sockaddr_storage ss;
    int rc = uv_ip4_addr(a->cfg->admin_listen.host, a->cfg->admin_listen.port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        rc = uv_ip6_addr(a->cfg->admin_listen.host, a->cfg->admin_listen.port, (struct sockaddr_in6 *)&ss);
    if (rc < 0)
        return rc;
    uv_tcp_init(a->loop, &a->listener);
    a->listener.data = a;
    if ((rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&a->listener, 128, on_admin_conn)) < 0) {
        uv_close((uv_handle_t *)&a->listener, NULL);
        a->closed = true;
        return rc;
    }
    if (a->cfg->nrooms && a->cfg->redis.port) {
        for (int i = 0; i < WR_LUA_COUNT; i++) {
            a->scripts[i].name = wr_lua_names[i];
            a->scripts[i].source = wr_lua_sources[i];
        }
        if (wr_redis_init(&a->redis, a->loop, a->cfg->redis.host, a->cfg->redis.port, a->scripts,
                          WR_LUA_COUNT, NULL, NULL) == 0)
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
    uv_close((uv_handle_t *)&a->listener, NULL);
    while (!gw_list_empty(&a->conns))
        ac_close(GW_CONTAINER(a->conns.next, admin_conn_t, link));
}
