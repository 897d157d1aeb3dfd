/* One client connection: read a request head (llhttp, strict), check it (request.c), show it to the
 * hooks (the queue), hand it to the upstream pool, stream the body to the origin, and let proxy.c
 * stream the response back.
 *
 * Invariants:
 *  - One request at a time per connection. Pipelined bytes wait in blk->in, unparsed, until the
 *    response to the current request has been fully written; responses therefore keep their order.
 *  - blk->in holds [0, parse_off) seen by the parser and [parse_off, in_len) not yet parsed; request
 *    body bytes [body_off, parse_off) are forwarded raw, with their own framing (llhttp has checked
 *    it). Bytes are never moved while an upstream write points into the buffer.
 *  - An idle keep-alive connection owns no buffer (blk == NULL): its cost is this struct.
 *  - Every phase has a time limit on the one timer: idle, header, body, send, linger.
 * Errors the gateway answers itself always close the connection after a short lingering read, so the
 * client sees the status instead of a reset. */
#include "common/buf.h"
#include "common/log.h"
#include "gateway/http/internal.h"
#include "gateway/http/request.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static void conn_process(gw_conn_t *c);
static void conn_close(gw_conn_t *c);
static void forward_body(gw_conn_t *c);
static void body_progress(gw_conn_t *c);
static void send_error(gw_conn_t *c, int status);

static inline const wr_config_t *cfg_of(gw_conn_t *c) {
    return c->w->cfg;
}

/* ---- timers ---------------------------------------------------------------------------------- */

static void on_timer(void *arg) {
    gw_conn_t *c = arg;
    switch (c->phase) {
    case GW_C_HEAD:
        if (c->got_bytes) {
            GW_INC(&c->w->metrics, client_timeouts);
            WR_DEBUG("header timeout", "client=%s", c->client_ip);
            send_error(c, 408);
        } else {
            conn_close(c); /* idle keep-alive, or a connection that never spoke */
        }
        return;
    case GW_C_FORWARD:
        if (c->waiting) { /* no origin connection became free in time */
            WR_WARN("origin pool exhausted", "worker=%d", c->w->id);
            send_error(c, 503);
            return;
        }
        GW_INC(&c->w->metrics, client_timeouts);
        if (!c->writing && !c->req_done && !(c->up && c->up->head_sent)) {
            WR_DEBUG("body timeout", "client=%s", c->client_ip);
            send_error(c, 408);
        } else {
            WR_DEBUG("send timeout", "client=%s", c->client_ip);
            conn_close(c);
        }
        return;
    default:
        conn_close(c);
    }
}

static void arm(gw_conn_t *c, uint64_t ms) {
    gw_timer_arm(&c->timer, ms);
}

void gw_conn_arm(gw_conn_t *c, uint64_t ms) {
    arm(c, ms);
}

/* A body streaming to the origin: the client has body_timeout_ms for its next bytes, and each piece
 * buys time at body_min_rate_bytes_per_s, never more than body_timeout_ms ahead; so a body dripped a
 * byte at a time is cut once its early allowance is spent, however long each pause, while a steady
 * upload keeps its clock full. 0 = off: every piece re-arms body_timeout_ms. */
static void body_clock_reset(gw_conn_t *c) {
    c->body_deadline_ms = uv_now(&c->w->loop) + cfg_of(c)->body_timeout_ms;
    c->body_credit = 0;
    arm(c, cfg_of(c)->body_timeout_ms);
}

static void body_clock(gw_conn_t *c, size_t n) {
    const wr_config_t *cfg = cfg_of(c);
    if (!cfg->body_min_rate_bytes_per_s) {
        arm(c, cfg->body_timeout_ms);
        return;
    }
    uint64_t now = uv_now(&c->w->loop), cap = now + cfg->body_timeout_ms;
    c->body_credit += (uint64_t)n * 1000; /* byte-milliseconds not yet turned into time: no rounding loss */
    c->body_deadline_ms += c->body_credit / cfg->body_min_rate_bytes_per_s;
    c->body_credit %= cfg->body_min_rate_bytes_per_s;
    if (c->body_deadline_ms > cap)
        c->body_deadline_ms = cap;
    arm(c, c->body_deadline_ms > now ? c->body_deadline_ms - now : 1);
}

/* ---- buffers and reading ---------------------------------------------------------------------- */

