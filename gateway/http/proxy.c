/* The origin side: a per-worker pool of keep-alive HTTP/1.1 connections to the origin, and the relay
 * of each response back to its client.
 *
 * Pool: idle connections are reused most-recent-first; at most pool_max_conns exist per worker, and
 * requests beyond that wait in FIFO order (bounded by the origin connect timeout). After
 * down_after_failures consecutive connect failures the origin counts as down: requests get a quick 502
 * for retry_after_ms, then one request probes it again. An idle connection keeps reading, so a close
 * by the origin is noticed before it is reused; a request that still meets a stale connection (no
 * response byte, idempotent, no body) is retried once on a fresh one.
 *
 * Relay: the response head is rewritten (headers.c); the body is relayed with the origin's own framing
 * (or de-chunked for HTTP/1.0 clients), straight from this connection's read buffer. While the client
 * write is pending, the bytes it carries are not touched; when the buffer is full as well, the rest of
 * the response goes through a spool file (spool.c) so the origin connection is free once the origin
 * is done; without room to spool, reading stops (back-pressure). */
#include "common/log.h"
#include "gateway/http/internal.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void up_close(gw_upstream_t *u);
static void up_fail(gw_upstream_t *u, bool timeout);
static void pool_give(gw_pool_t *p, gw_upstream_t *u, gw_conn_t *c);
static void connect_new(gw_pool_t *p, gw_conn_t *c);

static inline const wr_config_t *pcfg(gw_pool_t *p) {
    return p->w->cfg;
}

