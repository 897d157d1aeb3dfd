/* The control endpoints' small HTTP server. See httpd.h. */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_MAX 512 /* longer Authorization values are not ours */

static void on_closed(uv_handle_t *h) {
    wr_httpd_req_t *r = h->data;
    if (--r->pending_closes)
        return;
    free(r->out);
    free(r);
}

static void conn_close(wr_httpd_req_t *r) {
    if (r->closing)
        return;
    r->closing = true;
    if (r->waiter) /* the handler's late answer will find nobody */
        *r->waiter = NULL;
    wr_httpd_t *s = r->srv;
    if (r->prev)
        r->prev->next = r->next;
    else
        s->conns = r->next;
    if (r->next)
        r->next->prev = r->prev;
    s->nconns--;
    r->pending_closes = 2;
    uv_close((uv_handle_t *)&r->tcp, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void on_timeout(uv_timer_t *t) {
    conn_close(t->data);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* After a refusal the client may still be sending (a request too large): closing at once would reset
 * the connection and could destroy the answer before it is read. So the write side is shut, what
 * comes is read and dropped, and the connection closes at the client's end or after LINGER_MS. */
#define LINGER_MS 1000

static void on_shutdown(uv_shutdown_t *sr, int status) {
    wr_httpd_req_t *r = sr->data;
    if (r->closing)
        return;
    if (status < 0) {
        conn_close(r);
        return;
    }
    r->lingering = true;
    r->len = 0;
    uv_timer_start(&r->timer, on_timeout, LINGER_MS, 0);
    if (uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) < 0)
        conn_close(r);
}

static void on_written(uv_write_t *w, int status) {
    wr_httpd_req_t *r = w->data;
    if (r->closing)
        return;
    if (status == 0 && r->linger) {
        r->sreq.data = r;
        if (uv_shutdown(&r->sreq, (uv_stream_t *)&r->tcp, on_shutdown) == 0)
            return;
    }
    conn_close(r);
}

void wr_httpd_respond(wr_httpd_req_t *r, int status, const char *reason, const char *ctype, const char *body,
                      size_t len) {
    if (r->answered || r->closing)
        return;
    r->answered = true;
    r->waiter = NULL;
    char head[320];
    int hl =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                 "Connection: close\r\n\r\n",
                 status, reason, ctype, len);
    if (hl < 0 || (size_t)hl >= sizeof head) {
        conn_close(r);
        return;
    }
    size_t total = (size_t)hl + (r->head ? 0 : len);
    r->out = malloc(total);
    if (!r->out) {
        conn_close(r);
        return;
    }
    memcpy(r->out, head, (size_t)hl);
    if (!r->head && len)
        memcpy(r->out + hl, body, len);
    uv_buf_t b = uv_buf_init(r->out, (unsigned)total);
    r->wreq.data = r;
    uv_read_stop((uv_stream_t *)&r->tcp);
    if (uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, on_written) < 0)
        conn_close(r);
}

static void refuse(wr_httpd_req_t *r, int status, const char *reason, const char *msg) {
    r->linger = true;
    char body[160];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"field\":null}\n", msg);
    wr_httpd_respond(r, status, reason, "application/json", body, (size_t)n);
}

bool wr_httpd_from_loopback(wr_httpd_req_t *r) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&r->tcp, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
    }
    return false;
}

void wr_httpd_peer(wr_httpd_req_t *r, char *out, size_t cap) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, cap, "?");
    if (uv_tcp_getpeername(&r->tcp, (struct sockaddr *)&ss, &len) == 0)
        uv_ip_name((struct sockaddr *)&ss, out, cap);
}