/* Moves unforwarded bytes to the front once the head is no longer needed. */
static void compact(gw_conn_t *c) {
    if (!c->blk || c->phase != GW_C_FORWARD || c->body_off == 0 || (c->up && c->up->writing))
        return;
    uint32_t keep = c->in_len - c->body_off;
    memmove(c->blk->in, c->blk->in + c->body_off, keep);
    c->parse_off -= c->body_off;
    c->in_len = keep;
    c->body_off = 0;
}

static _Thread_local char
    linger_scratch[4096]; /* bytes read while lingering are discarded; contents never read */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    gw_conn_t *c = h->data;
    if (c->phase == GW_C_LINGER) {
        *buf = uv_buf_init(linger_scratch, sizeof linger_scratch);
        return;
    }
    if (!c->blk && !(c->blk = gw_cblock_get(c->w))) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (c->in_len == c->blk->in_cap)
        compact(c);
    *buf = uv_buf_init(c->blk->in + c->in_len, c->blk->in_cap - c->in_len);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void ensure_reading(gw_conn_t *c) {
    if (c->reading || c->eof || c->phase == GW_C_CLOSING)
        return;
    if (c->blk && c->in_len == c->blk->in_cap && c->phase != GW_C_LINGER)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
        c->reading = 1;
        if (c->phase == GW_C_FORWARD && !c->req_done && !c->writing)
            body_clock_reset(c); /* the client's clock runs only while we read */
    }
}

static void stop_reading(gw_conn_t *c) {
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    gw_conn_t *c = s->data;
    if (n > 0) {
        if (c->phase == GW_C_LINGER)
            return;
        c->in_len += (uint32_t)n;
        if (!c->got_bytes && c->phase == GW_C_HEAD) {
            c->got_bytes = 1;
            c->started_ms = uv_now(&c->w->loop);
            arm(c, cfg_of(c)->header_timeout_ms);
        } else if (c->phase == GW_C_FORWARD && !c->req_done && !c->writing && c->up) {
            /* body bytes for the origin; a request held by a hook or queued for a pooled connection
             * keeps that clock (bytes of a next request must not stretch it) */
            body_clock(c, (size_t)n);
        }
        conn_process(c);
        return;
    }
    if (n == 0)
        return;
    if (n == UV_ENOBUFS) {
        stop_reading(c);
        if (c->phase == GW_C_HEAD && c->blk)
            send_error(c, 431);
        else if (!c->blk)
            conn_close(c); /* out of memory */
        else if (c->phase == GW_C_FORWARD && !c->writing && c->up)
            gw_timer_disarm(&c->timer); /* back-pressure from the origin: not the client's fault */
        /* else held by a hook, or queued for a pooled connection: that clock keeps running */
        return;
    }
    /* EOF or a socket error */
    stop_reading(c);
    c->eof = 1;
    if (n != UV_EOF || c->phase == GW_C_LINGER || c->phase == GW_C_HEAD) {
        if (c->phase == GW_C_HEAD && n == UV_EOF && c->parse_off < c->in_len)
            conn_process(c); /* a final request in the same packet as the FIN */
        else
            conn_close(c);
        return;
    }
    if (!c->req_done) {
        WR_DEBUG("client went away mid-request", "client=%s", c->client_ip);
        conn_close(c);
    }
    /* else: half-close after a complete request; answer it, then close */
}

/* ---- writing to the client ------------------------------------------------------------------- */

static void linger_close(gw_conn_t *c);

static void on_write(uv_write_t *req, int status) {
    gw_conn_t *c = req->data;
    c->writing = 0;
    if (c->phase == GW_C_CLOSING)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after_write) {
        linger_close(c);
        return;
    }
    if (c->phase == GW_C_FORWARD) { /* the send clock stops; the origin's clock governs a slow response */
        if (!c->req_done && c->reading)
            body_clock_reset(c);
        else
            gw_timer_disarm(&c->timer);
    }
    if (c->up)
        c->up->in_busy = 0; /* the write that pointed into the upstream's buffer, if any, is done */
    if (c->local) {
        gw_conn_response_done(c);
    } else if (c->spool) {
        gw_upstream_t *u = c->up;
        gw_spool_pump(c);
        if (u && c->up == u && c->phase == GW_C_FORWARD)
            gw_upstream_relay(u); /* room in the spool again, or the buffer it still held is free */
    } else if (c->up && !c->req_sent)
        forward_body(c); /* a 100 Continue went out while the body was on its way */
    else if (c->up)
        gw_upstream_relay(c->up);
    else if (c->phase == GW_C_FORWARD)
        body_progress(c); /* a 100 Continue went out */
}

