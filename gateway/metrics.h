/* Per-worker counters, written only by their worker thread (relaxed atomics) and summed by the admin
 * listener on the main thread when /metrics is scraped. Gauges (open connections, pool sizes) are
 * kept as counters of ups and downs so summing over workers stays correct. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "common/histo.h"
#include "common/redis.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Per room (the first GW_METRICS_ROOMS rooms of the config), per worker. Counters are summed over the
 * workers; the gauges (from each worker's view of Redis, all alike) are shown as their maximum. */
#define GW_METRICS_ROOMS 64
typedef struct {
    _Atomic uint64_t joins, polls, claims, releases, completions, graces, provisional;
    _Atomic uint64_t token_malformed, token_forged, token_expired; /* cookies that held no valid token */
    _Atomic uint64_t origin_requests, origin_errors;
    wr_histo_t origin_latency; /* request sent -> response head, admitted visitors' requests */
    _Atomic uint64_t waiting, boundary, last_serial, admitted_not_claimed, active, rate_milli; /* gauges */
} gw_room_metrics_t;

typedef struct {
    _Atomic uint64_t conns_open;            /* gauge */
    _Atomic uint64_t conns_accepted;        /* counter */
    _Atomic uint64_t conns_rejected;        /* refused at max_connections */
    _Atomic uint64_t requests;              /* responses started, by class below */
    _Atomic uint64_t responses_by_class[6]; /* [1]..[5] = 1xx..5xx, [0] = aborted without a status */
    _Atomic uint64_t client_errors;         /* hostile or malformed requests refused */
    _Atomic uint64_t client_timeouts;       /* header/body/idle/send time limits hit */
    wr_histo_t upstream_latency;            /* request sent -> response head, every proxied request */
    _Atomic uint64_t upstream_connects;
    _Atomic uint64_t upstream_connect_errors;
    _Atomic uint64_t upstream_reused;
    _Atomic uint64_t upstream_timeouts;
    _Atomic uint64_t upstream_errors;    /* reset, bad response, ... */
    _Atomic uint64_t upstream_retries;   /* idempotent retries after a stale pooled connection */
    _Atomic uint64_t pool_idle;          /* gauge */
    _Atomic uint64_t pool_busy;          /* gauge */
    _Atomic uint64_t pool_waiting;       /* gauge: requests queued for an upstream connection */
    _Atomic uint64_t origin_down;        /* gauge 0/1 */
    _Atomic uint64_t redis_connected;    /* gauge 0/1 (workers with rooms) */
    _Atomic uint64_t room_refreshes;     /* counter: room views refreshed from Redis */
    _Atomic uint64_t provisional_places; /* counter: new visitors given a place without Redis */
    _Atomic uint64_t fail_open_passes;   /* counter: requests let through unqueued (fail_open, Redis down) */
    wr_redis_stats_t redis;              /* the worker's Redis connection (workers with rooms) */
    gw_room_metrics_t rooms[GW_METRICS_ROOMS];
} gw_metrics_t;

#define GW_INC(m, f) atomic_fetch_add_explicit(&(m)->f, 1, memory_order_relaxed)
#define GW_DEC(m, f) atomic_fetch_sub_explicit(&(m)->f, 1, memory_order_relaxed)
#define GW_ADD(m, f, v) atomic_fetch_add_explicit(&(m)->f, (v), memory_order_relaxed)
#define GW_SET(m, f, v) atomic_store_explicit(&(m)->f, (v), memory_order_relaxed)

/* Renders the Prometheus text exposition of n workers' metrics into buf; returns the length, or -1
 * if buf is too small. Room names come from cfg (NULL: no per-room metrics); admin_redis is the admin
 * listener's own Redis connection (NULL: none), added to the workers' Redis figures. */
struct wr_config;
long gw_metrics_render(gw_metrics_t *const *workers, int n, int workers_configured,
                       const struct wr_config *cfg, const wr_redis_stats_t *admin_redis, char *buf,
                       size_t size);

#endif