int gw_pool_init(gw_pool_t *p, gw_worker_t *w) {
    memset(p, 0, sizeof *p);
    p->w = w;
    gw_list_init(&p->idle);
    gw_list_init(&p->waiters);
    gw_list_init(&p->busy);
    char port[8];
    snprintf(port, sizeof port, "%u", w->cfg->origin.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(w->cfg->origin.host, port, &hints, &res);
    if (rc != 0 || !res) {
        WR_ERROR("cannot resolve origin", "host=%s error=\"%s\"", w->cfg->origin.host, gai_strerror(rc));
        return -1;
    }
    memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    uv_timer_init(&w->loop, &p->cut_timer);
    p->cut_timer.data = p;
    uv_unref((uv_handle_t *)&p->cut_timer);
    return 0;
}

/* ---- timers ---------------------------------------------------------------------------------- */

static void on_up_timer(void *arg) {
    gw_upstream_t *u = arg;
    gw_http_metrics_t *m = &u->pool->w->metrics;
    if (u->state == GW_UP_IDLE) {
        up_close(u);
        return;
    }
    if (u->state == GW_UP_CONNECTING) {
        GW_INC(m, upstream_connect_errors);
        WR_WARN("origin connect timeout", "worker=%d", u->pool->w->id);
    } else {
        GW_INC(m, upstream_timeouts);
        WR_WARN("origin response timeout", "worker=%d", u->pool->w->id);
    }
    up_fail(u, true);
}

static void up_arm(gw_upstream_t *u, uint64_t ms) {
    gw_timer_arm(&u->timer, ms);
}

/* ---- closing ---------------------------------------------------------------------------------- */

static void on_up_close(uv_handle_t *h) {
    gw_upstream_t *u = h->data;
    if (--u->pending_closes)
        return;
    if (u->blk)
        gw_ublock_put(u->pool->w, u->blk);
    free(u);
}

/* A free slot lets the first waiting request open a connection. */
static void serve_waiter(gw_pool_t *p) {
    while (!gw_list_empty(&p->waiters) && p->ntotal < pcfg(p)->origin_pool_max_conns) {
        gw_conn_t *c = GW_CONTAINER(p->waiters.next, gw_conn_t, wait_link);
        gw_pool_cancel_wait(p, c);
        gw_pool_acquire(p, c);
    }
}

static void up_close(gw_upstream_t *u) {
    if (u->state == GW_UP_CLOSING)
        return;
    gw_pool_t *p = u->pool;
    gw_http_metrics_t *m = &p->w->metrics;
    if (u->state == GW_UP_IDLE) {
        gw_list_remove(&u->link);
        p->nidle--;
        GW_DEC(m, pool_idle);
    } else if (u->state == GW_UP_BUSY) {
        GW_DEC(m, pool_busy);
    }
    gw_list_remove(&u->busy_link);
    u->state = GW_UP_CLOSING;
    if (u->client) {
        u->client->up = NULL;
        u->client = NULL;
    }
    p->ntotal--;
    u->pending_closes = 2;
    uv_close((uv_handle_t *)&u->tcp, on_up_close);
    uv_close((uv_handle_t *)&u->timer.timer, on_up_close);
    serve_waiter(p);
}

void gw_upstream_detach(gw_upstream_t *u) {
    u->client = NULL;
    up_close(u);
}

static bool origin_failure_noted(gw_pool_t *p) {
    gw_worker_t *w = p->w;
    p->consecutive_failures++;
    if (p->consecutive_failures >= pcfg(p)->origin_down_after_failures) {
        if (!p->down_until_ms)
            WR_ERROR("origin down", "worker=%d failures=%u retry_ms=%llu", w->id, p->consecutive_failures,
                     (unsigned long long)pcfg(p)->origin_retry_after_ms);
        p->down_until_ms = uv_now(&w->loop) + pcfg(p)->origin_retry_after_ms;
        GW_SET(&w->metrics, origin_down, 1);
        return true;
    }
    return false;
}

/* The connection failed. Retry once if that is safe, else answer the client 502/504 (or cut the
 * response if it had begun). */
static void up_fail(gw_upstream_t *u, bool timeout) {
    gw_conn_t *c = u->client;
    gw_pool_t *p = u->pool;
    bool connecting = u->state == GW_UP_CONNECTING;
    bool retry = c && u->reused && !u->got_bytes && c->idempotent && !c->has_body && !c->retried;
    bool head_sent = u->head_sent;
    if (!connecting && !timeout)
        GW_INC(&p->w->metrics, upstream_errors);
    up_close(u);
    if (connecting)
        origin_failure_noted(p);
    if (!c)
        return;
    if (retry) {
        c->retried = 1;
        GW_INC(&p->w->metrics, upstream_retries);
        connect_new(p, c);
        return;
    }
    if (head_sent)
        gw_conn_abort(c);
    else
        gw_conn_upstream_failed(c, timeout ? 504 : 502);
}

void gw_pool_close_idle(gw_pool_t *p) {
    if (!p->stopped) {
        p->stopped = true;
        uv_close((uv_handle_t *)&p->cut_timer, NULL);
    }
    while (!gw_list_empty(&p->idle))
        up_close(GW_CONTAINER(p->idle.next, gw_upstream_t, link));
    while (!gw_list_empty(&p->waiters)) {
        gw_conn_t *c = GW_CONTAINER(p->waiters.next, gw_conn_t, wait_link);
        gw_pool_cancel_wait(p, c);
        gw_conn_upstream_failed(c, 503);
    }
}

/* ---- writing the request ---------------------------------------------------------------------- */

static void on_up_write(uv_write_t *req, int status) {
    gw_upstream_t *u = req->data;
    u->writing = 0;
    if (u->state == GW_UP_CLOSING)
        return;
    if (status < 0) {
        up_fail(u, false);
        return;
    }
    up_arm(u, pcfg(u->pool)->origin_response_timeout_ms);
    if (u->client)
        gw_conn_body_sent(u->client);
}

int gw_upstream_write(gw_upstream_t *u, const uv_buf_t *bufs, unsigned n) {
    u->wreq.data = u;
    int rc = gw_write((uv_stream_t *)&u->tcp, &u->wreq, bufs, n, on_up_write);
    if (rc < 0) {
        up_fail(u, false);
        return -1;
    }
    if (rc == 1)
        u->writing = 1;
    return rc;
}

void gw_upstream_request_sent(gw_upstream_t *u) {
    u->sent_at_us = uv_hrtime() / 1000;
    up_arm(u, pcfg(u->pool)->origin_response_timeout_ms);
}

/* ---- reading the response ---------------------------------------------------------------------- */

static inline gw_upstream_t *up_of(llhttp_t *p) {
    return p->data;
}

static int r_on_message_begin(llhttp_t *p) {
    gw_upstream_t *u = up_of(p);
    u->nhdrs = 0;
    u->in_value = 0;
    u->status_off = u->status_len = 0;
    return 0;
}

static int r_on_status(llhttp_t *p, const char *at, size_t len) {
    gw_upstream_t *u = up_of(p);
    uint32_t off = (uint32_t)(at - u->blk->in);
    if (u->status_len == 0)
        u->status_off = off;
    u->status_len = off + (uint32_t)len - u->status_off;
    return 0;
}

static int r_on_header_field(llhttp_t *p, const char *at, size_t len) {
    gw_upstream_t *u = up_of(p);
    return gw_hdr_on_field(u->blk->hdrs, &u->nhdrs, GW_UP_MAX_HEADERS, &u->in_value,
                           (uint32_t)(at - u->blk->in), len) < 0
               ? -1
               : 0;
}

static int r_on_header_value(llhttp_t *p, const char *at, size_t len) {
    gw_upstream_t *u = up_of(p);
    return gw_hdr_on_value(u->blk->hdrs, u->nhdrs, &u->in_value, (uint32_t)(at - u->blk->in), len) < 0 ? -1
                                                                                                       : 0;
}

static int r_on_headers_complete(llhttp_t *p) {
    gw_upstream_t *u = up_of(p);
    int st = p->status_code;
    u->head_done = 1;
    u->interim = st >= 100 && st < 200;
    /* llhttp does not know the request method, nor that 204/304 never have a body. */
    if (!u->interim && ((u->client && u->client->is_head) || st == 204 || st == 304))
        p->flags |= F_SKIPBODY;
    return HPE_PAUSED;
}

static int r_on_body(llhttp_t *p, const char *at, size_t len) {
    gw_upstream_t *u = up_of(p);
    if (u->dechunk) {
        /* decoded bytes never run ahead of raw ones, so they can be packed in place */
        memmove(u->blk->in + u->dec_end, at, len);
        u->dec_end += (uint32_t)len;
    }
    return 0;
}

static int r_on_message_complete(llhttp_t *p) {
    up_of(p)->msg_done = 1;
    return HPE_PAUSED;
}

void gw_upstream_settings_init(llhttp_settings_t *s) {
    llhttp_settings_init(s);
    s->on_message_begin = r_on_message_begin;
    s->on_status = r_on_status;
    s->on_header_field = r_on_header_field;
    s->on_header_value = r_on_header_value;
    s->on_headers_complete = r_on_headers_complete;
    s->on_body = r_on_body;
    s->on_message_complete = r_on_message_complete;
}

/* The final response head is complete: rewrite it for the client. Returns -1 if it is unusable. */
static int on_head(gw_upstream_t *u) {
    gw_conn_t *c = u->client;
    gw_worker_t *w = u->pool->w;
    int st = u->parser.status_code;
    if (st < 200 || st > 999)
        return -1; /* 101 without an upgrade request, or nonsense */
    gw_hdr_trim_values(u->blk->in, u->blk->hdrs, u->nhdrs);
    uint64_t latency_us = u->sent_at_us ? uv_hrtime() / 1000 - u->sent_at_us : 0;
    if (u->sent_at_us)
        wr_histo_observe(&w->metrics.upstream_latency, latency_us);
    if (llhttp_message_needs_eof(&u->parser))
        c->keep_alive = 0; /* body ends when the origin closes: so must we */
    if (c->http10 && (u->parser.flags & F_CHUNKED)) {
        u->dechunk = 1;
        c->keep_alive = 0;
    }
    if (w->stopping)
        c->keep_alive = 0;
    gw_hdrs_t hs = {u->blk->in, u->blk->hdrs, u->nhdrs};
    const char *extra = NULL; /* e.g. the queue's renewed or ended pass */
    if (c->hooked && w->hooks->on_response)
        extra = w->hooks->on_response(w->hooks_ctx, &c->blk->req, st, &hs, latency_us);
    gw_status_line_t sl = {
        .extra = extra,
        .status = st,
        .reason = u->blk->in + u->status_off,
        .reason_len = u->status_len,
        .keep_alive = c->keep_alive,
        .client_http10 = c->http10,
        .drop_framing = u->dechunk,
    };
    if (sl.reason_len == 0) {
        sl.reason = gw_http_reason(st);
        sl.reason_len = strlen(sl.reason);
    }
    long n = gw_build_response_head(&hs, &sl, u->blk->out, sizeof u->blk->out);
    if (n < 0)
        return -1;
    u->head_len = (uint32_t)n;
    u->head_pending = 1;
    u->head_sent = 1;
    c->status = (uint16_t)st;
    u->fwd_off = u->dec_end = u->parse_off;
    return 0;
}

/* Parses what has arrived, up to the end of the response. Returns -1 on a malformed response. */
static int parse_available(gw_upstream_t *u) {
    /* After a pause llhttp may complete the message without another byte (no body), so it runs once
     * more even on an empty input. */
    bool paused = false;
    while (!u->msg_done && (u->parse_off < u->in_len || paused)) {
        paused = false;
        const char *start = u->blk->in + u->parse_off;
        llhttp_errno_t err = llhttp_execute(&u->parser, start, u->in_len - u->parse_off);
        if (err == HPE_OK) {
            u->parse_off = u->in_len;
            break;
        }
        if (err != HPE_PAUSED)
            return -1;
        u->parse_off = (uint32_t)(llhttp_get_error_pos(&u->parser) - u->blk->in);
        llhttp_resume(&u->parser);
        paused = true;
        if (u->msg_done && u->interim) {
            /* a 1xx (we sent no Expect, so it is informational): drop it and read on */
            u->msg_done = u->interim = u->head_done = 0;
            memmove(u->blk->in, u->blk->in + u->parse_off, u->in_len - u->parse_off);
            u->in_len -= u->parse_off;
            u->parse_off = 0;
            continue;
        }
        if (u->head_done && !u->head_sent && !u->interim && on_head(u) < 0)
            return -1;
    }
    return 0;
}

static void on_up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void up_read_start(gw_upstream_t *u) {
    if (!u->reading && uv_read_start((uv_stream_t *)&u->tcp, on_up_alloc, on_up_read) == 0)
        u->reading = 1;
}

/* The response has ended on the origin's side: the connection goes back to the pool (or is closed). */
static void release_upstream(gw_upstream_t *u, gw_conn_t *c) {
    gw_pool_t *p = u->pool;
    bool reusable = llhttp_should_keep_alive(&u->parser) && u->parse_off == u->in_len && c->req_sent &&
                    !u->writing && !p->w->stopping;
    u->client = NULL;
    c->up = NULL;
    if (reusable)
        pool_give(p, u, NULL);
    else
        up_close(u);
}

static void finish(gw_upstream_t *u) {
    gw_conn_t *c = u->client;
    if (c->spool) { /* caught up before the end */
        gw_spool_close(u->pool->w, c->spool);
        c->spool = NULL;
    }
    release_upstream(u, c);
    gw_conn_response_done(c);
}

/* The origin has sent it all, the client has not taken it all: it goes on from the spool, and the
 * upstream connection is free now. */
static void finish_spooled(gw_upstream_t *u, gw_conn_t *c) {
    gw_spool_finish(c->spool);
    release_upstream(u, c);
    gw_spool_pump(c); /* may end the response, and start the next one */
}

/* Hands bytes of the response to the client: what the socket does not take at once goes to the spool
 * (when it may: the request is all sent, and the bounds allow), else waits in the buffer with a write
 * pending. 0 all handed over; 1 a write from the buffer is pending; -1 the client was cut (and u may
 * be gone). */
static int relay_write(gw_upstream_t *u, gw_conn_t *c, uv_buf_t *b, unsigned nb) {
    gw_worker_t *w = u->pool->w;
    size_t total = 0, done = 0;
    for (unsigned i = 0; i < nb; i++)
        total += b[i].len;
    if (c->req_sent && w->cfg->spool_max_bytes) {
        int r = uv_try_write((uv_stream_t *)&c->tcp, b, nb);
        if (r < 0 && r != UV_EAGAIN) {
            gw_conn_abort(c);
            return -1;
        }
        done = r > 0 ? (size_t)r : 0;
        if (done == total)
            return 0;
        if (c->spool || (c->spool = gw_spool_open(w))) {
            int a = gw_spool_append(w, c->spool, b, nb, done);
            if (a < 0) {
                gw_conn_abort(c);
                return -1;
            }
            if (a == 0) {
                gw_spool_pump(c);
                return c->up == u ? 0 : -1;
            }
        }
        /* no room to spool: the rest waits here */
        unsigned k = 0;
        for (unsigned i = 0; i < nb; i++) {
            if (done >= b[i].len) {
                done -= b[i].len;
                continue;
            }
            b[k++] = uv_buf_init(b[i].base + done, (unsigned)(b[i].len - done));
            done = 0;
        }
        nb = k;
    }
    int rc = gw_conn_write(c, b, nb);
    if (rc < 0) {
        gw_conn_abort(c);
        return -1;
    }
    if (rc == 1) {
        u->in_busy = 1;
        u->busy_end = u->fwd_off;
    }
    return rc;
}

/* The client is behind: what the origin sends goes to the end of the spool. */
static void spool_relay(gw_upstream_t *u, gw_conn_t *c) {
    gw_worker_t *w = u->pool->w;
    if (!c->spool && !(c->spool = gw_spool_open(w)))
        return; /* no spooling: plain back-pressure, reading stops when the buffer is full */
    int rc = 0;
    if (u->head_pending) {
        uv_buf_t h = uv_buf_init(u->blk->out, u->head_len);
        rc = gw_spool_append(w, c->spool, &h, 1, 0);
        if (rc == 0)
            u->head_pending = 0;
    }
    uint32_t end = u->dechunk ? u->dec_end : u->parse_off;
    if (rc == 0 && end > u->fwd_off) {
        uv_buf_t d = uv_buf_init(u->blk->in + u->fwd_off, end - u->fwd_off);
        rc = gw_spool_append(w, c->spool, &d, 1, 0);
        if (rc == 0)
            u->fwd_off = end;
    }
    if (rc < 0) {
        gw_conn_abort(c);
        return;
    }
    bool all_in = rc == 0 && !u->head_pending && u->fwd_off == end;
    if (all_in && u->parse_off == u->in_len) {
        /* all of it is in the file: the buffer is free again, but for a direct write still in flight */
        uint32_t base = u->in_busy ? u->busy_end : 0;
        u->in_len = u->parse_off = u->fwd_off = u->dec_end = base;
    }
    if (all_in && u->msg_done) {
        if (!u->in_busy) /* else the client's write still reads this buffer: after it (on_write) */
            finish_spooled(u, c);
        return;
    }
    if (rc == 0)
        up_read_start(u);
    /* rc == 1, no room in the spool: reading stops when the buffer is full and goes on as the client
     * takes bytes (on_write pumps, then calls us again) */
    gw_spool_pump(c);
}

void gw_upstream_relay(gw_upstream_t *u) {
    gw_conn_t *c = u->client;
    if (!c || u->state != GW_UP_BUSY)
        return;
    /* A client with a write in flight, or with bytes waiting in its spool, is behind: what comes
     * from the origin goes to the spool. A write in flight from this buffer (no spooling then) pins
     * it, so the spool is tried again only once the buffer is full. */
    bool spooled = c->spool && !gw_spool_drained(c->spool);
    bool full = u->head_sent && u->in_len == GW_UP_IN_BYTES && c->req_sent;
    if (c->writing && !spooled && !full)
        return;
    if (parse_available(u) < 0) {
        WR_WARN("bad response from origin", "worker=%d error=%s", u->pool->w->id,
                llhttp_errno_name(llhttp_get_errno(&u->parser)));
        up_fail(u, false);
        return;
    }
    if (c->writing || spooled) {
        spool_relay(u, c);
        return;
    }
    uv_buf_t b[2];
    unsigned nb = 0;
    if (u->head_pending) {
        b[nb++] = uv_buf_init(u->blk->out, u->head_len);
        u->head_pending = 0;
    }
    if (u->head_sent) {
        uint32_t end = u->dechunk ? u->dec_end : u->parse_off;
        if (end > u->fwd_off) {
            b[nb++] = uv_buf_init(u->blk->in + u->fwd_off, end - u->fwd_off);
            u->fwd_off = end;
        }
    }
    if (nb) {
        int rc = relay_write(u, c, b, nb);
        if (rc < 0)
            return;
        if (rc == 1)
            return; /* the client's write callback calls us again */
    }
    if (u->msg_done) {
        /* a write still pending here is the spool's last bytes, from its buffer: it ends the response */
        if (c->spool && (c->writing || !gw_spool_drained(c->spool)))
            finish_spooled(u, c);
        else
            finish(u);
        return;
    }
    if (u->head_sent && u->parse_off == u->in_len) /* everything relayed: start over at the top */
        u->in_len = u->parse_off = u->fwd_off = u->dec_end = 0;
    up_read_start(u);
}

static void on_up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    gw_upstream_t *u = h->data;
    if (!u->blk) {
        /* an idle connection: any byte is unexpected, a small scratch is enough to notice it */
        static _Thread_local char scratch[64];
        *buf = uv_buf_init(scratch, sizeof scratch);
        return;
    }
    if (u->in_len == GW_UP_IN_BYTES && u->head_sent && u->fwd_off == u->parse_off && u->client &&
        !u->client->writing && !u->dechunk) {
        uint32_t keep = u->in_len - u->parse_off;
        memmove(u->blk->in, u->blk->in + u->parse_off, keep);
        u->in_len = keep;
        u->parse_off = u->fwd_off = u->dec_end = 0;
    }
    *buf = uv_buf_init(u->blk->in + u->in_len, GW_UP_IN_BYTES - u->in_len);
}

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    gw_upstream_t *u = s->data;
    if (u->state == GW_UP_IDLE || !u->client) {
        if (n != 0)
            up_close(u); /* the origin closed an idle connection, or sent junk on it */
        return;
    }
    if (n > 0) {
        u->in_len += (uint32_t)n;
        u->got_bytes = 1;
        up_arm(u, pcfg(u->pool)->origin_response_timeout_ms);
        gw_upstream_relay(u);
        return;
    }
    if (n == 0)
        return;
    if (n == UV_ENOBUFS) {
        uv_read_stop(s);
        u->reading = 0;
        if (!u->head_sent) {
            WR_WARN("origin response head too large", "worker=%d", u->pool->w->id);
            up_fail(u, false);
        }
        return;
    }
    uv_read_stop(s);
    u->reading = 0;
    if (n == UV_EOF && u->head_sent && llhttp_message_needs_eof(&u->parser)) {
        /* the body was delimited by the close */
        if (u->parse_off == u->in_len) {
            llhttp_finish(&u->parser);
            u->msg_done = 1;
        }
        u->parser.flags &= ~(uint16_t)F_CONNECTION_KEEP_ALIVE;
        gw_upstream_relay(u);
        return;
    }
    up_fail(u, false);
}