int gw_conn_write(gw_conn_t *c, const uv_buf_t *bufs, unsigned n) {
    if (c->phase == GW_C_CLOSING || c->writing)
        return -1;
    c->caught_up_ms = uv_now(&c->w->loop);
    c->wreq.data = c;
    int rc = gw_write((uv_stream_t *)&c->tcp, &c->wreq, bufs, n, on_write);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        c->writing = 1;
        arm(c, cfg_of(c)->send_timeout_ms);
    }
    return rc;
}

/* ---- closing --------------------------------------------------------------------------------- */

/* The connection no longer wants an origin connection: leave the pool's queue, or close the origin
 * connection mid-request (it cannot be reused with a half-relayed message on it). */
/* The hooks learn that the request is over (once per on_request). */
static void req_end(gw_conn_t *c) {
    if (!c->hooked)
        return;
    c->hooked = 0;
    if (c->w->hooks->on_end)
        c->w->hooks->on_end(c->w->hooks_ctx, &c->blk->req);
}

static void drop_upstream(gw_conn_t *c) {
    req_end(c); /* e.g. a Redis call in flight for this request: its answer will find nobody */
    if (c->spool && !c->writing) { /* else a write still reads its buffer: closed in on_close */
        gw_spool_close(c->w, c->spool);
        c->spool = NULL;
    }
    if (c->waiting)
        gw_pool_cancel_wait(&c->w->pool, c);
    if (c->up) {
        gw_upstream_t *u = c->up;
        c->up = NULL;
        gw_upstream_detach(u);
    }
}

static void on_close(uv_handle_t *h) {
    gw_conn_t *c = h->data;
    if (--c->pending_closes)
        return;
    if (c->ip_counted)
        wr_count_release(c->w->conns_per_ip, c->client_ip, strlen(c->client_ip));
    if (c->spool)
        gw_spool_close(c->w, c->spool);
    if (c->blk)
        gw_cblock_put(c->w, c->blk);
    free(c);
}

static void conn_close(gw_conn_t *c) {
    if (c->phase == GW_C_CLOSING)
        return;
    gw_worker_t *w = c->w;
    if (c->phase == GW_C_FORWARD && !c->resp_done)
        GW_INC(&w->metrics, responses_by_class[0]);
    c->phase = GW_C_CLOSING;
    drop_upstream(c);
    gw_list_remove(&c->link);
    w->nconns--;
    atomic_fetch_sub_explicit(c->w->total_conns, 1, memory_order_relaxed);
    GW_DEC(&w->metrics, conns_open);
    c->pending_closes = 2;
    uv_close((uv_handle_t *)&c->tcp, on_close);
    uv_close((uv_handle_t *)&c->timer.timer, on_close);
}

/* Half-close, then read and discard until the peer closes or a short time passes: closing with
 * unread input would reset the connection and could destroy the response before the client reads it. */
static void linger_close(gw_conn_t *c) {
    if (c->phase == GW_C_CLOSING)
        return;
    uv_os_fd_t fd;
    if (c->eof || uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0) {
        conn_close(c);
        return;
    }
    shutdown(fd, SHUT_WR);
    if (c->phase == GW_C_FORWARD && !c->resp_done)
        GW_INC(&c->w->metrics, responses_by_class[0]);
    c->phase = GW_C_LINGER;
    drop_upstream(c);
    if (c->blk) {
        gw_cblock_put(c->w, c->blk);
        c->blk = NULL;
    }
    arm(c, GW_LINGER_MS);
    ensure_reading(c);
}

static void count_status(gw_conn_t *c, int status) {
    int cls = status / 100;
    GW_INC(&c->w->metrics, responses_by_class[cls >= 1 && cls <= 5 ? cls : 0]);
    GW_INC(&c->w->metrics, requests);
}

static void send_error(gw_conn_t *c, int status) {
    if (c->phase == GW_C_CLOSING || c->phase == GW_C_LINGER)
        return;
    if (c->writing || (c->up && c->up->head_sent)) {
        conn_close(c); /* part of a response is already out: all we can do is cut it */
        return;
    }
    drop_upstream(c);
    if (status >= 400 && status < 500 && status != 408)
        GW_INC(&c->w->metrics, client_errors);
    c->status = (uint16_t)status;
    c->resp_done = 1;
    count_status(c, status);
    c->keep_alive = 0;
    c->close_after_write = 1;
    stop_reading(c);
    size_t len;
    const char *resp = gw_http_error(status, &len);
    uv_buf_t b = uv_buf_init((char *)resp, (unsigned)len);
    int rc = gw_conn_write(c, &b, 1);
    if (rc < 0)
        conn_close(c);
    else if (rc == 0)
        linger_close(c);
}

