/* For the files of gateway/http/ only (as libuv's src/unix/internal.h is for its own): the worker,
 * the client connection state machine (conn.c) and the upstream pool (proxy.c), which work on each
 * other's fields. The layers above see http.h.
 * One worker = one thread with its own libuv loop, its own listening socket on the shared public
 * port (SO_REUSEPORT: the kernel spreads connections), its own upstream pool and metrics. Workers
 * share nothing mutable but the process-wide connection count; the main thread talks to them only
 * through uv_async (stop) and reads their relaxed-atomic metrics. */
#ifndef GW_HTTP_INTERNAL_H
#define GW_HTTP_INTERNAL_H

#include "config/config.h"
#include "gateway/http/headers.h"
#include "gateway/http/http.h"

#include <llhttp.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct gw_list {
    struct gw_list *prev, *next;
} gw_list_t;

static inline void gw_list_init(gw_list_t *l) {
    l->prev = l->next = l;
}
static inline bool gw_list_empty(const gw_list_t *l) {
    return l->next == l;
}
static inline void gw_list_push(gw_list_t *head, gw_list_t *e) { /* at the tail */
    e->prev = head->prev;
    e->next = head;
    head->prev->next = e;
    head->prev = e;
}
static inline void gw_list_remove(gw_list_t *e) {
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = e;
}
#define GW_CONTAINER(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* Lazy deadline timer: moving a deadline is a field write. The uv timer fires at the earliest due time
 * set and re-arms itself for the current deadline, so the usual case — a deadline moved later on
 * every request — costs no timer-heap work per request. */
typedef struct {
    uv_timer_t timer;
    uint64_t deadline; /* uv_now() ms; 0 = disarmed */
    uint64_t due;      /* when the uv timer fires; 0 = not running */
    void (*expired)(void *owner);
    void *owner;
} gw_timer_t;

void gw_timer_init(uv_loop_t *loop, gw_timer_t *t, void (*expired)(void *), void *owner);
void gw_timer_arm(gw_timer_t *t, uint64_t ms);
static inline void gw_timer_disarm(gw_timer_t *t) {
    t->deadline = 0;
}

typedef struct gw_worker gw_worker_t;
typedef struct gw_conn gw_conn_t;
typedef struct gw_upstream gw_upstream_t;
typedef struct gw_spool gw_spool_t;

/* Upstream responses: head limits. A head larger than this from the origin is a 502. */
#define GW_UP_MAX_HEADERS 200
#define GW_UP_OUT_BYTES 16384
#define GW_UP_IN_BYTES 65536
#define GW_LINGER_MS 2000
/* With every pooled origin connection busy and a request waiting, a client that has taken nothing for
 * this long while its response waits on an origin connection (the spool full) is cut for it. */
#define GW_STALL_CUT_MS 1000
#define GW_BUF_FREELIST_MAX 128

/* Buffers of an active client request; returned to the worker's free list when the connection goes
 * idle, so an idle keep-alive connection holds no buffer at all. */
typedef struct gw_cblock {
    struct gw_cblock *next_free;
    gw_hdr_t *hdrs; /* [max_header_count] */
    char *out;      /* upstream request head, kept until the response starts (for a retry) */
    char *norm;     /* normalised path [max_uri_bytes + 1] */
    uint32_t out_cap;
    uint32_t in_cap;
    char *in;             /* raw bytes from the client: head, body, pipelined requests */
    void *state;          /* the hooks' per-request memory [hooks->state_bytes], 16-byte aligned */
    gw_req_t req;         /* the request as the hooks see it (here, not in the connection: an idle
                           * keep-alive connection holds no block, so it pays nothing for it) */
    struct gw_conn *conn; /* the connection holding this block */
} gw_cblock_t;

typedef struct gw_ublock {
    struct gw_ublock *next_free;
    gw_hdr_t hdrs[GW_UP_MAX_HEADERS];
    char out[GW_UP_OUT_BYTES]; /* response head for the client */
    char in[GW_UP_IN_BYTES];
} gw_ublock_t;

typedef struct {
    gw_worker_t *w;
    struct sockaddr_storage addr;
    gw_list_t idle;       /* gw_upstream_t.link, most recently used last */
    gw_list_t waiters;    /* gw_conn_t.wait_link, FIFO */
    gw_list_t busy;       /* gw_upstream_t.busy_link */
    uv_timer_t cut_timer; /* while requests wait: looks for stalled clients to cut (proxy.c) */
    uint32_t nidle, ntotal, nwaiting;
    uint32_t consecutive_failures;
    uint64_t down_until_ms; /* uv_now() time; 0 = healthy */
    bool stopped;           /* draining: cut_timer closed */
} gw_pool_t;

