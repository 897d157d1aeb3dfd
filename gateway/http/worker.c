/* Worker threads. Each binds its own socket to the public address with SO_REUSEPORT (libuv 1.44 has
 * no flag for it, so the socket is made here and handed to uv_tcp_open), runs its loop until told to
 * stop, then drains: no new connections, idle ones closed, busy ones closed after their response,
 * everything cut after shutdown_timeout_ms. Buffer free lists keep per-request malloc off the hot
 * path; they are per worker, so no locks. */
#include "common/log.h"
#include "gateway/http/internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_gw_timer(uv_timer_t *h) {
    gw_timer_t *t = (gw_timer_t *)h;
    t->due = 0;
    if (!t->deadline)
        return;
    uint64_t now = uv_now(h->loop);
    if (now < t->deadline) {
        t->due = t->deadline;
        uv_timer_start(h, on_gw_timer, t->deadline - now, 0);
        return;
    }
    t->deadline = 0;
    t->expired(t->owner);
}

void gw_timer_init(uv_loop_t *loop, gw_timer_t *t, void (*expired)(void *), void *owner) {
    uv_timer_init(loop, &t->timer);
    t->timer.data = owner;
    t->deadline = t->due = 0;
    t->expired = expired;
    t->owner = owner;
}

void gw_timer_arm(gw_timer_t *t, uint64_t ms) {
    uint64_t now = uv_now(t->timer.loop);
    t->deadline = now + ms;
    if (!t->due || t->due > t->deadline) {
        t->due = t->deadline;
        uv_timer_start(&t->timer, on_gw_timer, ms, 0);
    }
}

int gw_write(uv_stream_t *s, uv_write_t *req, const uv_buf_t *bufs, unsigned n, uv_write_cb cb) {
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    int r = uv_try_write(s, bufs, n);
    if (r == UV_EAGAIN)
        r = 0;
    if (r < 0)
        return r;
    if ((size_t)r == total)
        return 0;
    uv_buf_t rest[4];
    unsigned k = 0;
    size_t skip = (size_t)r;
    for (unsigned i = 0; i < n && k < 4; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        rest[k++] = uv_buf_init(bufs[i].base + skip, (unsigned)(bufs[i].len - skip));
        skip = 0;
    }
    r = uv_write(req, s, rest, k, cb);
    return r < 0 ? r : 1;
}

gw_cblock_t *gw_cblock_get(gw_worker_t *w) {
    gw_cblock_t *b = w->free_cblocks;
    if (b) {
        w->free_cblocks = b->next_free;
        w->nfree_cblocks--;
        return b;
    }
    size_t nh = w->cfg->max_header_count;
    size_t head = (sizeof *b + 15) & ~(size_t)15, state = (w->hooks->state_bytes + 15) & ~(size_t)15;
    size_t size = head + state + nh * sizeof(gw_hdr_t) + w->cblock_out_cap + (w->cfg->max_uri_bytes + 1) +
                  w->cblock_in_cap;
    b = malloc(size);
    if (!b)
        return NULL;
    b->state = (char *)b + head;
    b->hdrs = (gw_hdr_t *)((char *)b->state + state);
    b->out = (char *)(b->hdrs + nh);
    b->out_cap = w->cblock_out_cap;
    b->norm = b->out + b->out_cap;
    b->in = b->norm + w->cfg->max_uri_bytes + 1;
    b->in_cap = w->cblock_in_cap;
    return b;
}

void gw_cblock_put(gw_worker_t *w, gw_cblock_t *b) {
    if (w->nfree_cblocks >= GW_BUF_FREELIST_MAX || w->stopping) {
        free(b);
        return;
    }
    b->next_free = w->free_cblocks;
    w->free_cblocks = b;
    w->nfree_cblocks++;
}

gw_ublock_t *gw_ublock_get(gw_worker_t *w) {
    gw_ublock_t *b = w->free_ublocks;
    if (b) {
        w->free_ublocks = b->next_free;
        w->nfree_ublocks--;
        return b;
    }
    return malloc(sizeof *b);
}

void gw_ublock_put(gw_worker_t *w, gw_ublock_t *b) {
    if (w->nfree_ublocks >= GW_BUF_FREELIST_MAX || w->stopping) {
        free(b);
        return;
    }
    b->next_free = w->free_ublocks;
    w->free_ublocks = b;
    w->nfree_ublocks++;
}

static void on_connection(uv_stream_t *server, int status) {
    gw_worker_t *w = server->data;
    if (status < 0) {
        WR_WARN("accept failed", "worker=%d error=%s", w->id, uv_err_name(status));
        return;
    }
    gw_conn_accept(w);
}

static int bind_listener(gw_worker_t *w) {
    char port[8];
    snprintf(port, sizeof port, "%u", w->cfg->listen.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res = NULL;
    int rc = getaddrinfo(w->cfg->listen.host, port, &hints, &res);
    if (rc != 0 || !res)
        return UV_EINVAL;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        int e = -errno;
        close(fd);
        freeaddrinfo(res);
        return e;
    }
    freeaddrinfo(res);
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    if ((rc = uv_tcp_open(&w->listener, fd)) < 0) {
        close(fd);
        return rc;
    }
    return uv_listen((uv_stream_t *)&w->listener, 4096, on_connection);
}