/* ---- request parsing ------------------------------------------------------------------------- */

static inline gw_conn_t *conn_of(llhttp_t *p) {
    return p->data;
}

static int on_message_begin(llhttp_t *p) {
    gw_conn_t *c = conn_of(p);
    c->nhdrs = 0;
    c->url_off = c->url_len = 0;
    c->in_value = 0;
    c->body_bytes = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
    gw_conn_t *c = conn_of(p);
    uint32_t off = (uint32_t)(at - c->blk->in);
    if (c->url_len == 0)
        c->url_off = off;
    c->url_len = off + (uint32_t)len - c->url_off;
    if (c->url_len > cfg_of(c)->max_uri_bytes) {
        c->err_status = 414;
        return -1;
    }
    return 0;
}

/* Bytes of the message past its head: body, chunk extensions and trailers all count toward
 * max_body_bytes. */
static int add_body_bytes(gw_conn_t *c, size_t len) {
    c->body_bytes += len;
    uint64_t max = cfg_of(c)->max_body_bytes;
    if (max && c->body_bytes > max) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    gw_conn_t *c = conn_of(p);
    if (c->head_done)
        return add_body_bytes(c, len); /* a trailer field: counted, never forwarded */
    int rc = gw_hdr_on_field(c->blk->hdrs, &c->nhdrs, (uint16_t)cfg_of(c)->max_header_count, &c->in_value,
                             (uint32_t)(at - c->blk->in), len);
    if (rc < 0) {
        c->err_status = rc == -2 ? 431 : 400;
        return -1;
    }
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    gw_conn_t *c = conn_of(p);
    if (c->head_done)
        return add_body_bytes(c, len);
    if (gw_hdr_on_value(c->blk->hdrs, c->nhdrs, &c->in_value, (uint32_t)(at - c->blk->in), len) < 0) {
        c->err_status = 400; /* obs-fold (RFC 9112 section 5.2) */
        return -1;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    conn_of(p)->head_done = 1;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    (void)at;
    return add_body_bytes(conn_of(p), len);
}

static int on_chunk_extension(llhttp_t *p, const char *at, size_t len) {
    (void)at;
    return add_body_bytes(conn_of(p), len);
}

/* The last chunk's size line is parsed: stop there, so that forward_body sends the body up to it and
 * then drops the trailer section (it ends the chunked body for the origin with an empty one). */
static int on_chunk_header(llhttp_t *p) {
    if (p->content_length != 0)
        return 0;
    conn_of(p)->last_chunk = 1;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p) {
    conn_of(p)->req_done = 1;
    return HPE_PAUSED;
}

void gw_conn_settings_init(llhttp_settings_t *s) {
    llhttp_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_header_field = on_header_field;
    s->on_header_value = on_header_value;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_chunk_extension_name = on_chunk_extension;
    s->on_chunk_extension_value = on_chunk_extension;
    s->on_chunk_header = on_chunk_header;
    s->on_message_complete = on_message_complete;
}

static int parse_error_status(gw_conn_t *c, llhttp_errno_t err) {
    if (err == HPE_USER && c->err_status)
        return c->err_status;
    if (err == HPE_INVALID_VERSION)
        return 505;
    return 400;
}

/* Runs the parser over unparsed bytes. Returns 1 when it paused (head or message complete), 0 when it
 * consumed everything, -1 after answering an error. */
static int run_parser(gw_conn_t *c) {
    const char *start = c->blk->in + c->parse_off;
    llhttp_errno_t err = llhttp_execute(&c->parser, start, c->in_len - c->parse_off);
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        c->parse_off = (uint32_t)(llhttp_get_error_pos(&c->parser) - c->blk->in);
        llhttp_resume(&c->parser);
        return 1;
    }
    if (err == HPE_OK) {
        c->parse_off = c->in_len;
        return 0;
    }
    WR_DEBUG("bad request", "client=%s error=%s", c->client_ip, llhttp_errno_name(err));
    send_error(c, parse_error_status(c, err));
    return -1;
}

/* ---- the request head ------------------------------------------------------------------------ */

/* The body so far is kept in the block; the origin connection is asked for once the body is whole,
 * stops at its last chunk (the trailers are forward_body's), or fills the block. */
static void buffer_body(gw_conn_t *c) {
    if (!c->req_done && run_parser(c) < 0)
        return;
    if (!c->req_done && !c->last_chunk && c->in_len < c->blk->in_cap) {
        ensure_reading(c);
        return;
    }
    c->buffering = 0;
    if (c->req_done)
        gw_timer_disarm(&c->timer);
    else
        body_clock_reset(c);
    gw_pool_acquire(&c->w->pool, c);
}