/* ---- acquiring a connection -------------------------------------------------------------------- */

static void start_request(gw_upstream_t *u, gw_conn_t *c) {
    gw_pool_t *p = u->pool;
    u->client = c;
    c->up = u;
    u->state = GW_UP_BUSY;
    gw_list_push(&p->busy, &u->busy_link);
    GW_INC(&p->w->metrics, pool_busy);
    if (!u->blk && !(u->blk = gw_ublock_get(p->w))) {
        up_fail(u, false);
        return;
    }
    llhttp_init(&u->parser, HTTP_RESPONSE, &p->w->resp_settings);
    u->parser.data = u;
    u->in_len = u->parse_off = u->fwd_off = u->dec_end = 0;
    u->head_done = u->head_sent = u->head_pending = u->msg_done = u->got_bytes = u->dechunk = u->interim = 0;
    u->in_busy = 0;
    u->sent_at_us = 0;
    up_arm(u, pcfg(p)->origin_response_timeout_ms);
    up_read_start(u);
    uv_buf_t b = uv_buf_init(c->blk->out, c->out_len);
    if (gw_upstream_write(u, &b, 1) < 0)
        return; /* up_fail has answered */
    gw_conn_upstream_ready(c);
}

static void on_connect(uv_connect_t *req, int status) {
    gw_upstream_t *u = req->data;
    gw_pool_t *p = u->pool;
    if (u->state == GW_UP_CLOSING)
        return;
    if (status < 0) {
        GW_INC(&p->w->metrics, upstream_connect_errors);
        WR_WARN("origin connect failed", "worker=%d error=%s", p->w->id, uv_err_name(status));
        up_fail(u, false);
        return;
    }
    if (p->down_until_ms)
        WR_INFO("origin up again", "worker=%d", p->w->id);
    p->consecutive_failures = 0;
    p->down_until_ms = 0;
    GW_SET(&p->w->metrics, origin_down, 0);
    uv_tcp_nodelay(&u->tcp, 1);
    gw_conn_t *c = u->client;
    u->state = GW_UP_IDLE; /* not in the idle list: start_request makes it busy */
    if (!c) {
        pool_give(p, u, NULL);
        return;
    }
    start_request(u, c);
}

