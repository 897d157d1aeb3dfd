/* Redis connection management around hiredis async. A pending EVALSHA keeps a copy of its arguments
 * so that a NOSCRIPT answer can be re-sent as EVAL with the script source (which also caches it). */
#include "common/redis.h"

#include "common/log.h"

#include <hiredis/adapters/libuv.h>
#include <stdlib.h>
#include <string.h>

typedef struct wr_redis_pending {
    struct wr_redis_pending *prev, *next; /* wr_redis_t.oldest .. newest */
    wr_redis_t *r;
    wr_redis_reply_cb cb;
    void *arg;
    /* for EVALSHA only: everything needed to re-send as EVAL */
    long script; /* -1 = not a script call */
    int argc;
    const char **argv;
    size_t *lens;
    uint64_t sent_ns; /* uv_hrtime() when sent, for the latency histogram */
} pending_t;

#define STAT_INC(r, f) atomic_fetch_add_explicit(&(r)->stats->f, 1, memory_order_relaxed)

static void connect_now(wr_redis_t *r);
static void schedule_reconnect(wr_redis_t *r);

static void pend_link(wr_redis_t *r, pending_t *p) {
    p->next = NULL;
    p->prev = r->newest;
    if (r->newest)
        r->newest->next = p;
    else
        r->oldest = p;
    r->newest = p;
}

static void pend_unlink(wr_redis_t *r, pending_t *p) {
    if (p->prev)
        p->prev->next = p->next;
    else if (r->oldest == p)
        r->oldest = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else if (r->newest == p)
        r->newest = p->prev;
    p->prev = p->next = NULL;
}

/* Redis answers in order, so the oldest command in flight tells whether it still answers at all. */
static void on_watchdog(uv_timer_t *t) {
    wr_redis_t *r = t->data;
    if (r->closing || !r->ac || !r->connected || !r->oldest ||
        uv_hrtime() - r->oldest->sent_ns < r->timeout_ms * 1000000ull)
        return;
    if (!r->stalled) /* once per stall, not once per retry */
        WR_WARN("redis command timeout: reconnecting", "host=%s port=%u timeout_ms=%llu", r->host, r->port,
                (unsigned long long)r->timeout_ms);
    r->stalled = true;
    atomic_fetch_add_explicit(&r->stats->timeouts, 1, memory_order_relaxed);
    redisAsyncContext *ac = r->ac;
    r->connected = false;
    r->ac = NULL;
    uv_timer_stop(&r->watchdog);
    redisAsyncFree(ac); /* every command in flight is answered NULL; on_disconnect schedules the retry */
    if (r->on_state)
        r->on_state(r, false, r->state_arg);
}