static void on_listener_closed(uv_handle_t *h) {
    gw_worker_t *w = h->data;
    w->listener_closed = true;
}

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_shutdown_timeout(uv_timer_t *t) {
    gw_worker_t *w = t->data;
    WR_WARN("shutdown timeout: cutting remaining connections", "worker=%d connections=%u", w->id, w->nconns);
    gw_list_t *l = w->conns.next;
    while (l != &w->conns) {
        gw_list_t *next = l->next;
        gw_conn_force_close(GW_CONTAINER(l, gw_conn_t, link));
        l = next;
    }
    gw_pool_close_idle(&w->pool);
}

static void on_wake(uv_async_t *a) {
    gw_worker_t *w = a->data;
    if (w->stopping)
        return;
    w->stopping = true;
    uv_close((uv_handle_t *)&w->listener, on_listener_closed);
    uv_close((uv_handle_t *)&w->wake, NULL);
    gw_list_t *l = w->conns.next;
    while (l != &w->conns) {
        gw_list_t *next = l->next;
        gw_conn_shutdown(GW_CONTAINER(l, gw_conn_t, link));
        l = next;
    }
    gw_pool_close_idle(&w->pool);
    if (w->hooks_live && w->hooks->worker_drain)
        w->hooks->worker_drain(w->hooks_ctx);
    uv_timer_init(&w->loop, &w->shutdown_timer);
    w->shutdown_timer.data = w;
    if (w->cfg->shutdown_timeout_ms) {
        uv_timer_start(&w->shutdown_timer, on_shutdown_timeout, w->cfg->shutdown_timeout_ms, 0);
        uv_unref((uv_handle_t *)&w->shutdown_timer);
    } else {
        on_shutdown_timeout(&w->shutdown_timer);
    }
}

static void worker_main(void *arg) {
    gw_worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Loop ended: every connection is gone. Close the timer and run the close callbacks. */
    if (w->stopping && !uv_is_closing((uv_handle_t *)&w->shutdown_timer))
        uv_close((uv_handle_t *)&w->shutdown_timer, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    while (w->free_cblocks) {
        gw_cblock_t *b = w->free_cblocks;
        w->free_cblocks = b->next_free;
        free(b);
    }
    while (w->free_ublocks) {
        gw_ublock_t *b = w->free_ublocks;
        w->free_ublocks = b->next_free;
        free(b);
    }
    if (w->hooks_live && w->hooks->worker_exit)
        w->hooks->worker_exit(w->hooks_ctx);
    w->hooks_live = false;
    if (uv_loop_close(&w->loop) != 0)
        WR_WARN("worker loop closed with handles left", "worker=%d", w->id);
    atomic_store(&w->done, true);
    uv_async_send(w->exited);
}

int gw_worker_start(gw_worker_t *w) {
    gw_list_init(&w->conns);
    gw_conn_settings_init(&w->req_settings);
    gw_upstream_settings_init(&w->resp_settings);
    w->cblock_in_cap = w->cfg->max_header_bytes + 8192;
    w->cblock_out_cap = w->cfg->max_header_bytes + 2048;
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    if (gw_pool_init(&w->pool, w) < 0) {
        uv_loop_close(&w->loop);
        return UV_EINVAL;
    }
    rc = bind_listener(w);
    if (rc < 0) {
        uv_walk(&w->loop, close_walk, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        return rc;
    }
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    if (w->hooks->worker_init && (rc = w->hooks->worker_init(w->hooks_ctx, &w->loop)) < 0) {
        uv_walk(&w->loop, close_walk, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        return rc;
    }
    w->hooks_live = true;
    rc = uv_thread_create(&w->thread, worker_main, w);
    if (rc < 0) {
        if (w->hooks->worker_drain)
            w->hooks->worker_drain(w->hooks_ctx);
        uv_walk(&w->loop, close_walk, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        if (w->hooks->worker_exit)
            w->hooks->worker_exit(w->hooks_ctx);
        w->hooks_live = false;
    }
    return rc;
}

void gw_worker_stop(gw_worker_t *w) {
    uv_async_send(&w->wake);
}

static const gw_hooks_t no_hooks = {0};

gw_worker_t *gw_worker_new(const gw_worker_opts_t *o) {
    gw_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->id = o->id;
    w->cfg = o->cfg;
    w->hooks = o->hooks ? o->hooks : &no_hooks;
    w->hooks_ctx = o->hooks_ctx;
    w->total_conns = o->total_conns;
    w->conns_per_ip = o->conns_per_ip;
    w->exited = o->exited;
    return w;
}

bool gw_worker_done(gw_worker_t *w) {
    return atomic_load(&w->done);
}

void gw_worker_join(gw_worker_t *w) {
    uv_thread_join(&w->thread);
}

void gw_worker_free(gw_worker_t *w) {
    free(w);
}

gw_http_metrics_t *gw_worker_metrics(gw_worker_t *w) {
    return &w->metrics;
}
