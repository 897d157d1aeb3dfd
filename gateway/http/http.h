/* The HTTP/1.1 proxy as the layers above it see it (the queue, the admin listener, main.c).
 *
 * A worker is one thread with its own libuv loop and listening socket; it reads requests, checks them
 * (request.h), and proxies them to the origin. A layer above plugs in through one gw_hooks_t given at
 * start-up, in the manner of h2o's handlers or nginx's upstream callbacks: it sees each checked request
 * (on_request) and either lets it go to the origin or answers it itself, now or after some I/O of its
 * own (gw_req_hold, then gw_req_respond). It may add header lines for the origin, read the origin's
 * response head, answer an origin failure, and learns when the request is over (on_end).
 *
 * Per-request memory for the layer above: hooks->state_bytes are reserved in the connection's request
 * block (req->state), valid from on_request to on_end; nothing is allocated per request for it.
 * Everything here runs on the worker's thread; nothing in this folder knows about rooms or tokens. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "common/histo.h"
#include "common/ratelimit.h"
#include "config/config.h"
#include "gateway/http/headers.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- counters ---------------------------------------------------------------------------------- */

/* Per-worker counters, written only by their worker thread (relaxed atomics) and summed by the admin
 * listener on the main thread. Gauges are kept as ups and downs so summing over workers stays right. */
typedef struct {
    _Atomic uint64_t conns_open;            /* gauge */
    _Atomic uint64_t conns_accepted;        /* counter */
    _Atomic uint64_t conns_rejected;        /* refused at max_connections */
    _Atomic uint64_t conns_rejected_per_ip; /* refused at max_connections_per_ip */
    _Atomic uint64_t requests;              /* responses started, by class below */
    _Atomic uint64_t responses_by_class[6]; /* [1]..[5] = 1xx..5xx, [0] = aborted without a status */
    _Atomic uint64_t client_errors;         /* hostile or malformed requests refused */
    _Atomic uint64_t client_timeouts;       /* header/body/idle/send time limits hit */
    wr_histo_t upstream_latency;            /* request sent -> response head, every proxied request */
    _Atomic uint64_t upstream_connects;
    _Atomic uint64_t upstream_connect_errors;
    _Atomic uint64_t upstream_reused;
    _Atomic uint64_t upstream_timeouts;
    _Atomic uint64_t upstream_errors;   /* reset, bad response, ... */
    _Atomic uint64_t upstream_retries;  /* idempotent retries after a stale pooled connection */
    _Atomic uint64_t pool_idle;         /* gauge */
    _Atomic uint64_t pool_busy;         /* gauge */
    _Atomic uint64_t pool_waiting;      /* gauge: requests queued for an upstream connection */
    _Atomic uint64_t origin_down;       /* gauge 0/1 */
    _Atomic uint64_t spooled_responses; /* responses a slow client made go through a spool file */
    _Atomic uint64_t spool_bytes;       /* gauge: bytes held in spool files */
    _Atomic uint64_t stalled_cut; /* stalled clients cut to free an origin connection for a waiting request */
} gw_http_metrics_t;

#define GW_INC(m, f) atomic_fetch_add_explicit(&(m)->f, 1, memory_order_relaxed)
#define GW_DEC(m, f) atomic_fetch_sub_explicit(&(m)->f, 1, memory_order_relaxed)
#define GW_ADD(m, f, v) atomic_fetch_add_explicit(&(m)->f, (v), memory_order_relaxed)
#define GW_SUB(m, f, v) atomic_fetch_sub_explicit(&(m)->f, (v), memory_order_relaxed)
#define GW_SET(m, f, v) atomic_store_explicit(&(m)->f, (v), memory_order_relaxed)

/* ---- the request ------------------------------------------------------------------------------- */

/* A request whose head was read and checked. Every slice points into the connection's buffers and is
 * valid until on_end. */
typedef struct gw_req {
    uint8_t method; /* llhttp_method_t */
    bool http10;
    const char *host; /* the Host header, or the absolute-form authority; may be empty */
    size_t host_len;
    const char *path; /* normalised (common/path.h); "*" for OPTIONS * */
    size_t path_len;
    const char *query; /* "?..." or NULL */
    size_t query_len;
    gw_hdrs_t hs;          /* the request's header fields */
    const char *client_ip; /* the peer address, as text */
    void *state;           /* hooks->state_bytes for the layer above, uninitialised at on_request */
} gw_req_t;

