/* The admin listener: its own address, its own small connections, on the main thread's loop, so it
 * answers even when every worker is saturated with public traffic. It serves the admin API:
 *   GET /healthz, GET /metrics, GET /v1/rooms, GET /v1/rooms/NAME, PATCH /v1/rooms/NAME (JSON, jansson)
 * Reads are open from loopback and need "Authorization: Bearer <admin token>" from anywhere else
 * (compared in constant time; a failure is a bare 401); writes always need it. Requests are small and read
 * whole (8 KiB max; common/httpd serves them); every connection closes after one response; errors are
 * {"error": "...", "field": ...}.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "common/httpd.h"
#include "common/redis.h"
#include "gateway/http/http.h"
#include "gateway/queue/queue.h"
#include "lua_scripts.h"

typedef struct {
    uv_loop_t *loop;
    wr_httpd_t http; /* the listener and its connections (common/httpd) */
    const wr_config_t *cfg;
    gw_worker_t **workers; /* the workers' counters, for /metrics and /healthz */
    gw_queue_t **queues;   /* [nworkers] */
    int nworkers;
    bool draining;
    bool closed;
    wr_redis_t redis; /* the room API's own connection, on the main loop (rooms configured only) */
    wr_redis_script_t scripts[WR_LUA_COUNT];
    bool redis_on;
    char token[256]; /* the admin token (admin_token_file), for Authorization: Bearer */
    size_t token_len;
} gw_admin_t;

int gw_admin_start(gw_admin_t *a);
/* Health turns to 503 "draining"; the listener stays up until gw_admin_close. */
void gw_admin_drain(gw_admin_t *a);
void gw_admin_close(gw_admin_t *a);

#endif
