/* wr-admission's metrics endpoint. See metrics.h. */
#include "admission/metrics.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_MAX 4096
#define TIMEOUT_MS 5000
#define BODY_MAX (256 * 1024)

typedef struct {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    wr_metrics_server_t *m;
    llhttp_t parser;
    llhttp_settings_t settings;
    char in[HEAD_MAX];
    size_t in_len;
    char url[64];
    size_t url_len;
    bool url_long, done, closing;
    char *out;
    int pending; /* handles to close */
} mconn_t;

static void on_closed(uv_handle_t *h) {
    mconn_t *c = h->data;
    if (--c->pending == 0) {
        c->m->open--;
        free(c->out);
        free(c);
    }
}

static void conn_close(mconn_t *c) {
    if (c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *w, int status) {
    (void)status;
    conn_close(w->data);
}

static void respond(mconn_t *c, int status, const char *ctype, const char *body, size_t len) {
    c->out = malloc(len + 256);
    if (!c->out) {
        conn_close(c);
        return;
    }
    int n = snprintf(c->out, 256,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                                     : "Bad Request",
                     ctype, len);
    memcpy(c->out + n, body, len);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)(n + (int)len));
    c->wreq.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
    mconn_t *c = p->data;
    if (c->url_len + len >= sizeof c->url) {
        c->url_long = true;
        return 0;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    mconn_t *c = p->data;
    c->done = true;
    return HPE_PAUSED;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    mconn_t *c = h->data;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    mconn_t *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0 || c->done)
        return;
    llhttp_errno_t err = llhttp_execute(&c->parser, c->in + c->in_len, (size_t)n);
    c->in_len += (size_t)n;
    if (c->done || err == HPE_PAUSED) {
        bool get = llhttp_get_method(&c->parser) == HTTP_GET;
        bool metrics = !c->url_long && c->url_len >= 8 && memcmp(c->url, "/metrics", 8) == 0 &&
                       (c->url_len == 8 || c->url[8] == '?');
        if (!get || !metrics) {
            static const char nf[] = "not found: GET /metrics\n";
            respond(c, 404, "text/plain", nf, sizeof nf - 1);
            return;
        }
        char *body = malloc(BODY_MAX);
        long len = body ? c->m->render(c->m->arg, body, BODY_MAX) : -1;
        if (len < 0)
            respond(c, 400, "text/plain", "metrics unavailable\n", 20);
        else
            respond(c, 200, "text/plain; version=0.0.4", body, (size_t)len);
        free(body);
        return;
    }
    if (err != HPE_OK || c->in_len == sizeof c->in) {
        static const char bad[] = "bad request\n";
        respond(c, 400, "text/plain", bad, sizeof bad - 1);
    }
}

static void on_timeout(uv_timer_t *t) {
    conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status) {
    wr_metrics_server_t *m = server->data;
    if (status < 0)
        return;
    mconn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->m = m;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->pending = 2;
    m->open++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    llhttp_settings_init(&c->settings);
    c->settings.on_url = on_url;
    c->settings.on_headers_complete = on_headers_complete;
    llhttp_init(&c->parser, HTTP_REQUEST, &c->settings);
    c->parser.data = c;
    uv_timer_start(&c->timer, on_timeout, TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int wr_metrics_start(wr_metrics_server_t *m, uv_loop_t *loop, const char *host, unsigned port,
                     wr_metrics_render_cb render, void *arg) {
    memset(m, 0, sizeof *m);
    m->render = render;
    m->arg = arg;
    struct sockaddr_storage ss;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss)
                               : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        return rc;
    uv_tcp_init(loop, &m->server);
    m->server.data = m;
    if ((rc = uv_tcp_bind(&m->server, (const struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&m->server, 64, on_connection)) < 0) {
        uv_close((uv_handle_t *)&m->server, NULL);
        return rc;
    }
    return 0;
}

void wr_metrics_stop(wr_metrics_server_t *m) {
    if (!uv_is_closing((uv_handle_t *)&m->server))
        uv_close((uv_handle_t *)&m->server, NULL);
}
