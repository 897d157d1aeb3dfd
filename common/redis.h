/* One asynchronous Redis connection on a libuv loop (hiredis async + its libuv adapter), shaped for
 * the hot path: commands are pipelined on the one connection, Lua scripts are loaded once per
 * connection and called with EVALSHA (re-sent as EVAL on NOSCRIPT, e.g. after a Redis restart), and a
 * lost connection is re-established with capped, jittered exponential backoff. A connect or a command
 * unanswered for timeout_ms (a stalled or half-open Redis: SIGSTOP, a failover behind a dead TCP
 * connection) drops the connection: every command in flight is answered NULL, and it reconnects.
 *
 * Every command's callback runs exactly once: with the reply, or with reply == NULL when the command
 * could not be sent or the connection was lost before the reply came. Callers must treat NULL as
 * "Redis is in trouble" (never as an empty answer). Not thread-safe: one wr_redis_t per loop. */
#ifndef WR_REDIS_H
#define WR_REDIS_H

#include "common/buf.h"
#include "common/histo.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WR_REDIS_BACKOFF_MIN_MS 50
#define WR_REDIS_BACKOFF_MAX_MS 500 /* reconnects keep coming this often: back within it after a stall */
#define WR_REDIS_TIMEOUT_MS 2000    /* [redis] timeout_ms default: connect, and a command's reply */

typedef struct wr_redis wr_redis_t;

typedef void (*wr_redis_reply_cb)(wr_redis_t *r, const redisReply *reply, void *arg);
typedef void (*wr_redis_state_cb)(wr_redis_t *r, bool up, void *arg);

/* What a connection did, for /metrics: written by the connection's loop, read by any thread. */
typedef struct {
    wr_histo_t latency;           /* command sent -> reply (an error reply too) */
    _Atomic uint64_t commands;    /* sent (a NOSCRIPT re-send counts again) */
    _Atomic uint64_t errors;      /* error replies, other than a NOSCRIPT that was re-sent */
    _Atomic uint64_t lost;        /* sent, but the connection was lost before the reply */
    _Atomic uint64_t unavailable; /* not sent: not connected (or out of memory) */
    _Atomic uint64_t reconnects;  /* connections lost */
    _Atomic uint64_t timeouts;    /* connections dropped because a command went unanswered for timeout_ms */
} wr_redis_stats_t;

typedef struct {
    const char *name;
    const char *source;
    char sha[41]; /* filled by SCRIPT LOAD on every (re)connect; empty until then */
} wr_redis_script_t;

struct wr_redis {
    uv_loop_t *loop;
    char host[256];
    uint16_t port;
    redisAsyncContext *ac;
    bool connected;
    bool closing;
    uv_timer_t timer;    /* reconnect backoff, connect timeout */
    uv_timer_t watchdog; /* while connected: the oldest command in flight against timeout_ms */
    uint64_t backoff_ms;
    uint64_t timeout_ms;
    bool stalled; /* a command timed out; no reply since (the retries are not logged one by one) */
    struct wr_redis_pending *oldest, *newest; /* commands in flight, in the order Redis answers them */
    wr_redis_script_t *scripts;               /* owned by the caller, outlives this */
    size_t nscripts;
    wr_redis_state_cb on_state;
    void *state_arg;
    wr_redis_stats_t own;    /* where stats points unless the caller moves it */
    wr_redis_stats_t *stats; /* may point into the caller's metrics (set after wr_redis_init) */
};

/* Starts connecting; returns 0 (connection happens in the background) or a negative error. */
int wr_redis_init(wr_redis_t *r, uv_loop_t *loop, const char *host, uint16_t port, uint64_t timeout_ms,
                  wr_redis_script_t *scripts, size_t nscripts, wr_redis_state_cb on_state, void *state_arg);

/* Sends a command (argv form; binary-safe). lens == NULL: every argument is a NUL-terminated string
 * (the same holds for wr_redis_eval). */
void wr_redis_argv(wr_redis_t *r, wr_redis_reply_cb cb, void *arg, int argc, const char **argv,
                   const size_t *lens);

/* Calls script number `script` with nkeys keys followed by the other arguments, via EVALSHA. */
void wr_redis_eval(wr_redis_t *r, size_t script, wr_redis_reply_cb cb, void *arg, int nkeys, int argc,
                   const char **argv, const size_t *lens);

/* The Prometheus lines of n connections' figures, summed (NULL entries skipped):
 * PREFIX_redis_latency_seconds (histogram; latency_help says what it covers), PREFIX_redis_commands_total,
 * PREFIX_redis_errors_total{kind="error|lost|unavailable"}, PREFIX_redis_reconnects_total. */
void wr_redis_stats_render(wr_buf_t *b, const char *prefix, const char *latency_help,
                           const wr_redis_stats_t *const *stats, size_t n);

/* Disconnects (pending callbacks get NULL) and closes the timer; the loop can then end. */
void wr_redis_close(wr_redis_t *r);

#endif