static void connect_new(gw_pool_t *p, gw_conn_t *c) {
    gw_worker_t *w = p->w;
    gw_upstream_t *u = calloc(1, sizeof *u);
    if (!u) {
        gw_conn_upstream_failed(c, 503);
        return;
    }
    u->pool = p;
    gw_list_init(&u->link);
    gw_list_init(&u->busy_link);
    uv_tcp_init(&w->loop, &u->tcp);
    gw_timer_init(&w->loop, &u->timer, on_up_timer, u);
    u->tcp.data = u->creq.data = u;
    u->state = GW_UP_CONNECTING;
    u->client = c;
    c->up = u;
    p->ntotal++;
    GW_INC(&w->metrics, upstream_connects);
    int rc = uv_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&p->addr, on_connect);
    if (rc < 0) {
        GW_INC(&w->metrics, upstream_connect_errors);
        WR_WARN("origin connect failed", "worker=%d error=%s", w->id, uv_err_name(rc));
        up_fail(u, false);
        return;
    }
    up_arm(u, pcfg(p)->origin_connect_timeout_ms);
}

/* Puts a connection back: to a waiting request if there is one, else into the idle list. */
static void pool_give(gw_pool_t *p, gw_upstream_t *u, gw_conn_t *c) {
    gw_http_metrics_t *m = &p->w->metrics;
    (void)c;
    if (u->state == GW_UP_BUSY)
        GW_DEC(m, pool_busy);
    gw_list_remove(&u->busy_link);
    u->state = GW_UP_IDLE;
    if (!gw_list_empty(&p->waiters)) {
        gw_conn_t *next = GW_CONTAINER(p->waiters.next, gw_conn_t, wait_link);
        gw_pool_cancel_wait(p, next);
        u->reused = 1;
        GW_INC(m, upstream_reused);
        start_request(u, next);
        return;
    }
    if (p->nidle >= pcfg(p)->origin_pool_max_idle) {
        u->state = GW_UP_BUSY; /* so up_close does not look for it in the idle list */
        GW_INC(m, pool_busy);
        up_close(u);
        return;
    }
    if (u->blk) {
        gw_ublock_put(p->w, u->blk);
        u->blk = NULL;
    }
    gw_list_push(&p->idle, &u->link);
    p->nidle++;
    GW_INC(m, pool_idle);
    up_arm(u, pcfg(p)->origin_pool_idle_timeout_ms);
    up_read_start(u);
}