static void body_progress(gw_conn_t *c) {
    if (c->buffering)
        buffer_body(c);
    else
        forward_body(c);
}

/* Sends the request on to the origin: its head for the origin, then a connection from the pool. */
static void forward(gw_conn_t *c) {
    const wr_config_t *cfg = cfg_of(c);
    gw_cblock_t *b = c->blk;
    gw_hdrs_t hs = {b->in, b->hdrs, c->nhdrs};
    gw_req_line_t rl = {
        .method = llhttp_method_name((llhttp_method_t)c->blk->req.method),
        .path = b->req.path,
        .path_len = b->req.path_len,
        .query = b->req.query,
        .query_len = b->req.query_len,
        .client_ip = c->client_ip,
        .trust_forwarded = cfg->trust_forwarded,
        .chunked = (c->parser.flags & F_CHUNKED) != 0,
    };
    rl.method_len = strlen(rl.method);
    if (c->hooked && c->w->hooks->origin_headers)
        rl.extra = c->w->hooks->origin_headers(c->w->hooks_ctx, &c->blk->req, &rl.extra_len);
    long out = gw_build_request_head(&hs, &rl, b->out, b->out_cap);
    if (out < 0)
        return send_error(c, 431);
    c->out_len = (uint32_t)out;
    c->phase = GW_C_FORWARD;
    c->local = 0;
    c->body_off = c->parse_off;
    if (c->has_body && !c->req_done) {
        /* A slow body must not hold an origin connection: it is read into the block first, within
         * body_timeout_ms in all (bytes do not move this clock), and the connection is taken once it
         * is whole or fills the block. A client that asked for 100 Continue gets it now, as nginx does. */
        c->buffering = 1;
        arm(c, cfg->body_timeout_ms);
        if (c->expect_continue) {
            c->expect_continue = 0;
            uv_buf_t b = uv_buf_init(GW_HTTP_100_CONTINUE, sizeof GW_HTTP_100_CONTINUE - 1);
            int rc = gw_conn_write(c, &b, 1);
            if (rc < 0) {
                conn_close(c);
                return;
            }
            if (rc == 1)
                return; /* on_write goes on */
        }
        buffer_body(c);
        return;
    }
    if (c->has_body)
        arm(c, cfg->body_timeout_ms);
    else
        gw_timer_disarm(&c->timer);
    gw_pool_acquire(&c->w->pool, c);
}

static void handle_head(gw_conn_t *c) {
    const wr_config_t *cfg = cfg_of(c);
    gw_cblock_t *b = c->blk;
    gw_hdr_trim_values(b->in, b->hdrs, c->nhdrs);
    gw_request_in_t in = {
        .method = llhttp_get_method(&c->parser),
        .http_major = llhttp_get_http_major(&c->parser),
        .http_minor = llhttp_get_http_minor(&c->parser),
        .chunked = (c->parser.flags & F_CHUNKED) != 0,
        .has_content_length = (c->parser.flags & F_CONTENT_LENGTH) != 0,
        .content_length = c->parser.content_length,
        .url = b->in + c->url_off,
        .url_len = c->url_len,
        .hs = {b->in, b->hdrs, c->nhdrs},
        .head_bytes = c->parse_off,
    };
    gw_request_t rq;
    int refuse = gw_request_check(cfg, &in, b->norm, cfg->max_uri_bytes + 1, &rq);
    if (refuse) {
        WR_DEBUG("request refused", "client=%s status=%d", c->client_ip, refuse);
        return send_error(c, refuse);
    }
    c->http10 = rq.http10;
    c->is_head = rq.is_head;
    c->idempotent = rq.idempotent;
    c->has_body = rq.has_body;
    c->expect_continue = rq.expect_continue;
    c->keep_alive = llhttp_should_keep_alive(&c->parser) && !c->w->stopping;
    b->conn = c;
    b->req = (gw_req_t){
        .method = in.method,
        .http10 = rq.http10,
        .host = rq.host,
        .host_len = rq.host_len,
        .path = rq.path,
        .path_len = rq.path_len,
        .query = rq.query,
        .query_len = rq.query_len,
        .hs = in.hs,
        .client_ip = c->client_ip,
        .state = b->state,
    };
    const gw_hooks_t *hk = c->w->hooks;
    if (hk->on_request) {
        c->hooked = 1;
        if (hk->on_request(c->w->hooks_ctx, &c->blk->req) == GW_REQ_TAKEN)
            return; /* answered, or held for an answer to come */
    }
    forward(c);
}

