/* wr-gateway: flags, config, limits, worker threads, signals; the one place the three layers meet.
 * Each worker is an HTTP proxy (gateway/http) with the waiting room (gateway/queue) plugged in through
 * its hooks; the admin listener (gateway/admin) reads both. The main thread owns a small loop with the
 * signal handlers and the admin listener; the workers own the public traffic. SIGTERM/SIGINT drain (stop
 * accepting, finish in-flight requests, bounded by shutdown_timeout_ms) and exit 0. SIGHUP re-reads and
 * checks the config and says what a restart would change; live reload is not done (see README "Changing the
 * configuration"). */
#include "common/log.h"
#include "common/passsig.h"
#include "common/secret.h"
#include "common/token.h"
#include "config/config.h"
#include "gateway/admin/admin.h"
#include "gateway/http/http.h"
#include "gateway/queue/queue.h"
#include "gateway/queue/waitpage.h"

#include <errno.h>
#include <sys/stat.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define WR_VERSION "0.1.0"

static const char usage[] =
    "Usage: wr-gateway -c FILE [--check]\n"
    "\n"
    "Waitroom edge gateway: a reverse proxy in front of a ticket site's origin.\n"
    "\n"
    "  -c, --config FILE  configuration file (see config/waitroom.example.ini)\n"
    "      --check        validate the configuration and exit (0 valid, 2 invalid)\n"
    "  -h, --help         show this help\n"
    "      --version      show the version\n"
    "\n"
    "Signals: SIGTERM or SIGINT drain and stop; SIGHUP checks the config file again.\n"
    "Exit status: 0 stopped cleanly, 1 could not start, 2 bad usage or configuration.\n";

typedef struct {
    uv_loop_t *loop;
    wr_config_t *cfg;
    gw_worker_t **workers;
    gw_queue_t **queues; /* worker i's waiting room */
    int nworkers;
    int exited;
    gw_admin_t admin;
    uv_signal_t sigterm, sigint, sighup;
    uv_async_t exited_async;
    _Atomic uint32_t total_conns;
    bool stopping;
    bool signals_started;
} gateway_t;