typedef enum {
    GW_REQ_FORWARD = 0, /* proxy the request to the origin */
    GW_REQ_TAKEN,       /* the hook answered it, or holds it and answers later */
} gw_req_verdict_t;

/* The calls a worker makes into the layer above; ctx is that layer's per-worker state. Any hook may
 * be NULL. They run on the worker's thread. */
typedef struct {
    size_t state_bytes; /* per-request memory reserved for the layer above (req->state) */
    /* Before the worker's thread starts (on the starting thread), with the worker's loop: 0 or < 0. */
    int (*worker_init)(void *ctx, uv_loop_t *loop);
    /* The worker drains (SIGTERM): close the loop handles the layer holds, so the loop can end. */
    void (*worker_drain)(void *ctx);
    /* The loop has ended: free what worker_init made. */
    void (*worker_exit)(void *ctx);
    /* A checked request head. Answer it (gw_req_respond*), hold it (gw_req_hold), or let it go on. */
    gw_req_verdict_t (*on_request)(void *ctx, gw_req_t *req);
    /* Complete header lines ("Name: value\r\n"...) to add to the request for the origin, or NULL. */
    const char *(*origin_headers)(void *ctx, gw_req_t *req, size_t *len);
    /* The origin's final response head: returns header lines to add for the client, or NULL. */
    const char *(*on_response)(void *ctx, gw_req_t *req, int status, const gw_hdrs_t *hs,
                               uint64_t latency_us);
    /* The origin failed the request before any response byte went out (502, 503 or 504). The hook may
     * answer it itself when can_answer (then returns true); otherwise the gateway's error page goes. */
    bool (*on_origin_failure)(void *ctx, gw_req_t *req, int status, bool can_answer);
    /* The request is over: answered, or its connection closed. Exactly once per on_request. */
    void (*on_end)(void *ctx, gw_req_t *req);
} gw_hooks_t;

/* Answers the request from the gateway itself; keep-alive as the client asked. Returns 0, or -1 if the
 * response does not fit (the connection got a 500). */
int gw_req_respond(gw_req_t *req, int status, const char *extra_headers, const char *content_type,
                   const char *body, size_t body_len);
/* The same with the body in bufs[1..n-1] (left untouched until the write is done); bufs[0] is filled
 * with the head. Body text may be rendered into gw_req_scratch, which the head does not overlap. */
int gw_req_respondv(gw_req_t *req, int status, const char *extra_headers, const char *content_type,
                    uv_buf_t *bufs, unsigned n, size_t body_len);
char *gw_req_scratch(gw_req_t *req, size_t *cap);
/* Answers with the gateway's own short error page for status (400, 403, 404, 405, 421, 429, 500, 503,
 * ...) and closes the connection after it. */
void gw_req_error(gw_req_t *req, int status);
/* The layer above will answer later (after a Redis call): the connection waits at most timeout_ms. */
void gw_req_hold(gw_req_t *req, uint64_t timeout_ms);
/* A held request goes on to the origin after all (origin_headers and on_response are called as for any
 * forwarded request). */
void gw_req_forward(gw_req_t *req);

/* ---- workers ----------------------------------------------------------------------------------- */

typedef struct gw_worker gw_worker_t;

typedef struct {
    int id;
    const wr_config_t *cfg;
    const gw_hooks_t *hooks; /* NULL: a plain proxy */
    void *hooks_ctx;
    _Atomic uint32_t *total_conns; /* process-wide, for max_connections */
    wr_limit_t *conns_per_ip;      /* process-wide max_connections_per_ip (common/ratelimit.h), NULL = off */
    uv_async_t *exited;            /* signalled when the worker's loop has finished */
} gw_worker_opts_t;

/* Canned responses; once per process, before the first worker starts. */
void gw_http_init(void);
/* Response spool files ([origin] spool_*) can be made where configured: else logged, -1. */
int gw_spool_check(const wr_config_t *cfg);

gw_worker_t *gw_worker_new(const gw_worker_opts_t *o); /* NULL: out of memory */
int gw_worker_start(gw_worker_t *w); /* spawns the thread; returns after it bound its socket */
void gw_worker_stop(gw_worker_t *w); /* thread-safe: drain and stop */
bool gw_worker_done(gw_worker_t *w); /* thread-safe: its loop has finished */
void gw_worker_join(gw_worker_t *w); /* waits for a started worker's thread */
void gw_worker_free(gw_worker_t *w);
gw_http_metrics_t *gw_worker_metrics(gw_worker_t *w);

#endif