enum { GW_UP_CONNECTING = 0, GW_UP_IDLE, GW_UP_BUSY, GW_UP_CLOSING };

struct gw_upstream {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    gw_timer_t timer;
    llhttp_t parser;
    gw_pool_t *pool;
    gw_conn_t *client;   /* the request this connection carries; NULL when idle */
    gw_list_t link;      /* the pool's idle list */
    gw_list_t busy_link; /* the pool's busy list, while it carries a request */
    gw_ublock_t *blk;
    uint32_t in_len, parse_off, fwd_off, dec_end;
    uint16_t nhdrs;
    uint8_t state;
    uint8_t pending_closes;
    unsigned writing : 1;   /* a uv_write to the origin is in flight */
    unsigned reused : 1;    /* came from the idle pool */
    unsigned head_done : 1; /* response head parsed (paused at headers complete) */
    unsigned head_sent : 1; /* final response head handed to the client */
    unsigned msg_done : 1;  /* response message complete */
    unsigned got_bytes : 1; /* any response byte arrived */
    unsigned dechunk : 1;   /* relay decoded body (HTTP/1.0 client, chunked response) */
    unsigned reading : 1;
    unsigned head_pending : 1; /* head built in blk->out, not yet written */
    unsigned interim : 1;      /* current message is a 1xx, dropped */
    unsigned in_busy : 1;      /* the client's write in flight points into blk (in up to busy_end, or out) */
    unsigned in_value;
    uint32_t busy_end;
    uint32_t head_len;
    uint32_t status_off, status_len;
    uint64_t sent_at_us;
};

enum { GW_C_HEAD = 0, GW_C_FORWARD, GW_C_LINGER, GW_C_CLOSING };

struct gw_conn {
    uv_tcp_t tcp;
    gw_timer_t timer;
    uv_write_t wreq;
    llhttp_t parser;
    gw_worker_t *w;
    gw_list_t link;      /* worker's connections */
    gw_list_t wait_link; /* pool waiters, while queued for an upstream connection */
    gw_cblock_t *blk;
    gw_upstream_t *up;
    gw_spool_t *spool;  /* the response's bytes the client has not taken yet (spool.c); NULL: direct */
    uint32_t in_len;    /* bytes in blk->in */
    uint32_t parse_off; /* bytes of blk->in given to the parser */
    uint32_t body_off;  /* first request byte not yet forwarded upstream */
    uint32_t url_off, url_len;
    uint32_t out_len; /* upstream request head length in blk->out */
    uint16_t nhdrs;
    uint16_t status; /* response status, for logs and metrics */
    uint8_t phase;
    uint8_t pending_closes;
    uint16_t err_status; /* status chosen by a parser callback that failed */
    unsigned reading : 1;
    unsigned writing : 1;   /* a uv_write to the client is in flight */
    unsigned head_done : 1; /* request head complete */
    unsigned req_done : 1;  /* request message complete */
    unsigned req_sent : 1;  /* request head + all body bytes written upstream */
    unsigned resp_done : 1; /* response fully handed to the client */
    unsigned keep_alive : 1;
    unsigned http10 : 1;
    unsigned is_head : 1;
    unsigned expect_continue : 1;
    unsigned idempotent : 1;
    unsigned retried : 1;
    unsigned eof : 1; /* client half-closed */
    unsigned has_body : 1;
    unsigned close_after_write : 1; /* an error page is going out; then close */
    unsigned local : 1;             /* the gateway (or a hook) answers this request itself */
    unsigned waiting : 1;           /* queued in the pool */
    unsigned got_bytes : 1;         /* any byte of the current request arrived */
    unsigned hooked : 1;            /* on_request ran: on_end is owed */
    unsigned ip_counted : 1;        /* holds one of its address's max_connections_per_ip */
    unsigned last_chunk : 1;        /* the parser stopped after the last chunk's size line */
    unsigned in_trailers : 1;       /* the request's trailer section is being read (and dropped) */
    unsigned buffering : 1;         /* the body is read into the block before an origin connection is taken */
    unsigned processing : 1;        /* conn_process is on the stack */
    unsigned process_again : 1;     /* ... and is asked for another round */
    unsigned in_value;              /* parser is inside a header value */
    uint64_t body_bytes;
    uint64_t started_ms;
    uint64_t caught_up_ms;     /* when the client last had everything it was handed (a write began) */
    uint64_t body_deadline_ms; /* streaming a body: when the client's time runs out (body_clock) */
    uint64_t body_credit;      /* ... and the byte-milliseconds not yet counted in it */
    char client_ip[INET6_ADDRSTRLEN];
};