static void conn_process_once(gw_conn_t *c) {
    if (c->phase == GW_C_HEAD) {
        if (c->parse_off < c->in_len) {
            int r = run_parser(c);
            if (r < 0)
                return;
            if (r == 1 && c->head_done) {
                handle_head(c);
                return;
            }
            if (c->parse_off > cfg_of(c)->max_header_bytes) {
                send_error(c, 431);
                return;
            }
        }
        if (c->eof)
            conn_close(c);
        return;
    }
    if (c->phase == GW_C_FORWARD)
        body_progress(c);
}

/* Not re-entered: a response finished within processing (one the gateway or a hook gave at once) asks
 * for another round instead of nesting the next pipelined request's call chain in this one, so a client
 * pipelining many such requests costs iterations, not stack. The connection struct outlives a close
 * made on the way (it is freed by the close callbacks). */
static void conn_process(gw_conn_t *c) {
    if (c->processing) {
        c->process_again = 1;
        return;
    }
    c->processing = 1;
    do {
        c->process_again = 0;
        conn_process_once(c);
    } while (c->process_again);
    c->processing = 0;
}

/* ---- forwarding the request body -------------------------------------------------------------- */

/* Request trailers never reach the origin (a Waitroom-Pass or hop-by-hop field could hide there):
 * the body goes up to and with the last chunk's size line, then this ends the trailer section. */
static const char end_of_trailers[] = "\r\n";

static void forward_body(gw_conn_t *c) {
    gw_upstream_t *u = c->up;
    if (!u || u->state != GW_UP_BUSY || u->writing || c->writing)
        return;
    for (;;) {
        if (c->last_chunk && c->parse_off == c->body_off) {
            /* sent up to and with the last chunk (maybe in a write that was pending until now): what
             * the parser reads next are trailers, so it must not run before they are marked as such */
            c->last_chunk = 0;
            c->in_trailers = 1;
        }
        /* runs even with no new bytes: after the head, a body-less message completes on an empty input */
        if (!c->req_done && !c->last_chunk && run_parser(c) < 0)
            return;
        if (c->in_trailers)
            c->body_off = c->parse_off; /* trailer bytes: read, counted, dropped */
        if (c->parse_off > c->body_off) {
            uv_buf_t b = uv_buf_init(c->blk->in + c->body_off, c->parse_off - c->body_off);
            c->body_off = c->parse_off;
            int rc = gw_upstream_write(u, &b, 1);
            if (rc != 0)
                return; /* pending: gw_conn_body_sent continues; failed: proxy.c has answered */
        }
        if (c->last_chunk) /* the body up to the last chunk is out: the trailers follow */
            continue;
        if (c->req_done) {
            if (c->in_trailers) {
                c->in_trailers = 0;
                uv_buf_t b = uv_buf_init((char *)end_of_trailers, sizeof end_of_trailers - 1);
                if (gw_upstream_write(u, &b, 1) != 0)
                    return;
            }
            if (!c->req_sent) {
                c->req_sent = 1;
                if (!c->writing)
                    gw_timer_disarm(&c->timer);
                gw_upstream_request_sent(u);
            }
            return;
        }
        break;
    }
    compact(c);
    ensure_reading(c);
}

void gw_conn_body_sent(gw_conn_t *c) {
    forward_body(c);
}

void gw_conn_upstream_ready(gw_conn_t *c) {
    c->waiting = 0;
    /* from here the client's clock runs only while its body is due; the origin's clock does the rest
     * (a clock left over from waiting in the pool queue must not cut the response) */
    if (c->has_body && !c->req_done)
        body_clock_reset(c);
    else
        gw_timer_disarm(&c->timer);
    if (c->expect_continue && !c->req_done && c->parse_off == c->in_len) {
        c->expect_continue = 0;
        uv_buf_t b = uv_buf_init(GW_HTTP_100_CONTINUE, sizeof GW_HTTP_100_CONTINUE - 1);
        int rc = gw_conn_write(c, &b, 1);
        if (rc < 0) {
            conn_close(c);
            return;
        }
        if (rc == 1)
            return; /* on_write continues with forward_body */
    }
    forward_body(c);
}

void gw_conn_upstream_failed(gw_conn_t *c, int status) {
    c->waiting = 0;
    c->up = NULL;
    const gw_hooks_t *hk = c->w->hooks;
    if (c->hooked && hk->on_origin_failure) {
        c->keep_alive = 0;
        if (hk->on_origin_failure(c->w->hooks_ctx, &c->blk->req, status, !c->writing))
            return; /* e.g. an admitted buyer told their turn was extended */
    }
    send_error(c, status);
}

