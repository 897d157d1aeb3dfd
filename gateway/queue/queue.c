/* The queue plugged into the proxy: gw_queue_hooks (gateway/http/http.h) and a worker's queue state.
 * on_request sends /__waitroom/ to page.c and a request on a protected path of a room to gate.c;
 * everything else goes to the origin untouched. A request with a pass goes to the origin too, and the
 * other hooks (origin_headers, on_response, on_origin_failure) act for its session (session.c). */
#include "gateway/queue/internal.h"

#include "common/log.h"
#include "gateway/queue/route.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void qreq_reset(gw_qreq_t *st) {
    st->call = NULL;
    st->pass_room = NULL;
    st->pass_completion = false;
    st->token_reason = 0;
    st->secure = false;
    st->renewed = false;
    st->prequeue_full = false;
}

/* cookie_secure = auto: the request reached the load balancer over HTTPS, by a trusted
 * X-Forwarded-Proto (its first value: the client's own hop). */
static bool came_over_https(const wr_config_t *cfg, const gw_hdrs_t *hs) {
    if (cfg->cookie_secure == WR_COOKIE_SECURE_ALWAYS)
        return true;
    if (cfg->cookie_secure == WR_COOKIE_SECURE_NEVER || !cfg->trust_forwarded)
        return false;
    long i = gw_hdr_find(hs, "x-forwarded-proto");
    if (i < 0)
        return false;
    const char *v = hs->base + hs->h[i].value_off;
    size_t n = hs->h[i].value_len, k = 0;
    while (k < n && v[k] != ',')
        k++;
    while (k && (v[k - 1] == ' ' || v[k - 1] == '\t'))
        k--;
    return k == 5 && strncasecmp(v, "https", 5) == 0;
}

static gw_req_verdict_t on_request(void *ctx, gw_req_t *req) {
    gw_queue_t *q = ctx;
    qreq_reset(gw_qreq(req));
    gw_qreq(req)->secure = came_over_https(q->cfg, &req->hs);
    if (gw_page_handle(q, req))
        return GW_REQ_TAKEN;
    gw_route_t route = gw_route_match(q->cfg, req->host, req->host_len, req->path, req->path_len);
    if (route.kind == GW_ROUTE_MISDIRECTED) {
        gw_req_error(req, 421); /* not a host this site serves: never the origin's default virtual host */
        return GW_REQ_TAKEN;
    }
    if (route.kind != GW_ROUTE_PROTECTED)
        return GW_REQ_FORWARD;
    /* the page to come back to once admitted: this path and query, on this site (one too long to be
     * sent back as a redirect is not: then the site's front page) */
    char target[1024];
    int tl = snprintf(target, sizeof target, "%.*s%.*s", (int)req->path_len, req->path, (int)req->query_len,
                      req->query ? req->query : "");
    bool fits = tl > 0 && (size_t)tl < sizeof target;
    return gw_gate_request(q, req, route.room, fits ? target : NULL, fits ? (size_t)tl : 0, false)
               ? GW_REQ_TAKEN
               : GW_REQ_FORWARD;
}

static const char *origin_headers(void *ctx, gw_req_t *req, size_t *len) {
    return gw_session_pass_header(ctx, req, len);
}

static const char *on_response(void *ctx, gw_req_t *req, int status, const gw_hdrs_t *hs,
                               uint64_t latency_us) {
    return gw_session_answered(ctx, req, status, hs, latency_us);
}

static bool on_origin_failure(void *ctx, gw_req_t *req, int status, bool can_answer) {
    return gw_session_failed(ctx, req, status, can_answer);
}

static void on_end(void *ctx, gw_req_t *req) {
    (void)ctx;
    gw_gate_orphan(gw_qreq(req));
}

static int worker_init(void *ctx, uv_loop_t *loop) {
    gw_queue_t *q = ctx;
    q->loop = loop;
    if (q->cfg->nrooms == 0)
        return 0;
    /* the origin expects the signed header when it is configured: no worker without its cache */
    if (q->pass_sk && !(q->passsig_cache = calloc(GW_PASSSIG_CACHE_SLOTS, sizeof *q->passsig_cache)))
        return UV_ENOMEM;
    int rc = gw_rooms_init(&q->rooms, loop, q->cfg, &q->metrics, q->worker);
    if (rc < 0) {
        free(q->passsig_cache);
        q->passsig_cache = NULL;
        return rc;
    }
    q->has_rooms = true;
    q->token_cache = calloc(GW_TOKEN_CACHE_SLOTS, sizeof *q->token_cache);
    return 0;
}

/* The rooms' Redis connection and timer go (pending calls answer now, with no reply), so the loop can
 * end. The rooms stay until worker_exit: a request still arriving on a protected path is answered as in
 * a Redis outage (waiting, or fail_open), never let through unqueued. */
static void worker_drain(void *ctx) {
    gw_queue_t *q = ctx;
    if (q->has_rooms)
        gw_rooms_close(&q->rooms);
}

static void worker_exit(void *ctx) {
    gw_queue_t *q = ctx;
    if (q->has_rooms)
        gw_rooms_free(&q->rooms);
    q->has_rooms = false;
    if (q->token_cache)
        sodium_memzero(q->token_cache, GW_TOKEN_CACHE_SLOTS * sizeof *q->token_cache);
    free(q->token_cache);
    q->token_cache = NULL;
    free(q->passsig_cache);
    q->passsig_cache = NULL;
    while (q->free_calls) {
        gw_qcall_t *c = q->free_calls;
        q->free_calls = c->next_free;
        free(c);
    }
    q->nfree_calls = 0;
}

const gw_hooks_t gw_queue_hooks = {
    .state_bytes = sizeof(gw_qreq_t),
    .worker_init = worker_init,
    .worker_drain = worker_drain,
    .worker_exit = worker_exit,
    .on_request = on_request,
    .origin_headers = origin_headers,
    .on_response = on_response,
    .on_origin_failure = on_origin_failure,
    .on_end = on_end,
};

gw_queue_t *gw_queue_new(const gw_queue_shared_t *shared, int worker) {
    gw_queue_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->worker = worker;
    q->cfg = shared->cfg;
    q->keys = shared->keys;
    q->pass_sk = shared->pass_sk;
    q->pages = shared->pages;
    q->join_ip = shared->join_ip;
    q->join_all = shared->join_all;
    return q;
}

void gw_queue_free(gw_queue_t *q) {
    free(q);
}

gw_queue_metrics_t *gw_queue_metrics(gw_queue_t *q) {
    return &q->metrics;
}