static void on_timer(uv_timer_t *t) {
    wr_redis_t *r = t->data;
    if (r->closing)
        return;
    if (r->ac && !r->connected) {
        /* Connect timed out, or failed unseen: hiredis 0.14's libuv adapter drops poll errors, so a
         * refused connect is only noticed here. A context that never connected is freed without a
         * disconnect callback, so the retry is scheduled here too. */
        WR_WARN("redis connect timeout", "host=%s port=%u", r->host, r->port);
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    if (!r->ac)
        connect_now(r);
}

static void schedule_reconnect(wr_redis_t *r) {
    if (r->closing)
        return;
    uint64_t d = r->backoff_ms;
    d = d / 2 + (uint64_t)rand() % (d / 2 + 1); /* jitter: gateways must not reconnect in lockstep */
    uv_timer_start(&r->timer, on_timer, d, 0);
    r->backoff_ms = r->backoff_ms * 2 > WR_REDIS_BACKOFF_MAX_MS ? WR_REDIS_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    wr_redis_script_t *s = privdata;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(s->sha, rep->str, 41);
    else if (rep && rep->type == REDIS_REPLY_ERROR)
        WR_ERROR("redis script rejected", "script=%s error=\"%.200s\"", s->name, rep->str);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    wr_redis_t *r = ac->data;
    if (status != REDIS_OK) {
        WR_WARN("redis connect failed", "host=%s port=%u error=\"%s\"", r->host, r->port, ac->errstr);
        r->ac = NULL; /* hiredis frees the context after this callback */
        schedule_reconnect(r);
        return;
    }
    uv_timer_stop(&r->timer);
    r->connected = true;
    r->backoff_ms = WR_REDIS_BACKOFF_MIN_MS;
    uint64_t every = r->timeout_ms / 4 ? r->timeout_ms / 4 : 1;
    uv_timer_start(&r->watchdog, on_watchdog, every, every);
    if (!r->stalled)
        WR_INFO("redis connected", "host=%s port=%u", r->host, r->port);
    for (size_t i = 0; i < r->nscripts; i++) {
        r->scripts[i].sha[0] = '\0';
        redisAsyncCommand(r->ac, on_script_loaded, &r->scripts[i], "SCRIPT LOAD %s", r->scripts[i].source);
    }
    if (r->on_state)
        r->on_state(r, true, r->state_arg);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    wr_redis_t *r = ac->data;
    bool was = r->connected;
    r->connected = false;
    r->ac = NULL;
    if (!r->closing)
        uv_timer_stop(&r->watchdog);
    if (r->closing)
        return;
    if (status != REDIS_OK || was)
        WR_WARN("redis connection lost", "host=%s port=%u error=\"%s\"", r->host, r->port,
                ac->errstr[0] ? ac->errstr : "closed");
    if (was && r->on_state)
        r->on_state(r, false, r->state_arg);
    STAT_INC(r, reconnects);
    schedule_reconnect(r);
}

static void connect_now(wr_redis_t *r) {
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac || ac->err) {
        WR_WARN("redis connect failed", "host=%s port=%u error=\"%s\"", r->host, r->port,
                ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    ac->data = r;
    if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
}

int wr_redis_init(wr_redis_t *r, uv_loop_t *loop, const char *host, uint16_t port, uint64_t timeout_ms,
                  wr_redis_script_t *scripts, size_t nscripts, wr_redis_state_cb on_state, void *state_arg) {
    memset(r, 0, sizeof *r);
    r->loop = loop;
    snprintf(r->host, sizeof r->host, "%s", host);
    r->port = port;
    r->scripts = scripts;
    r->nscripts = nscripts;
    r->on_state = on_state;
    r->state_arg = state_arg;
    r->backoff_ms = WR_REDIS_BACKOFF_MIN_MS;
    r->timeout_ms = timeout_ms ? timeout_ms : WR_REDIS_TIMEOUT_MS;
    r->stats = &r->own;
    int rc = uv_timer_init(loop, &r->timer);
    if (rc < 0)
        return rc;
    r->timer.data = r;
    rc = uv_timer_init(loop, &r->watchdog);
    if (rc < 0) {
        uv_close((uv_handle_t *)&r->timer, NULL);
        return rc;
    }
    r->watchdog.data = r;
    connect_now(r);
    return 0;
}

static void pending_free(pending_t *p) {
    free(p);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    pending_t *p = privdata;
    redisReply *rep = reply;
    wr_redis_t *r = p->r;
    pend_unlink(r, p);
    if (rep && rep->type == REDIS_REPLY_ERROR && p->script >= 0 && strncmp(rep->str, "NOSCRIPT", 8) == 0 &&
        ac == r->ac && r->connected) {
        /* the script cache was flushed (Redis restarted or SCRIPT FLUSH): send the source once */
        wr_redis_script_t *s = &r->scripts[p->script];
        p->argv[0] = "EVAL";
        p->lens[0] = 4;
        p->argv[1] = s->source;
        p->lens[1] = strlen(s->source);
        p->script = -1;
        if (redisAsyncCommandArgv(ac, on_reply, p, p->argc, p->argv, p->lens) == REDIS_OK) {
            STAT_INC(r, commands);
            p->sent_ns = uv_hrtime();
            pend_link(r, p);
            return;
        }
        rep = NULL;
        STAT_INC(r, unavailable);
    } else if (!rep) {
        STAT_INC(r, lost);
    } else {
        if (r->stalled) {
            r->stalled = false;
            WR_INFO("redis answers again", "host=%s port=%u", r->host, r->port);
        }
        wr_histo_observe(&r->stats->latency, (uv_hrtime() - p->sent_ns) / 1000);
        if (rep->type == REDIS_REPLY_ERROR)
            STAT_INC(r, errors);
    }
    p->cb(r, rep, p->arg);
    pending_free(p);
}

static pending_t *pending_new(wr_redis_t *r, wr_redis_reply_cb cb, void *arg, int argc) {
    pending_t *p = malloc(sizeof *p + (size_t)argc * (sizeof(char *) + sizeof(size_t)));
    if (!p)
        return NULL;
    p->r = r;
    p->prev = p->next = NULL;
    p->cb = cb;
    p->arg = arg;
    p->script = -1;
    p->argc = argc;
    p->argv = (const char **)(p + 1);
    p->lens = (size_t *)(p->argv + argc);
    return p;
}

static void send_pending(wr_redis_t *r, pending_t *p, int argc, const char **argv, const size_t *lens) {
    p->sent_ns = uv_hrtime();
    if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, lens) != REDIS_OK) {
        wr_redis_reply_cb cb = p->cb;
        void *arg = p->arg;
        pending_free(p);
        STAT_INC(r, unavailable);
        cb(r, NULL, arg);
        return;
    }
    STAT_INC(r, commands);
    pend_link(r, p);
}

void wr_redis_argv(wr_redis_t *r, wr_redis_reply_cb cb, void *arg, int argc, const char **argv,
                   const size_t *lens) {
    pending_t *p = r->connected && r->ac ? pending_new(r, cb, arg, 0) : NULL;
    if (!p) {
        STAT_INC(r, unavailable);
        cb(r, NULL, arg);
        return;
    }
    send_pending(r, p, argc, argv, lens);
}

