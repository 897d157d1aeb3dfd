/* A small HTTP/1.1 server for control endpoints: the gateway's admin API and wr-admission's /metrics.
 * Not the public data path (that is gateway/conn.c): one request per connection, read whole into a
 * fixed buffer (req_max bytes: a bigger request is refused with 431), parsed with llhttp, cut after
 * timeout_ms, at most max_conns at once. At the limit a new connection takes the place of the oldest
 * one whose request has not arrived whole (so clients that open connections and say nothing, or drip,
 * cannot lock an operator out); only when every connection holds a whole request is it refused. The
 * handler may answer at once or later (after a Redis call); every answer closes its connection. Not
 * thread-safe: one loop.
 *
 * A handler that answers later must let the connection go first (a client that hangs up, the timeout,
 * wr_httpd_close): it stores where it keeps the request pointer in req->waiter, and that pointer is set
 * to NULL when the connection goes, so the late answer finds nobody instead of freed memory. */
#ifndef WR_HTTPD_H
#define WR_HTTPD_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct wr_httpd wr_httpd_t;
typedef struct wr_httpd_req wr_httpd_req_t;

typedef void (*wr_httpd_handler)(wr_httpd_req_t *req);

struct wr_httpd_req {
    wr_httpd_t *srv;
    uint8_t method; /* llhttp_method_t: HTTP_GET, HTTP_HEAD, HTTP_PATCH, ... */
    bool head;      /* a HEAD request: answers leave the body out */
    const char *url, *body;
    size_t url_len, body_len;
    const char *auth; /* the Authorization header's value (not NUL-terminated), if any */
    size_t auth_len;
    bool auth_long;   /* the header was too long to be a token of ours: treat as wrong */
    const char *host; /* the Host header's value, if any (not NUL-terminated) */
    size_t host_len;
    bool host_dup;           /* two Host headers */
    wr_httpd_req_t **waiter; /* see above; NULL when the handler answers at once */
    /* private */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    llhttp_t parser;
    wr_httpd_req_t *prev, *next;
    char *out;
    size_t len;
    uint32_t url_off, body_off, field_off, field_len, value_off, value_len;
    bool in_field, in_auth, in_host, auth_seen, done, answered, closing;
    bool linger, lingering; /* a refusal: shut the write side, drop what still comes, then close */
    int pending_closes;
    char in[]; /* req_max bytes */
};

struct wr_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    wr_httpd_handler handler;
    void *arg; /* the handler's: req->srv->arg */
    size_t max_conns, req_max;
    uint64_t timeout_ms;
    size_t nconns;
    uint64_t evicted;      /* connections closed to make room: their request had not arrived whole */
    wr_httpd_req_t *conns; /* open connections, to close them all at the end */
    llhttp_settings_t settings;
    bool listening;
};

/* Binds host:port (IPv4 or IPv6 literal) and listens; returns 0 or a negative libuv error. */
int wr_httpd_start(wr_httpd_t *s, uv_loop_t *loop, const char *host, unsigned port, size_t max_conns,
                   size_t req_max, uint64_t timeout_ms, wr_httpd_handler handler, void *arg);

/* Sends the answer (Content-Length, Cache-Control: no-store, Connection: close) and closes the
 * connection once it is written. Once per request; body is copied. */
void wr_httpd_respond(wr_httpd_req_t *req, int status, const char *reason, const char *ctype,
                      const char *body, size_t len);

/* The request came from a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
bool wr_httpd_from_loopback(wr_httpd_req_t *req);

/* The request's Host names this machine: localhost, a loopback address, the any-address (0.0.0.0, [::]),
 * or no Host at all (not a browser). A loopback client whose Host is anything else may be a page on another site that rebound
 * its own name to 127.0.0.1 (DNS rebinding): it must not read what loopback may read. */
bool wr_httpd_host_is_local(wr_httpd_req_t *req);

/* The peer's address as text ("?" if unknown). */
void wr_httpd_peer(wr_httpd_req_t *req, char *out, size_t cap);

/* Stops listening and closes every connection (their waiters are told). */
void wr_httpd_close(wr_httpd_t *s);

#endif
