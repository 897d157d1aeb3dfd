/* Admin HTTP: one request per connection, answered from the workers' metrics. */
#include "gateway/admin.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_MAX_CONNS 64
#define ADMIN_REQ_MAX_BYTES 8192
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_RESP_MAX_BYTES (256 * 1024)

typedef struct {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    llhttp_t parser;
    gw_admin_t *a;
    gw_list_t link;
    char *resp;
    uint32_t len, url_off, url_len;
    int pending_closes;
    bool done, closing;
    char in[ADMIN_REQ_MAX_BYTES];
} admin_conn_t;

static void ac_free(uv_handle_t *h) {
    admin_conn_t *c = h->data;
    if (--c->pending_closes)
        return;
    free(c->resp);
    free(c);
}

static void ac_close(admin_conn_t *c) {
    if (c->closing)
        return;
    c->closing = true;
    gw_list_remove(&c->link);
    c->a->nconns--;
    c->pending_closes = 2;
    uv_close((uv_handle_t *)&c->tcp, ac_free);
    uv_close((uv_handle_t *)&c->timer, ac_free);
}

static void on_ac_timeout(uv_timer_t *t) {
    ac_close(t->data);
}

static void on_ac_write(uv_write_t *req, int status) {
    (void)status;
    ac_close(req->data);
}

static void respond(admin_conn_t *c, int status, const char *reason, const char *ctype, const char *body,
                    size_t body_len, bool head_only) {
    char head[256];
    int hl =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                 "Connection: close\r\n\r\n",
                 status, reason, ctype, body_len);
    size_t total = (size_t)hl + (head_only ? 0 : body_len);
    c->resp = malloc(total);
    if (!c->resp) {
        ac_close(c);
        return;
    }
    memcpy(c->resp, head, (size_t)hl);
    if (!head_only)
        memcpy(c->resp + hl, body, body_len);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)total);
    c->wreq.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_ac_write) < 0)
        ac_close(c);
}

static void json_error(admin_conn_t *c, int status, const char *reason, const char *msg) {
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
    respond(c, status, reason, "application/json", body, (size_t)n, false);
}

static bool path_is(const char *p, size_t n, const char *want) {
    size_t wl = strlen(want);
    if (n < wl || memcmp(p, want, wl) != 0)
        return false;
    return n == wl || p[wl] == '?';
}

static void handle(admin_conn_t *c) {
    gw_admin_t *a = c->a;
    const char *url = c->in + c->url_off;
    size_t ul = c->url_len;
    uint8_t m = llhttp_get_method(&c->parser);
    bool head_only = m == HTTP_HEAD;
    bool healthz = path_is(url, ul, "/healthz"), metrics = path_is(url, ul, "/metrics");
    if (!healthz && !metrics) {
        json_error(c, 404, "Not Found", "not found: the admin listener serves /healthz and /metrics");
        return;
    }
    if (m != HTTP_GET && m != HTTP_HEAD) {
        json_error(c, 405, "Method Not Allowed", "method not allowed");
        return;
    }
    if (healthz) {
        uint64_t conns = 0;
        for (int i = 0; i < a->nworkers; i++)
            conns += atomic_load_explicit(&a->workers[i].metrics.conns_open, memory_order_relaxed);
        char body[256];
        int n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"workers\":%d,\"connections\":%llu}\n",
                         a->draining ? "draining" : "ok", a->nworkers, (unsigned long long)conns);
        respond(c, a->draining ? 503 : 200, a->draining ? "Service Unavailable" : "OK", "application/json",
                body, (size_t)n, head_only);
        return;
    }
    char *buf = malloc(ADMIN_RESP_MAX_BYTES);
    gw_metrics_t *ms[256];
    int n = a->nworkers < 256 ? a->nworkers : 256;
    for (int i = 0; i < n; i++)
        ms[i] = &a->workers[i].metrics;
    long len = buf ? gw_metrics_render(ms, n, a->nworkers, buf, ADMIN_RESP_MAX_BYTES) : -1;
    if (len < 0)
        json_error(c, 500, "Internal Server Error", "metrics rendering failed");
    else
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf, (size_t)len, head_only);
    free(buf);
}

static int ac_on_url(llhttp_t *p, const char *at, size_t len) {
    admin_conn_t *c = p->data;
    if (c->url_len == 0)
        c->url_off = (uint32_t)(at - c->in);
    c->url_len += (uint32_t)len;
    return 0;
}

static int ac_on_complete(llhttp_t *p) {
    admin_conn_t *c = p->data;
    c->done = true;
    return HPE_PAUSED;
}

static void ac_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    admin_conn_t *c = h->data;
    *buf = uv_buf_init(c->in + c->len, (unsigned)(sizeof c->in - c->len));
}

static void ac_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    admin_conn_t *c = s->data;
    if (c->done || c->closing)
        return;
    if (n < 0) {
        if (n == UV_ENOBUFS)
            json_error(c, 431, "Request Header Fields Too Large", "request too large");
        else
            ac_close(c);
        return;
    }
    llhttp_errno_t err = llhttp_execute(&c->parser, c->in + c->len, (size_t)n);
    c->len += (uint32_t)n;
    if (err == HPE_PAUSED && c->done)
        handle(c);
    else if (err != HPE_OK)
        json_error(c, 400, "Bad Request", "bad request");
}

static void on_admin_conn(uv_stream_t *server, int status) {
    gw_admin_t *a = server->data;
    if (status < 0)
        return;
    admin_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(a->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || a->nconns >= ADMIN_MAX_CONNS) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    c->a = a;
    uv_timer_init(a->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_ac_timeout, ADMIN_TIMEOUT_MS, 0);
    llhttp_init(&c->parser, HTTP_REQUEST, &a->settings);
    c->parser.data = c;
    gw_list_push(&a->conns, &c->link);
    a->nconns++;
    uv_read_start((uv_stream_t *)&c->tcp, ac_alloc, ac_read);
}

int gw_admin_start(gw_admin_t *a) {
    gw_list_init(&a->conns);
    llhttp_settings_init(&a->settings);
    a->settings.on_url = ac_on_url;
    a->settings.on_message_complete = ac_on_complete;
    struct sockaddr_storage ss;
    int rc = uv_ip4_addr(a->cfg->admin_listen.host, a->cfg->admin_listen.port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        rc = uv_ip6_addr(a->cfg->admin_listen.host, a->cfg->admin_listen.port, (struct sockaddr_in6 *)&ss);
    if (rc < 0)
        return rc;
    uv_tcp_init(a->loop, &a->listener);
    a->listener.data = a;
    if ((rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&a->listener, 128, on_admin_conn)) < 0) {
        uv_close((uv_handle_t *)&a->listener, NULL);
        a->closed = true;
        return rc;
    }
    return 0;
}

void gw_admin_drain(gw_admin_t *a) {
    a->draining = true;
}

void gw_admin_close(gw_admin_t *a) {
    if (a->closed)
        return;
    a->closed = true;
    uv_close((uv_handle_t *)&a->listener, NULL);
    while (!gw_list_empty(&a->conns))
        ac_close(GW_CONTAINER(a->conns.next, admin_conn_t, link));
}