struct gw_worker {
    int id;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake; /* main → worker: stop */
    uv_timer_t shutdown_timer;
    uv_thread_t thread;
    const wr_config_t *cfg;
    gw_http_metrics_t metrics;
    gw_list_t conns;
    uint32_t nconns;
    _Atomic uint32_t *total_conns; /* process-wide, for max_connections */
    wr_limit_t *conns_per_ip;      /* process-wide, NULL = off */
    bool stopping;
    bool listener_closed;
    uv_async_t *exited; /* worker → main: loop finished */
    _Atomic bool done;  /* set just before exited is sent */
    llhttp_settings_t req_settings;
    llhttp_settings_t resp_settings;
    gw_cblock_t *free_cblocks;
    uint32_t nfree_cblocks;
    gw_ublock_t *free_ublocks;
    uint32_t nfree_ublocks;
    uint32_t cblock_in_cap, cblock_out_cap;
    gw_pool_t pool;
    const gw_hooks_t *hooks; /* the layer above (never NULL: a plain proxy gets empty hooks) */
    void *hooks_ctx;
    bool hooks_live; /* worker_init succeeded: worker_exit is owed */
};

/* worker.c */
/* Writes bufs (at most 4) on s: uv_try_write first, and what the socket did not take at once goes
 * out with uv_write(req, cb). Returns 0 when all was written, 1 when the rest is pending (cb will
 * run; the buffers must stay untouched until then), or a negative error. */
int gw_write(uv_stream_t *s, uv_write_t *req, const uv_buf_t *bufs, unsigned n, uv_write_cb cb);
gw_cblock_t *gw_cblock_get(gw_worker_t *w);
void gw_cblock_put(gw_worker_t *w, gw_cblock_t *b);
gw_ublock_t *gw_ublock_get(gw_worker_t *w);
void gw_ublock_put(gw_worker_t *w, gw_ublock_t *b);

/* errors.c: canned responses (errors, 100 Continue), built once by gw_http_init and never changed,
 * so a connection can write them without copying. A complete "Connection: close" response with a short
 * human HTML page for status; unknown codes give the 500 page. */
const char *gw_http_error(int status, size_t *len);
const char *gw_http_reason(int status);
#define GW_HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* conn.c */
void gw_conn_accept(gw_worker_t *w);
void gw_conn_settings_init(llhttp_settings_t *s);
void gw_conn_shutdown(gw_conn_t *c); /* graceful: close if idle, else after the response */
void gw_conn_force_close(gw_conn_t *c);
/* Called by proxy.c */
void gw_conn_upstream_ready(gw_conn_t *c);                         /* head written; forward the body */
void gw_conn_upstream_failed(gw_conn_t *c, int status);            /* 502/504 before anything was sent */
int gw_conn_write(gw_conn_t *c, const uv_buf_t *bufs, unsigned n); /* 0 done, 1 pending, <0 error */
void gw_conn_response_done(gw_conn_t *c);
void gw_conn_abort(gw_conn_t *c);
void gw_conn_arm(gw_conn_t *c, uint64_t ms); /* (re)starts the connection's one timer */
void gw_conn_body_sent(gw_conn_t *c);        /* an upstream write of request bytes finished */

/* spool.c */
gw_spool_t *gw_spool_open(gw_worker_t *w); /* NULL: spooling off, the budget spent, or no file */
/* Appends bufs[0..n-1] but their first skip bytes, all or nothing: 0 appended, 1 no room now (the
 * bounds; try again once the client took some), -1 I/O error */
int gw_spool_append(gw_worker_t *w, gw_spool_t *s, const uv_buf_t *bufs, unsigned n, size_t skip);
bool gw_spool_drained(const gw_spool_t *s); /* the client was handed every byte in it */
void gw_spool_finish(gw_spool_t *s);        /* the whole response is in: done once the client has it all */
/* Writes to the client what it can take; when the client has caught up the spool is emptied (and,
 * if the response was finished, closed and the response ended). Never calls back into the relay. */
void gw_spool_pump(gw_conn_t *c);
void gw_spool_close(gw_worker_t *w, gw_spool_t *s);

/* proxy.c */
int gw_pool_init(gw_pool_t *p, gw_worker_t *w);
void gw_pool_acquire(gw_pool_t *p, gw_conn_t *c); /* answers through gw_conn_upstream_ready/failed */
void gw_pool_cancel_wait(gw_pool_t *p, gw_conn_t *c);
void gw_pool_close_idle(gw_pool_t *p);
void gw_upstream_settings_init(llhttp_settings_t *s);
int gw_upstream_write(gw_upstream_t *u, const uv_buf_t *bufs, unsigned n); /* 0 done, 1 pending, <0 err */
void gw_upstream_detach(gw_upstream_t *u);       /* client is going away mid-request: close the upstream */
void gw_upstream_relay(gw_upstream_t *u);        /* client write finished: continue relaying */
void gw_upstream_request_sent(gw_upstream_t *u); /* start the response timer */

#endif