bool wr_httpd_host_is_local(wr_httpd_req_t *r) {
    if (r->host_dup)
        return false;
    if (!r->host)
        return true;
    const char *h = r->host;
    size_t n = r->host_len;
    if (n && h[0] == '[') { /* [::1]:port */
        const char *rb = memchr(h, ']', n);
        return rb &&
               ((rb - h == 4 && memcmp(h, "[::1]", 5) == 0) || (rb - h == 3 && memcmp(h, "[::]", 4) == 0));
    }
    const char *colon = memchr(h, ':', n);
    if (colon)
        n = (size_t)(colon - h);
    if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 7 && memcmp(h, "0.0.0.0", 7) == 0))
        return true;
    char ip[16];
    struct in_addr a;
    if (n >= sizeof ip)
        return false;
    memcpy(ip, h, n);
    ip[n] = '\0';
    return inet_pton(AF_INET, ip, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* ---- parsing: the whole request sits in r->in, so every piece is an offset and a length ---------- */

static int on_url(llhttp_t *p, const char *at, size_t len) {
    wr_httpd_req_t *r = p->data;
    if (r->url_len == 0)
        r->url_off = (uint32_t)(at - r->in);
    r->url_len += len;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    wr_httpd_req_t *r = p->data;
    if (!r->in_field) { /* a new field name (its pieces, across reads, are contiguous in r->in) */
        r->in_field = true;
        r->field_off = (uint32_t)(at - r->in);
        r->field_len = 0;
    }
    r->field_len += (uint32_t)len;
    return 0;
}

static int on_header_field_complete(llhttp_t *p) {
    wr_httpd_req_t *r = p->data;
    r->in_field = false;
    r->in_auth = r->field_len == 13 && strncasecmp(r->in + r->field_off, "authorization", 13) == 0;
    r->in_host = r->field_len == 4 && strncasecmp(r->in + r->field_off, "host", 4) == 0;
    r->value_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    wr_httpd_req_t *r = p->data;
    if (!r->in_auth && !r->in_host)
        return 0;
    if (r->value_len == 0)
        r->value_off = (uint32_t)(at - r->in);
    r->value_len += (uint32_t)len;
    return 0;
}

static int on_header_value_complete(llhttp_t *p) {
    wr_httpd_req_t *r = p->data;
    if (r->in_host) {
        r->in_host = false;
        r->host_dup = r->host != NULL;
        r->host = r->in + r->value_off;
        r->host_len = r->value_len;
        return 0;
    }
    if (!r->in_auth)
        return 0;
    r->in_auth = false;
    if (r->auth_seen || r->value_len > AUTH_MAX)
        r->auth_long = true; /* two Authorization headers, or one no token of ours fits: wrong */
    r->auth_seen = true;
    r->auth = r->in + r->value_off;
    r->auth_len = r->value_len;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    wr_httpd_req_t *r = p->data;
    if (r->body_len == 0)
        r->body_off = (uint32_t)(at - r->in);
    r->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    wr_httpd_req_t *r = p->data;
    r->done = true;
    return HPE_PAUSED;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    wr_httpd_req_t *r = h->data;
    *buf = uv_buf_init(r->in + r->len, (unsigned)(r->srv->req_max - r->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    wr_httpd_req_t *r = st->data;
    if (r->lingering) { /* dropped; the end or the timer closes */
        if (n < 0)
            conn_close(r);
        r->len = 0;
        return;
    }
    if (r->done || r->closing)
        return;
    if (n < 0) {
        if (n == UV_ENOBUFS)
            refuse(r, 431, "Request Header Fields Too Large", "request too large");
        else
            conn_close(r);
        return;
    }
    llhttp_errno_t err = llhttp_execute(&r->parser, r->in + r->len, (size_t)n);
    r->len += (size_t)n;
    if (err == HPE_PAUSED && r->done) {
        r->method = (uint8_t)llhttp_get_method(&r->parser);
        r->head = r->method == HTTP_HEAD;
        r->url = r->in + r->url_off;
        r->body = r->body_len ? r->in + r->body_off : NULL;
        uv_read_stop((uv_stream_t *)&r->tcp); /* one request: nothing more is read */
        r->srv->handler(r);
    } else if (err != HPE_OK) {
        refuse(r, 400, "Bad Request", "bad request");
    }
}

static void free_refused(uv_handle_t *h) {
    free(h->data); /* the request the handle sits in (not at its start) */
}

static void on_connection(uv_stream_t *server, int status) {
    wr_httpd_t *s = server->data;
    if (status < 0)
        return;
    wr_httpd_req_t *r = calloc(1, sizeof *r + s->req_max);
    if (!r)
        return;
    uv_tcp_init(s->loop, &r->tcp);
    r->tcp.data = r;
    if (uv_accept(server, (uv_stream_t *)&r->tcp) < 0) {
        uv_close((uv_handle_t *)&r->tcp, free_refused);
        return;
    }
    if (s->nconns >= s->max_conns) {
        /* the oldest connection already answered and lingering gives way, or else the oldest still
         * waiting for its request (the list is newest first): a client holds no slot it has not earned
         * with a whole request, and a refused one cannot keep its slot by lingering */
        wr_httpd_req_t *old = NULL, *old_lingering = NULL;
        for (wr_httpd_req_t *c = s->conns; c; c = c->next) {
            if (c->closing)
                continue;
            if (c->lingering)
                old_lingering = c;
            else if (!c->done)
                old = c;
        }
        if (old_lingering)
            old = old_lingering;
        if (!old) {
            uv_close((uv_handle_t *)&r->tcp, free_refused);
            return;
        }
        s->evicted++;
        conn_close(old);
    }
    r->srv = s;
    uv_timer_init(s->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timeout, s->timeout_ms, 0);
    llhttp_init(&r->parser, HTTP_REQUEST, &s->settings);
    r->parser.data = r;
    r->next = s->conns;
    if (s->conns)
        s->conns->prev = r;
    s->conns = r;
    s->nconns++;
    uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read);
}

int wr_httpd_start(wr_httpd_t *s, uv_loop_t *loop, const char *host, unsigned port, size_t max_conns,
                   size_t req_max, uint64_t timeout_ms, wr_httpd_handler handler, void *arg) {
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->handler = handler;
    s->arg = arg;
    s->max_conns = max_conns;
    s->req_max = req_max;
    s->timeout_ms = timeout_ms;
    llhttp_settings_init(&s->settings);
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_field_complete = on_header_field_complete;
    s->settings.on_header_value = on_header_value;
    s->settings.on_header_value_complete = on_header_value_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    struct sockaddr_storage ss;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss)
                               : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        return rc;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    if ((rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection)) < 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        return rc;
    }
    s->listening = true;
    return 0;
}

void wr_httpd_close(wr_httpd_t *s) {
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, NULL);
    }
    while (s->conns)
        conn_close(s->conns);
}
