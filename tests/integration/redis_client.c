/* Drives common/redis.c against a real redis-server for test_redis.py:
 *   phase 1: connect, a plain command, a script call, SCRIPT FLUSH, the same script again (the
 *            NOSCRIPT path must re-send it as EVAL), prints "phase1 ok";
 *   phase 2: the test kills Redis: commands now answer NULL at once, prints "down";
 *            the test restarts Redis: reconnect with backoff, scripts reloaded, prints "up" and
 *            "phase2 ok", then closes cleanly (exit 0). Any surprise prints "FAIL ..." and exits 1. */
#include "common/log.h"
#include "common/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wr_redis_script_t scripts[] = {
    {"echo2", "return {ARGV[1], redis.call('INCR', KEYS[1])}", ""},
};

static wr_redis_t R;
static int phase = 0;
static int evals_ok = 0;
static uv_timer_t poll_timer;

static void fail(const char *what) {
    printf("FAIL %s\n", what);
    fflush(stdout);
    exit(1);
}

static void on_eval(wr_redis_t *r, const redisReply *rep, void *arg);

static void call_script(void) {
    const char *argv[] = {"wr:{t}:n", "hello\0world"};
    size_t lens[] = {8, 11};
    wr_redis_eval(&R, 0, on_eval, NULL, 1, 2, argv, lens);
}

static void on_flushed(wr_redis_t *r, const redisReply *rep, void *arg) {
    (void)r;
    (void)arg;
    if (!rep || rep->type != REDIS_REPLY_STATUS)
        fail("script flush");
    call_script(); /* EVALSHA now gets NOSCRIPT */
}

static void on_eval(wr_redis_t *r, const redisReply *rep, void *arg) {
    (void)arg;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->len != 11 ||
        memcmp(rep->element[0]->str, "hello\0world", 11) != 0 || rep->element[1]->type != REDIS_REPLY_INTEGER)
        fail("eval reply");
    evals_ok++;
    if (phase == 0 && evals_ok == 1) {
        const char *argv[] = {"SCRIPT", "FLUSH"};
        size_t lens[] = {6, 5};
        wr_redis_argv(r, on_flushed, NULL, 2, argv, lens);
    } else if (phase == 0 && evals_ok == 2) {
        phase = 1;
        printf("phase1 ok\n");
        fflush(stdout);
    } else if (phase == 2) {
        printf("phase2 ok\n");
        fflush(stdout);
        uv_timer_stop(&poll_timer);
        uv_close((uv_handle_t *)&poll_timer, NULL);
        wr_redis_close(r);
    }
}

static void on_get(wr_redis_t *r, const redisReply *rep, void *arg) {
    (void)r;
    (void)arg;
    if (!rep || rep->type != REDIS_REPLY_STRING || strcmp(rep->str, "v") != 0)
        fail("get");
    call_script();
}

static void on_set(wr_redis_t *r, const redisReply *rep, void *arg) {
    (void)arg;
    if (!rep || rep->type != REDIS_REPLY_STATUS)
        fail("set");
    const char *argv[] = {"GET", "wr:{t}:k"};
    size_t lens[] = {3, 8};
    wr_redis_argv(r, on_get, NULL, 2, argv, lens);
}

static void on_state(wr_redis_t *r, bool up, void *arg) {
    (void)arg;
    if (up && phase == 0) {
        const char *argv[] = {"SET", "wr:{t}:k", "v"};
        size_t lens[] = {3, 8, 1};
        wr_redis_argv(r, on_set, NULL, 3, argv, lens);
    } else if (!up && phase == 1) {
        printf("down\n");
        fflush(stdout);
    } else if (up && phase == 1) {
        phase = 2;
        printf("up\n");
        fflush(stdout);
        call_script(); /* scripts were re-loaded on connect: plain EVALSHA */
    }
}

static void on_down_call(wr_redis_t *r, const redisReply *rep, void *arg) {
    (void)r;
    (void)arg;
    if (rep)
        fail("a command answered while Redis was down");
}

static void on_poll(uv_timer_t *t) {
    (void)t;
    if (phase == 1 && !R.connected) {
        const char *argv[] = {"PING"};
        size_t lens[] = {4};
        wr_redis_argv(&R, on_down_call, NULL, 1, argv, lens);
    }
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    wr_log_min_level = WR_LOG_WARN;
    uv_loop_t *loop = uv_default_loop();
    if (wr_redis_init(&R, loop, argv[1], (uint16_t)atoi(argv[2]), 0, scripts, 1, on_state, NULL) < 0)
        fail("init");
    uv_timer_init(loop, &poll_timer);
    uv_timer_start(&poll_timer, on_poll, 50, 50);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
