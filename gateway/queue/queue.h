/* The waiting room, as main.c and the admin listener see it: one gw_queue_t per worker, plugged into
 * that worker's proxy through gw_queue_hooks (gateway/http/http.h). Everything a protected request
 * meets lives behind it: /__waitroom/ endpoints (page.c), routing to rooms (route.c), tokens and
 * cookies (tokens.c), the decision (decide.c), Redis operations and their replies (gate.c), answers
 * (answer.c), sessions (session.c), the rooms' cached views (room.c). See docs/ARCHITECTURE.md. */
#ifndef GW_QUEUE_H
#define GW_QUEUE_H

#include "common/histo.h"
#include "common/ratelimit.h"
#include "common/redis.h"
#include "common/token.h"
#include "config/config.h"
#include "gateway/http/http.h"

#include <stdatomic.h>
#include <stdint.h>

/* Per room (the first GW_METRICS_ROOMS rooms of the config), per worker. Counters are summed over the
 * workers; the gauges (from each worker's view of Redis, all alike) are shown as their maximum. */
#define GW_METRICS_ROOMS 64
typedef struct {
    _Atomic uint64_t joins, polls, claims, releases, completions, graces, provisional;
    _Atomic uint64_t renewals, ended_passes; /* renewals asked of Redis; revoked passes refused */
    _Atomic uint64_t join_limited;           /* new places refused by the join limits (429) */
    _Atomic uint64_t token_malformed, token_forged, token_expired; /* cookies that held no valid token */
    _Atomic uint64_t origin_requests, origin_errors;
    wr_histo_t origin_latency; /* request sent -> response head, admitted visitors' requests */
    _Atomic uint64_t waiting, boundary, last_serial, admitted_not_claimed, active, rate_milli; /* gauges */
} gw_room_metrics_t;

/* A worker's queue counters, written by its thread only (relaxed atomics), summed by the admin. */
typedef struct {
    _Atomic uint64_t redis_connected;    /* gauge 0/1 (workers with rooms) */
    _Atomic uint64_t room_refreshes;     /* counter: room views refreshed from Redis */
    _Atomic uint64_t provisional_places; /* counter: new visitors given a place without Redis */
    _Atomic uint64_t fail_open_passes;   /* counter: requests let through unqueued (fail_open, Redis down) */
    wr_redis_stats_t redis;              /* the worker's Redis connection (workers with rooms) */
    gw_room_metrics_t rooms[GW_METRICS_ROOMS];
} gw_queue_metrics_t;

typedef struct gw_queue gw_queue_t;
struct gw_page_room;

/* What every worker's queue shares, read-only: the config, the token keys, the Waitroom-Pass signing
 * key (NULL = off) and the rooms' waiting pages (queue/waitpage.h, one per room). */
typedef struct {
    const wr_config_t *cfg;
    const wr_keyring_t *keys;
    const uint8_t *pass_sk;
    const struct gw_page_room *pages;
    wr_limit_t *join_ip, *join_all; /* the join limits, shared by every worker (thread-safe), NULL = off */
} gw_queue_shared_t;

extern const gw_hooks_t gw_queue_hooks;

gw_queue_t *gw_queue_new(const gw_queue_shared_t *shared, int worker); /* NULL: out of memory */
void gw_queue_free(gw_queue_t *q);
gw_queue_metrics_t *gw_queue_metrics(gw_queue_t *q);

#endif