void wr_redis_eval(wr_redis_t *r, size_t script, wr_redis_reply_cb cb, void *arg, int nkeys, int argc,
                   const char **argv, const size_t *lens) {
    if (!r->connected || !r->ac || script >= r->nscripts) {
        STAT_INC(r, unavailable);
        cb(r, NULL, arg);
        return;
    }
    /* hiredis formats the command at once, but a NOSCRIPT re-send needs the arguments again: they
     * are copied into the pending record, one allocation in all */
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += lens ? lens[i] : strlen(argv[i]);
    int n = argc + 3;
    pending_t *p = malloc(sizeof *p + (size_t)n * (sizeof(char *) + sizeof(size_t)) + bytes + 24);
    if (!p) {
        STAT_INC(r, unavailable);
        cb(r, NULL, arg);
        return;
    }
    p->r = r;
    p->prev = p->next = NULL;
    p->cb = cb;
    p->arg = arg;
    p->argc = n;
    p->argv = (const char **)(p + 1);
    p->lens = (size_t *)(p->argv + n);
    char *data = (char *)(p->lens + n);
    wr_redis_script_t *s = &r->scripts[script];
    bool have_sha = s->sha[0] != '\0';
    p->script = have_sha ? (long)script : -1;
    p->argv[0] = have_sha ? "EVALSHA" : "EVAL";
    p->lens[0] = strlen(p->argv[0]);
    p->argv[1] = have_sha ? s->sha : s->source;
    p->lens[1] = have_sha ? 40 : strlen(s->source);
    int kl = snprintf(data, 24, "%d", nkeys);
    p->argv[2] = data;
    p->lens[2] = (size_t)kl;
    data += kl + 1;
    for (int i = 0; i < argc; i++) {
        size_t len = lens ? lens[i] : strlen(argv[i]);
        memcpy(data, argv[i], len);
        p->argv[3 + i] = data;
        p->lens[3 + i] = len;
        data += len;
    }
    send_pending(r, p, p->argc, p->argv, p->lens);
}

void wr_redis_close(wr_redis_t *r) {
    if (r->closing)
        return;
    r->closing = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
    uv_close((uv_handle_t *)&r->watchdog, NULL);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        r->connected = false;
        redisAsyncFree(ac);
    }
}

void wr_redis_stats_render(wr_buf_t *b, const char *prefix, const char *latency_help,
                           const wr_redis_stats_t *const *stats, size_t n) {
    wr_histo_snap_t lat = {0};
    unsigned long long v[6] = {0};
    for (size_t i = 0; i < n; i++) {
        const wr_redis_stats_t *r = stats[i];
        if (!r)
            continue;
        wr_histo_add(&lat, &r->latency);
        v[0] += atomic_load_explicit(&r->commands, memory_order_relaxed);
        v[1] += atomic_load_explicit(&r->errors, memory_order_relaxed);
        v[2] += atomic_load_explicit(&r->lost, memory_order_relaxed);
        v[3] += atomic_load_explicit(&r->unavailable, memory_order_relaxed);
        v[4] += atomic_load_explicit(&r->reconnects, memory_order_relaxed);
        v[5] += atomic_load_explicit(&r->timeouts, memory_order_relaxed);
    }
    char line[1024], name[128];
    snprintf(name, sizeof name, "%s_redis_latency_seconds", prefix);
    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, latency_help, name);
    wr_buf_puts(b, line);
    wr_histo_render(b, name, "", &lat);
    snprintf(line, sizeof line,
             "# HELP %s_redis_commands_total Redis commands sent.\n# TYPE %s_redis_commands_total counter\n"
             "%s_redis_commands_total %llu\n"
             "# HELP %s_redis_errors_total Redis commands that failed, by kind: error (an error reply), lost "
             "(the connection went before the reply), unavailable (not sent: no connection).\n"
             "# TYPE %s_redis_errors_total counter\n"
             "%s_redis_errors_total{kind=\"error\"} %llu\n%s_redis_errors_total{kind=\"lost\"} %llu\n"
             "%s_redis_errors_total{kind=\"unavailable\"} %llu\n"
             "# HELP %s_redis_reconnects_total Redis connections lost (and retried).\n"
             "# TYPE %s_redis_reconnects_total counter\n%s_redis_reconnects_total %llu\n",
             prefix, prefix, prefix, v[0], prefix, prefix, prefix, v[1], prefix, v[2], prefix, v[3], prefix,
             prefix, prefix, v[4]);
    wr_buf_puts(b, line);
    snprintf(
        line, sizeof line,
        "# HELP %s_redis_timeouts_total Redis connections dropped because a command went unanswered "
        "for [redis] timeout_ms.\n# TYPE %s_redis_timeouts_total counter\n%s_redis_timeouts_total %llu\n",
        prefix, prefix, prefix, v[5]);
    wr_buf_puts(b, line);
}
