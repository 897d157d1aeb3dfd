/* Prometheus text rendering of the summed per-worker counters. */
#include "gateway/admin/metrics.h"

#include "config/config.h"

#include <stdbool.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>

typedef struct {
    char *buf;
    size_t size, len;
    int overflow;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->size - o->len)
        o->overflow = 1;
    else
        o->len += (size_t)n;
}

/* the field at offset in each of n per-worker structs, summed */
static uint64_t sum_at(void *const *w, int n, size_t offset) {
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)w[i] + offset), memory_order_relaxed);
    return s;
}

#define SUM(field) sum_at((void *const *)w, n, offsetof(gw_http_metrics_t, field))
#define QSUM(field) sum_at((void *const *)qs, n, offsetof(gw_queue_metrics_t, field))

static void metric(out_t *o, const char *name, const char *type, const char *help, uint64_t v) {
    put(o, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

/* Lines written by wr_buf_t writers go into what is left of o's buffer. */
static wr_buf_t rest_of(const out_t *o) {
    return wr_buf_init(o->buf + o->len, o->overflow ? 0 : o->size - o->len);
}

static void took(out_t *o, const wr_buf_t *b) {
    if (b->failed)
        o->overflow = 1;
    else if (!o->overflow)
        o->len += b->len;
}

static void histo(out_t *o, const char *name, const char *labels, const wr_histo_snap_t *s) {
    wr_buf_t b = rest_of(o);
    wr_histo_render(&b, name, labels, s);
    took(o, &b);
}

/* the workers' connections and the admin listener's, summed */
static void redis_metrics(out_t *o, gw_queue_metrics_t *const *w, int n, const wr_redis_stats_t *admin) {
    const wr_redis_stats_t *all[257];
    size_t k = 0;
    for (int i = 0; i < n && k < 256; i++)
        all[k++] = &w[i]->redis;
    all[k++] = admin;
    wr_buf_t b = rest_of(o);
    wr_redis_stats_render(&b, "waitroom_gateway",
                          "Redis command sent to reply received (all rooms share the connection; the admin "
                          "listener's calls included).",
                          all, k);
    took(o, &b);
}

static uint64_t room_sum(gw_queue_metrics_t *const *w, int n, size_t room, size_t offset, bool max) {
    uint64_t s = 0;
    for (int i = 0; i < n; i++) {
        uint64_t v = atomic_load_explicit((_Atomic uint64_t *)((char *)&w[i]->rooms[room] + offset),
                                          memory_order_relaxed);
        s = max ? (v > s ? v : s) : s + v;
    }
    return s;
}

static void room_metrics(out_t *o, gw_queue_metrics_t *const *w, int n, const wr_config_t *cfg) {
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } defs[] = {
#define RM(f) offsetof(gw_room_metrics_t, f)
        {"waitroom_room_joins_total", "counter", "New places given (joins).", RM(joins)},
        {"waitroom_room_polls_total", "counter",
         "Waiting answers (pages, status JSON) served from the cache.", RM(polls)},
        {"waitroom_room_claims_total", "counter", "Admitted visitors who showed up and got a pass.",
         RM(claims)},
        {"waitroom_room_releases_total", "counter", "Sessions the origin ended (Waitroom-Release: done).",
         RM(releases)},
        {"waitroom_room_completions_total", "counter", "Sessions ended by a completion path.",
         RM(completions)},
        {"waitroom_room_graces_total", "counter", "Origin failures during a session (grace given).",
         RM(graces)},
        {"waitroom_room_provisional_places_total", "counter", "Places given without Redis (provisional).",
         RM(provisional)},
        {"waitroom_room_join_limited_total", "counter",
         "New places refused with 429 by join_limit_per_ip_per_minute or join_limit_per_minute.",
         RM(join_limited)},
        {"waitroom_room_renewals_total", "counter",
         "Passes due for renewal whose session Redis was asked to confirm (extend.lua).", RM(renewals)},
        {"waitroom_room_ended_passes_total", "counter",
         "Requests refused because their pass's session had ended (released, completed or expired).",
         RM(ended_passes)},

        {"waitroom_room_origin_requests_total", "counter", "Origin answers to admitted visitors.",
         RM(origin_requests)},
        {"waitroom_room_origin_errors_total", "counter", "Origin 5xx and timeouts for admitted visitors.",
         RM(origin_errors)},
        {"waitroom_room_waiting", "gauge", "Visitors waiting (places beyond the boundary not left).",
         RM(waiting)},
        {"waitroom_room_boundary", "gauge", "The admission boundary (serials admitted or skipped).",
         RM(boundary)},
        {"waitroom_room_last_serial", "gauge", "The last place given.", RM(last_serial)},
        {"waitroom_room_admitted_not_claimed", "gauge", "Admitted visitors who have not shown up yet.",
         RM(admitted_not_claimed)},
        {"waitroom_room_active_sessions", "gauge", "Claimed sessions not ended.", RM(active)},
#undef RM
    };
    if (!cfg)
        return;
    size_t nrooms = cfg->nrooms < GW_METRICS_ROOMS ? cfg->nrooms : GW_METRICS_ROOMS;
    for (size_t d = 0; d < sizeof defs / sizeof defs[0]; d++) {
        put(o, "# HELP %s %s\n# TYPE %s %s\n", defs[d].name, defs[d].help, defs[d].name, defs[d].type);
        for (size_t r = 0; r < nrooms; r++)
            put(o, "%s{room=\"%s\"} %" PRIu64 "\n", defs[d].name, cfg->rooms[r].name,
                room_sum(w, n, r, defs[d].off, defs[d].type[0] == 'g'));
    }
    put(o,
        "# HELP waitroom_room_token_rejections_total Requests whose wr_q or wr_p cookie held no valid token "
        "for the room, by reason (malformed, forged: bad MAC or unknown key, expired).\n"
        "# TYPE waitroom_room_token_rejections_total counter\n");
    static const struct {
        const char *reason;
        size_t off;
    } rej[] = {{"malformed", offsetof(gw_room_metrics_t, token_malformed)},
               {"forged", offsetof(gw_room_metrics_t, token_forged)},
               {"expired", offsetof(gw_room_metrics_t, token_expired)}};
    for (size_t r = 0; r < nrooms; r++)
        for (size_t k = 0; k < 3; k++)
            put(o, "waitroom_room_token_rejections_total{room=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                cfg->rooms[r].name, rej[k].reason, room_sum(w, n, r, rej[k].off, false));
    put(o, "# HELP waitroom_room_controller_rate_per_minute The admission rate wr-admission last decided.\n"
           "# TYPE waitroom_room_controller_rate_per_minute gauge\n");
    for (size_t r = 0; r < nrooms; r++)
        put(o, "waitroom_room_controller_rate_per_minute{room=\"%s\",mode=\"%s\"} %.3f\n", cfg->rooms[r].name,
            cfg->rooms[r].mode == WR_MODE_ADAPTIVE ? "adaptive" : "fixed",
            (double)room_sum(w, n, r, offsetof(gw_room_metrics_t, rate_milli), true) / 1000.0);
    put(o, "# HELP waitroom_room_origin_latency_seconds Origin response time (request sent to response head) "
           "for admitted visitors' requests.\n# TYPE waitroom_room_origin_latency_seconds histogram\n");
    for (size_t r = 0; r < nrooms; r++) {
        wr_histo_snap_t s = {0};
        for (int i = 0; i < n; i++)
            wr_histo_add(&s, &w[i]->rooms[r].origin_latency);
        char labels[160];
        snprintf(labels, sizeof labels, "room=\"%s\"", cfg->rooms[r].name);
        histo(o, "waitroom_room_origin_latency_seconds", labels, &s);
    }
}

long gw_metrics_render(gw_http_metrics_t *const *w, gw_queue_metrics_t *const *qs, int n,
                       int workers_configured, const wr_config_t *cfg, const wr_redis_stats_t *admin_redis,
                       char *buf, size_t size) {
    out_t o = {.buf = buf, .size = size};
    metric(&o, "waitroom_gateway_workers", "gauge", "Worker event loops in this process.",
           (uint64_t)workers_configured);
    metric(&o, "waitroom_gateway_connections", "gauge", "Open client connections.", SUM(conns_open));
    metric(&o, "waitroom_gateway_connections_accepted_total", "counter", "Client connections accepted.",
           SUM(conns_accepted));
    metric(&o, "waitroom_gateway_connections_rejected_total", "counter",
           "Client connections refused with 503 at max_connections.", SUM(conns_rejected));
    metric(&o, "waitroom_gateway_connections_rejected_per_ip_total", "counter",
           "Client connections refused with 503 at max_connections_per_ip.", SUM(conns_rejected_per_ip));
    put(&o, "# HELP waitroom_gateway_responses_total Responses sent to clients, by status class.\n"
            "# TYPE waitroom_gateway_responses_total counter\n");
    static const char *const cls[6] = {"aborted", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int c = 0; c < 6; c++)
        put(&o, "waitroom_gateway_responses_total{class=\"%s\"} %" PRIu64 "\n", cls[c],
            SUM(responses_by_class[c]));
    metric(&o, "waitroom_gateway_client_errors_total", "counter", "Malformed or hostile requests refused.",
           SUM(client_errors));
    metric(&o, "waitroom_gateway_client_timeouts_total", "counter", "Client connections cut by a time limit.",
           SUM(client_timeouts));
    put(&o, "# HELP waitroom_gateway_upstream_latency_seconds Time from request sent to response head "
            "received.\n# TYPE waitroom_gateway_upstream_latency_seconds histogram\n");
    wr_histo_snap_t up = {0};
    for (int i = 0; i < n; i++)
        wr_histo_add(&up, &w[i]->upstream_latency);
    histo(&o, "waitroom_gateway_upstream_latency_seconds", "", &up);
    metric(&o, "waitroom_gateway_upstream_connects_total", "counter", "New connections opened to the origin.",
           SUM(upstream_connects));
    metric(&o, "waitroom_gateway_upstream_connect_errors_total", "counter",
           "Failed or timed-out connection attempts to the origin.", SUM(upstream_connect_errors));
    metric(&o, "waitroom_gateway_upstream_reused_total", "counter",
           "Requests sent on a pooled keep-alive connection.", SUM(upstream_reused));
    metric(&o, "waitroom_gateway_upstream_timeouts_total", "counter",
           "Origin response time limits hit (504).", SUM(upstream_timeouts));
    metric(&o, "waitroom_gateway_upstream_errors_total", "counter",
           "Origin connections that failed mid-request (502).", SUM(upstream_errors));
    metric(&o, "waitroom_gateway_upstream_retries_total", "counter",
           "Requests retried after a stale pooled connection.", SUM(upstream_retries));
    metric(&o, "waitroom_gateway_pool_idle_connections", "gauge",
           "Idle keep-alive connections to the origin.", SUM(pool_idle));
    metric(&o, "waitroom_gateway_pool_busy_connections", "gauge", "Origin connections carrying a request.",
           SUM(pool_busy));
    metric(&o, "waitroom_gateway_pool_waiting_requests", "gauge",
           "Requests waiting for a free origin connection (pool_max_conns reached).", SUM(pool_waiting));
    metric(&o, "waitroom_gateway_spooled_responses_total", "counter",
           "Responses whose client fell behind, relayed through a spool file so the origin connection was "
           "freed.",
           SUM(spooled_responses));
    metric(&o, "waitroom_gateway_spool_bytes", "gauge",
           "Response bytes held in spool files for clients that have not taken them yet.", SUM(spool_bytes));
    metric(&o, "waitroom_gateway_stalled_clients_cut_total", "counter",
           "Clients that took nothing for a second while holding an origin connection another request waited "
           "for.",
           SUM(stalled_cut));
    metric(&o, "waitroom_gateway_origin_down", "gauge",
           "Workers that currently consider the origin down after repeated connect failures.",
           SUM(origin_down));
    metric(&o, "waitroom_gateway_redis_connected", "gauge",
           "Workers whose Redis connection is up (only workers serving rooms connect).",
           QSUM(redis_connected));
    metric(&o, "waitroom_gateway_room_refreshes_total", "counter",
           "Room views refreshed from Redis (one view.lua call per room every 200 ms per worker).",
           QSUM(room_refreshes));
    metric(&o, "waitroom_gateway_provisional_places_total", "counter",
           "New visitors given a provisional place (a token without a serial) because Redis was unreachable.",
           QSUM(provisional_places));
    metric(&o, "waitroom_gateway_fail_open_passes_total", "counter",
           "Requests let through to the origin unqueued because Redis was unreachable and fail_open is on.",
           QSUM(fail_open_passes));
    redis_metrics(&o, qs, n, admin_redis);
    room_metrics(&o, qs, n, cfg);
    return o.overflow ? -1 : (long)o.len;
}