void gw_conn_abort(gw_conn_t *c) {
    conn_close(c);
}

/* ---- after the response ---------------------------------------------------------------------- */

void gw_conn_response_done(gw_conn_t *c) {
    const wr_config_t *cfg = cfg_of(c);
    c->up = NULL;
    c->resp_done = 1;
    req_end(c);
    count_status(c, c->status);
    if (cfg->access_log) {
        char path[256];
        wr_log_quote(path, sizeof path, c->blk->norm, strnlen(c->blk->norm, cfg->max_uri_bytes));
        WR_INFO("request", "client=%s method=%s path=%s status=%u ms=%llu", c->client_ip,
                llhttp_method_name((llhttp_method_t)llhttp_get_method(&c->parser)), path, c->status,
                (unsigned long long)(uv_now(&c->w->loop) - c->started_ms));
    }
    if (!c->req_done || !c->keep_alive || c->w->stopping) {
        linger_close(c);
        return;
    }
    /* Next request: keep the pipelined bytes, drop everything else. */
    uint32_t left = c->in_len - c->parse_off;
    if (left)
        memmove(c->blk->in, c->blk->in + c->parse_off, left);
    c->in_len = left;
    c->parse_off = c->body_off = 0;
    c->phase = GW_C_HEAD;
    c->head_done = c->req_done = c->req_sent = c->resp_done = 0;
    c->expect_continue = c->retried = c->has_body = c->is_head = c->local = 0;
    c->last_chunk = c->in_trailers = c->buffering = 0;
    c->err_status = 0;
    c->status = 0;
    llhttp_reset(&c->parser);
    if (left) {
        c->got_bytes = 1;
        c->started_ms = uv_now(&c->w->loop);
        arm(c, cfg->header_timeout_ms);
    } else {
        c->got_bytes = 0;
        gw_cblock_put(c->w, c->blk);
        c->blk = NULL;
        if (c->eof) {
            conn_close(c);
            return;
        }
        arm(c, cfg->idle_timeout_ms);
    }
    ensure_reading(c);
    if (left)
        conn_process(c);
}

/* ---- accept and shutdown ---------------------------------------------------------------------- */

/* A connection refused as it is accepted (max_connections, max_connections_per_ip): the 503 page if
 * the socket takes it at once, then closed; it never counts as open. */
static void refuse_at_accept(gw_worker_t *w, gw_conn_t *c) {
    atomic_fetch_sub_explicit(w->total_conns, 1, memory_order_relaxed);
    GW_INC(&w->metrics, responses_by_class[5]);
    size_t len;
    const char *resp = gw_http_error(503, &len);
    uv_buf_t b = uv_buf_init((char *)resp, (unsigned)len);
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
}

void gw_conn_accept(gw_worker_t *w) {
    gw_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        WR_ERROR("out of memory", "where=accept");
        return;
    }
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->w = w;
    if (uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    uint32_t n = atomic_fetch_add_explicit(w->total_conns, 1, memory_order_relaxed);
    if (n >= w->cfg->max_connections) {
        GW_INC(&w->metrics, conns_rejected);
        refuse_at_accept(w, c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    strcpy(c->client_ip, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, c->client_ip, sizeof c->client_ip);
        else if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->client_ip, sizeof c->client_ip);
    }
    if (w->conns_per_ip) {
        if (!wr_count_acquire(w->conns_per_ip, c->client_ip, strlen(c->client_ip))) {
            GW_INC(&w->metrics, conns_rejected_per_ip);
            refuse_at_accept(w, c);
            return;
        }
        c->ip_counted = 1;
    }
    gw_timer_init(&w->loop, &c->timer, on_timer, c);
    llhttp_init(&c->parser, HTTP_REQUEST, &w->req_settings);
    c->parser.data = c;
    gw_list_init(&c->wait_link);
    gw_list_push(&w->conns, &c->link);
    w->nconns++;
    GW_INC(&w->metrics, conns_open);
    GW_INC(&w->metrics, conns_accepted);
    c->phase = GW_C_HEAD;
    arm(c, w->cfg->header_timeout_ms);
    ensure_reading(c);
}