/* Each client connection is one descriptor, and each may hold one to the origin (bounded by the pool). */
static void raise_nofile(const wr_config_t *cfg) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = (rlim_t)cfg->max_connections + (rlim_t)cfg->workers * cfg->origin_pool_max_conns + 256;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want)
        WR_WARN("open-file limit is below what max_connections and pool_max_conns may need; connections "
                "past it will be refused by the kernel",
                "nofile=%llu wanted=%llu", (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static void begin_stop(gateway_t *g, const char *why) {
    if (g->stopping)
        return;
    g->stopping = true;
    WR_INFO("draining", "signal=%s timeout_ms=%llu", why, (unsigned long long)g->cfg->shutdown_timeout_ms);
    gw_admin_drain(&g->admin);
    for (int i = 0; i < g->nworkers; i++)
        gw_worker_stop(g->workers[i]);
}

static void on_signal(uv_signal_t *s, int signum) {
    gateway_t *g = s->data;
    if (signum == SIGHUP) {
        char err[1024];
        wr_config_t *c = wr_config_load(g->cfg->path, err, sizeof err);
        if (!c) {
            WR_ERROR("SIGHUP: config is invalid; still running the old one", "error=\"%s\"", err);
            return;
        }
        wr_config_free(c);
        WR_WARN("SIGHUP: config is valid, but live reload is not supported; restart to apply it "
                "(see README: Changing the configuration)",
                "config=%s", g->cfg->path);
        return;
    }
    begin_stop(g, signum == SIGTERM ? "TERM" : "INT");
}

static void close_main_handles(gateway_t *g) {
    if (g->signals_started) {
        uv_close((uv_handle_t *)&g->sigterm, NULL);
        uv_close((uv_handle_t *)&g->sigint, NULL);
        uv_close((uv_handle_t *)&g->sighup, NULL);
    }
    uv_close((uv_handle_t *)&g->exited_async, NULL);
    gw_admin_close(&g->admin);
}

static void on_worker_exited(uv_async_t *a) {
    gateway_t *g = a->data;
    /* async sends coalesce: count the workers that say they are done */
    g->exited = 0;
    for (int i = 0; i < g->nworkers; i++)
        if (gw_worker_done(g->workers[i]))
            g->exited++;
    if (g->exited == g->nworkers)
        close_main_handles(g);
}

static int ensure_secret(const char *path, wr_secret_kind_t kind, const char *what) {
    char err[512];
    bool created;
    if (wr_secret_ensure(path, kind, &created, err, sizeof err) < 0) {
        WR_ERROR("cannot create secret file", "file=%s error=\"%s\"", what, err);
        return -1;
    }
    if (created)
        WR_INFO("generated secret file (mode 0600)", "file=%s path=%s", what, path);
    return 0;
}

int main(int argc, char **argv) {
    const char *config_path = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config_path = argv[++i];
        } else if (!strcmp(argv[i], "--check")) {
            check = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            puts("wr-gateway " WR_VERSION);
            return 0;
        } else {
            fprintf(stderr, "wr-gateway: unknown argument '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "wr-gateway: -c FILE is required\n\n%s", usage);
        return 2;
    }
    char err[1024];
    wr_config_t *cfg = wr_config_load(config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    gw_page_room_t *pages = gw_pages_create(cfg, err, sizeof err);
    if (!pages) {
        fprintf(stderr, "%s: %s\n", config_path, err);
        wr_config_free(cfg);
        return 2;
    }
    if (check) {
        gw_pages_free(pages, cfg->nrooms);
        printf("%s: configuration is valid (%zu room%s, %d worker%s)\n", config_path, cfg->nrooms,
               cfg->nrooms == 1 ? "" : "s", cfg->workers, cfg->workers == 1 ? "" : "s");
        wr_config_free(cfg);
        return 0;
    }
    wr_log_min_level = (wr_log_level_t)cfg->log_level;
    signal(SIGPIPE, SIG_IGN);
    /* Request buffers (tens of KiB) beyond the workers' free lists come from mmap, so that after a
     * burst of busy connections the memory goes back to the system instead of staying as holes between
     * the small per-connection structs, which idle connections keep alive. A fixed threshold also
     * stops glibc from raising it after the first large free. */
    mallopt(M_MMAP_THRESHOLD, 32 * 1024);
    raise_nofile(cfg);
    gw_http_init();
    if (gw_spool_check(cfg) < 0 || ensure_secret(cfg->key_file, WR_SECRET_KEYS, "key_file") < 0 ||
        ensure_secret(cfg->admin_token_file, WR_SECRET_TOKEN, "admin_token_file") < 0) {
        gw_pages_free(pages, cfg->nrooms);
        wr_config_free(cfg);
        return 1;
    }
    static wr_keyring_t keys;
    if (wr_keyring_load(&keys, cfg->key_file, err, sizeof err) < 0) {
        WR_ERROR("cannot load token keys", "error=\"%s\"", err);
        gw_pages_free(pages, cfg->nrooms);
        wr_config_free(cfg);
        return 1;
    }

    /* the Waitroom-Pass signing key, if the origin wants proof that a request passed the queue */
    static uint8_t pass_sk[crypto_sign_SECRETKEYBYTES];
    bool signing = cfg->pass_signing_key_file != NULL;
    if (signing) {
        bool created;
        if (wr_passsig_key_ensure(cfg->pass_signing_key_file, &created, err, sizeof err) < 0 ||
            wr_passsig_key_load(cfg->pass_signing_key_file, pass_sk, err, sizeof err) < 0) {
            WR_ERROR("cannot load the pass signing key", "error=\"%s\"", err);
            gw_pages_free(pages, cfg->nrooms);
            wr_config_free(cfg);
            return 1;
        }
        if (created)
            WR_INFO("generated the pass signing key (mode 0600); give the origin its public key",
                    "path=%s public=%s.pub", cfg->pass_signing_key_file, cfg->pass_signing_key_file);
        struct stat st;
        if (stat(cfg->pass_signing_key_file, &st) == 0 && (st.st_mode & 077))
            WR_WARN("the pass signing key is readable by others: chmod 600 it", "path=%s mode=%o",
                    cfg->pass_signing_key_file, (unsigned)(st.st_mode & 0777));
    }

    static gateway_t g;
    g.loop = uv_default_loop();
    g.cfg = cfg;
    g.nworkers = cfg->workers;
    g.workers = calloc((size_t)g.nworkers, sizeof *g.workers);
    g.queues = calloc((size_t)g.nworkers, sizeof *g.queues);
    bool made = g.workers && g.queues;
    /* limits shared by every worker: joins per client address and in all, connections per address */
    static wr_limit_t join_ip, join_all, conns_ip;
    bool limit_join_ip = cfg->join_limit_per_ip_per_minute &&
                         wr_rate_init(&join_ip, cfg->join_limit_per_ip_per_minute, 65536) == 0;
    bool limit_join_all =
        cfg->join_limit_per_minute && wr_rate_init(&join_all, cfg->join_limit_per_minute, 1) == 0;
    bool limit_conns_ip =
        cfg->max_connections_per_ip && wr_count_init(&conns_ip, cfg->max_connections_per_ip, 65536) == 0;
    if ((cfg->join_limit_per_ip_per_minute && !limit_join_ip) ||
        (cfg->join_limit_per_minute && !limit_join_all) || (cfg->max_connections_per_ip && !limit_conns_ip))
        made = false;
    gw_queue_shared_t shared = {.cfg = cfg,
                                .keys = &keys,
                                .pass_sk = signing ? pass_sk : NULL,
                                .pages = pages,
                                .join_ip = limit_join_ip ? &join_ip : NULL,
                                .join_all = limit_join_all ? &join_all : NULL};
    for (int i = 0; made && i < g.nworkers; i++) {
        gw_worker_opts_t o = {.id = i,
                              .cfg = cfg,
                              .hooks = &gw_queue_hooks,
                              .total_conns = &g.total_conns,
                              .conns_per_ip = limit_conns_ip ? &conns_ip : NULL,
                              .exited = &g.exited_async};
        made = (o.hooks_ctx = g.queues[i] = gw_queue_new(&shared, i)) && (g.workers[i] = gw_worker_new(&o));
    }
    if (!made) {
        WR_ERROR("out of memory", "where=workers");
        for (int i = 0; i < g.nworkers; i++) {
            if (g.workers)
                gw_worker_free(g.workers[i]);
            if (g.queues)
                gw_queue_free(g.queues[i]);
        }
        free(g.workers);
        free(g.queues);
        gw_pages_free(pages, cfg->nrooms);
        wr_config_free(cfg);
        return 1;
    }
    uv_async_init(g.loop, &g.exited_async, on_worker_exited);
    g.exited_async.data = &g;
    int rc = 0, started = 0;
    for (int i = 0; i < g.nworkers; i++) {
        if ((rc = gw_worker_start(g.workers[i])) < 0) {
            WR_ERROR("cannot listen", "address=%s:%u error=\"%s\"", cfg->listen.host, cfg->listen.port,
                     uv_strerror(rc));
            break;
        }
        started++;
    }
    g.admin.loop = g.loop;
    g.admin.cfg = cfg;
    g.admin.workers = g.workers;
    g.admin.queues = g.queues;
    g.admin.nworkers = g.nworkers;
    if (rc == 0 && (rc = gw_admin_start(&g.admin)) < 0)
        WR_ERROR("cannot listen", "address=%s:%u what=admin error=\"%s\"", cfg->admin_listen.host,
                 cfg->admin_listen.port, uv_strerror(rc));
    if (rc < 0) {
        g.admin.closed = true;
        g.nworkers = started;
        g.stopping = true;
        for (int i = 0; i < started; i++)
            gw_worker_stop(g.workers[i]);
        if (started == 0)
            close_main_handles(&g);
    } else {
        uv_signal_init(g.loop, &g.sigterm);
        uv_signal_init(g.loop, &g.sigint);
        uv_signal_init(g.loop, &g.sighup);
        g.sigterm.data = g.sigint.data = g.sighup.data = &g;
        uv_signal_start(&g.sigterm, on_signal, SIGTERM);
        uv_signal_start(&g.sigint, on_signal, SIGINT);
        uv_signal_start(&g.sighup, on_signal, SIGHUP);
        g.signals_started = true;
        WR_INFO("listening", "public=%s:%u admin=%s:%u origin=%s workers=%d rooms=%zu", cfg->listen.host,
                cfg->listen.port, cfg->admin_listen.host, cfg->admin_listen.port, cfg->origin_url, g.nworkers,
                cfg->nrooms);
    }
    uv_run(g.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < started; i++)
        gw_worker_join(g.workers[i]);
    uv_loop_close(g.loop);
    for (int i = 0; i < cfg->workers; i++) { /* g.nworkers counts only the started ones after a failure */
        gw_worker_free(g.workers[i]);
        gw_queue_free(g.queues[i]);
    }
    free(g.workers);
    free(g.queues);
    wr_limit_free(&join_ip);
    wr_limit_free(&join_all);
    wr_limit_free(&conns_ip);
    wr_keyring_wipe(&keys);
    gw_pages_free(pages, cfg->nrooms);
    wr_config_free(cfg);
    if (rc == 0)
        WR_INFO("stopped", "%s", "");
    return rc < 0 ? 1 : 0;
}
