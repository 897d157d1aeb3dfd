/* GET /metrics: the Prometheus text of the workers' counters, each layer's (gw_http_metrics_t from
 * gateway/http, gw_queue_metrics_t from gateway/queue), summed over the workers on the main thread when
 * scraped. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "common/redis.h"
#include "gateway/http/http.h"
#include "gateway/queue/queue.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Renders the Prometheus text exposition of n workers' metrics into buf; returns the length, or -1
 * if buf is too small. http[i] and queue[i] are worker i's. Room names come from cfg (NULL: no per-room
 * metrics); admin_redis is the admin listener's own Redis connection (NULL: none), added to the workers'
 * Redis figures. */
struct wr_config;
long gw_metrics_render(gw_http_metrics_t *const *http, gw_queue_metrics_t *const *queue, int n,
                       int workers_configured, const struct wr_config *cfg,
                       const wr_redis_stats_t *admin_redis, char *buf, size_t size);

#endif