/* Head of a response the gateway makes itself, into b->out. Returns its length, or -1. */
static long local_head(gw_conn_t *c, int status, const char *extra_headers, const char *content_type,
                       size_t body_len) {
    gw_cblock_t *b = c->blk;
    c->phase = GW_C_FORWARD;
    c->local = 1;
    c->status = (uint16_t)status;
    /* the request must be over before we answer: a body we will not read means closing afterwards */
    if (!c->req_done && run_parser(c) < 0)
        return -2;
    if (!c->req_done || c->has_body)
        c->keep_alive = 0;
    wr_buf_t w = wr_buf_init(b->out, b->out_cap);
    wr_buf_puts(&w, "HTTP/1.1 ");
    wr_buf_u64(&w, (unsigned long long)status);
    wr_buf_puts(&w, " ");
    wr_buf_puts(&w, gw_http_reason(status));
    wr_buf_puts(&w, "\r\n");
    if (extra_headers)
        wr_buf_puts(&w, extra_headers);
    wr_buf_puts(&w, "Content-Type: ");
    wr_buf_puts(&w, content_type);
    wr_buf_puts(&w, "\r\nContent-Length: ");
    wr_buf_u64(&w, (unsigned long long)body_len);
    wr_buf_puts(&w, "\r\nCache-Control: no-store\r\n");
    wr_buf_puts(&w, !c->keep_alive ? "Connection: close\r\n" : c->http10 ? "Connection: keep-alive\r\n" : "");
    wr_buf_puts(&w, "\r\n");
    return wr_buf_result(&w);
}

static void local_write(gw_conn_t *c, const uv_buf_t *bufs, unsigned n) {
    gw_timer_disarm(&c->timer);
    int rc = gw_conn_write(c, bufs, c->is_head ? 1 : n);
    if (rc < 0)
        conn_close(c);
    else if (rc == 0)
        gw_conn_response_done(c);
}

static inline gw_conn_t *conn_of_req(gw_req_t *req) {
    return GW_CONTAINER(req, gw_cblock_t, req)->conn;
}

int gw_req_respond(gw_req_t *req, int status, const char *extra_headers, const char *content_type,
                   const char *body, size_t body_len) {
    gw_conn_t *c = conn_of_req(req);
    gw_cblock_t *b = c->blk;
    long n = local_head(c, status, extra_headers, content_type, body_len);
    if (n == -2)
        return -1;
    if (n < 0 || (size_t)n + body_len > b->out_cap) {
        c->local = 0;
        send_error(c, 500);
        return -1;
    }
    memcpy(b->out + n, body, body_len);
    uv_buf_t buf = uv_buf_init(b->out, (unsigned)(n + (long)body_len));
    if (c->is_head)
        buf.len = (size_t)n;
    local_write(c, &buf, 1);
    return 0;
}

/* The head goes at the start of the block's out buffer; gw_req_scratch is its second half. */
char *gw_req_scratch(gw_req_t *req, size_t *cap) {
    gw_cblock_t *b = conn_of_req(req)->blk;
    *cap = b->out_cap - b->out_cap / 2;
    return b->out + b->out_cap / 2;
}

int gw_req_respondv(gw_req_t *req, int status, const char *extra_headers, const char *content_type,
                    uv_buf_t *bufs, unsigned n, size_t body_len) {
    gw_conn_t *c = conn_of_req(req);
    size_t head_cap = c->blk->out_cap / 2;
    long hl = local_head(c, status, extra_headers, content_type, body_len);
    if (hl == -2)
        return -1;
    if (hl < 0 || (size_t)hl > head_cap) {
        c->local = 0;
        send_error(c, 500);
        return -1;
    }
    bufs[0] = uv_buf_init(c->blk->out, (unsigned)hl);
    local_write(c, bufs, n);
    return 0;
}

void gw_req_forward(gw_req_t *req) {
    gw_conn_t *c = conn_of_req(req);
    if (c->phase != GW_C_FORWARD || !c->local || c->writing)
        return; /* not held (answered, or the connection is going) */
    forward(c);
}

void gw_req_error(gw_req_t *req, int status) {
    send_error(conn_of_req(req), status);
}

void gw_req_hold(gw_req_t *req, uint64_t timeout_ms) {
    gw_conn_t *c = conn_of_req(req);
    c->phase = GW_C_FORWARD;
    c->local = 1;
    arm(c, timeout_ms); /* an answer that never comes must not hold the client */
}

void gw_conn_force_close(gw_conn_t *c) {
    conn_close(c);
}

void gw_conn_shutdown(gw_conn_t *c) {
    if (c->phase == GW_C_HEAD && !c->got_bytes) {
        conn_close(c);
        return;
    }
    c->keep_alive = 0;
}
