/* wr-admission's Prometheus endpoint: GET /metrics on [admission] metrics_listen (or --metrics), one
 * short response per connection (Connection: close). Requests are parsed with llhttp; heads are bounded
 * (4 KiB) and timed (5 s); anything but GET /metrics is 404. The text comes from a callback. */
#ifndef WR_ADMISSION_METRICS_H
#define WR_ADMISSION_METRICS_H

#include <stddef.h>
#include <uv.h>

/* Writes the metrics text into buf; returns its length, or -1 if it does not fit. */
typedef long (*wr_metrics_render_cb)(void *arg, char *buf, size_t cap);

typedef struct {
    uv_tcp_t server;
    wr_metrics_render_cb render;
    void *arg;
    int open; /* connections in flight */
} wr_metrics_server_t;

int wr_metrics_start(wr_metrics_server_t *m, uv_loop_t *loop, const char *host, unsigned port,
                     wr_metrics_render_cb render, void *arg);
void wr_metrics_stop(wr_metrics_server_t *m);

#endif