/* Every connection is busy and a request waits: the one held longest by a client whose write has not
 * completed for GW_STALL_CUT_MS (its response waiting on the origin connection, the spool full or off)
 * is freed by cutting that client. The freed slot goes to the first waiter. Known limit (review): a
 * write completes only once the kernel has taken all of it, so a client reading steadily but slowly
 * (16 KB/s behind megabytes of socket buffer) looks stalled too and can be cut under this pressure;
 * telling it apart needs sampling the socket's unsent bytes over a longer window. */
static bool cut_stalled(gw_pool_t *p) {
    uint64_t now = uv_now(&p->w->loop);
    gw_conn_t *worst = NULL;
    for (gw_list_t *e = p->busy.next; e != &p->busy; e = e->next) {
        gw_upstream_t *u = GW_CONTAINER(e, gw_upstream_t, busy_link);
        gw_conn_t *c = u->client;
        if (!c || !c->writing || !u->head_sent || u->reading || now - c->caught_up_ms < GW_STALL_CUT_MS)
            continue;
        if (!worst || c->caught_up_ms < worst->caught_up_ms)
            worst = c;
    }
    if (!worst)
        return false;
    GW_INC(&p->w->metrics, stalled_cut);
    WR_DEBUG("stalled client cut for a waiting request", "worker=%d client=%s stalled_ms=%llu", p->w->id,
             worst->client_ip, (unsigned long long)(now - worst->caught_up_ms));
    gw_conn_abort(worst); /* closes its origin connection: serve_waiter */
    return true;
}

