/* The admin listener: its own address, its own small connections, on the main thread's loop, so it
 * answers even when every worker is saturated with public traffic. It serves the admin API only
 * (/healthz, /metrics); any other path is 404. Requests are small and read whole (8 KiB max);
 * every connection closes after one response. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gateway/worker.h"

typedef struct {
    uv_loop_t *loop;
    uv_tcp_t listener;
    const wr_config_t *cfg;
    gw_worker_t *workers;
    int nworkers;
    gw_list_t conns;
    int nconns;
    bool draining;
    bool closed;
    llhttp_settings_t settings;
} gw_admin_t;

int gw_admin_start(gw_admin_t *a);
/* Health turns to 503 "draining"; the listener stays up until gw_admin_close. */
void gw_admin_drain(gw_admin_t *a);
void gw_admin_close(gw_admin_t *a);

#endif