/* While requests wait, clients keep stalling: every quarter second, one cut per waiting request. */
static void on_cut_timer(uv_timer_t *t) {
    gw_pool_t *p = t->data;
    while (!gw_list_empty(&p->waiters) && cut_stalled(p))
        ;
    if (gw_list_empty(&p->waiters))
        uv_timer_stop(t);
}

void gw_pool_acquire(gw_pool_t *p, gw_conn_t *c) {
    gw_worker_t *w = p->w;
    gw_http_metrics_t *m = &w->metrics;
    while (!gw_list_empty(&p->idle)) {
        gw_upstream_t *u = GW_CONTAINER(p->idle.prev, gw_upstream_t, link);
        gw_list_remove(&u->link);
        p->nidle--;
        GW_DEC(m, pool_idle);
        u->reused = 1;
        GW_INC(m, upstream_reused);
        start_request(u, c);
        return;
    }
    if (p->down_until_ms) {
        if (uv_now(&w->loop) < p->down_until_ms) {
            gw_conn_upstream_failed(c, 502);
            return;
        }
        /* time for one probe; others fail fast until it answers */
        p->down_until_ms = uv_now(&w->loop) + pcfg(p)->origin_retry_after_ms;
    }
    if (p->ntotal >= pcfg(p)->origin_pool_max_conns) {
        gw_list_push(&p->waiters, &c->wait_link);
        c->waiting = 1;
        p->nwaiting++;
        GW_INC(m, pool_waiting);
        gw_conn_arm(c, pcfg(p)->origin_connect_timeout_ms);
        cut_stalled(p);
        if (!p->stopped && !uv_is_active((uv_handle_t *)&p->cut_timer))
            uv_timer_start(&p->cut_timer, on_cut_timer, GW_STALL_CUT_MS / 4, GW_STALL_CUT_MS / 4);
        return;
    }
    connect_new(p, c);
}

void gw_pool_cancel_wait(gw_pool_t *p, gw_conn_t *c) {
    if (!c->waiting)
        return;
    gw_list_remove(&c->wait_link);
    c->waiting = 0;
    p->nwaiting--;
    GW_DEC(&p->w->metrics, pool_waiting);
}
