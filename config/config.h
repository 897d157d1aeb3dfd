/* The one configuration struct shared by wr-gateway and wr-admission, loaded from an INI-style file
 * (sections [gateway], [origin], [redis], [room NAME]). wr_config_load validates every key and, on the
 * first error, returns NULL with one message "FILE:LINE: [section] key: problem" in err.
 * Ownership: the wr_config_t owns every string and array in it; wr_config_free releases all of it.
 * Relative paths in the file are resolved against the config file's directory at load time. */
#ifndef WR_CONFIG_H
#define WR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WR_ROOM_NAME_MAX_BYTES 64

/* [gateway] cookie_secure: when wr_q / wr_p get the Secure attribute */
typedef enum {
    WR_COOKIE_SECURE_AUTO = 0, /* when a trusted X-Forwarded-Proto says https */
    WR_COOKIE_SECURE_ALWAYS,
    WR_COOKIE_SECURE_NEVER
} wr_cookie_secure_t;
#define WR_HOST_MAX_BYTES 255

typedef enum {
    WR_ROOM_OPEN = 0,
    WR_ROOM_SCHEDULED,
    WR_ROOM_PAUSED,
    WR_ROOM_SOLD_OUT,
    WR_ROOM_CLOSED
} wr_room_state_t;

typedef enum { WR_MODE_FIXED = 0, WR_MODE_ADAPTIVE } wr_room_mode_t;

typedef struct {
    char host[WR_HOST_MAX_BYTES + 1]; /* numeric address or name, no brackets */
    uint16_t port;
} wr_hostport_t;

typedef struct {
    char name[WR_ROOM_NAME_MAX_BYTES + 1];
    int line;     /* line of the [room NAME] header, for messages */
    char **paths; /* normalised prefixes, lower-cased unless case_sensitive_paths */
    size_t npaths;
    char **bypass; /* prefixes under paths that pass through unqueued */
    size_t nbypass;
    char **hosts; /* lower-case host names without port; none = any host */
    size_t nhosts;
    wr_room_state_t state;
    int64_t open_at; /* unix seconds; 0 = not set */
    wr_room_mode_t mode;
    int64_t rate_per_minute;
    int64_t max_active; /* 0 = no cap */
    int64_t burst;      /* fixed mode: token bucket depth in visitors; 0 = one second's worth */
    int64_t min_rate;
    int64_t max_rate;
    int64_t target_p99_ms;
    double max_error_rate;
    int64_t claim_window_s;    /* an admitted visitor must show up within this, else a no-show */
    int64_t session_ttl_s;     /* a claimed session lasts this long */
    int64_t abandon_after_s;   /* a waiting visitor silent this long is skipped when their turn comes */
    int64_t rejoin_window_s;   /* ... and may come back to the front only this long after being skipped */
    int64_t queue_token_ttl_s; /* how long a queue token (and so a place) stays valid */
    int64_t session_max_s;     /* activity extends a session up to this long after the claim */
    int64_t grace_s;           /* an origin 5xx/timeout during a session extends it by this */
    char **completion;         /* prefixes whose 2xx/3xx answer ends the session (checkout done) */
    size_t ncompletion;
    bool fail_open;                /* Redis unreachable: let everyone through instead of holding the queue */
    char *page_template;           /* waiting page template file, or NULL for the built-in page */
    int64_t log_max_entries;       /* audit stream cap (approximate, Redis MAXLEN ~) */
    int64_t prequeue_max;          /* most visitors in a scheduled room's pre-queue; beyond: first-come */
    double likely_sold_out_factor; /* position > tickets left x this: "likely sold out" for the buyer */
} wr_room_cfg_t;

/* The longest a pass of this room can live, from its claim: session_max_s, plus grace_s for an origin
 * failure near the end, plus a minute of clock skew. Revocations are kept this long (wr:{R}:revoked). */
static inline int64_t wr_room_pass_life_ms(const wr_room_cfg_t *r) {
    return (r->session_max_s + r->grace_s + 60) * 1000;
}

typedef struct wr_config {
    char *path; /* the config file as given */
    char *dir;  /* its directory, for relative paths */

    /* [gateway] */
    wr_hostport_t listen;
    wr_hostport_t admin_listen;
    wr_hostport_t admission_metrics; /* [admission] metrics_listen; port 0 = none */
    uint64_t admission_tick_ms;      /* [admission] tick_ms: one decision per room this often */
    uint64_t admission_lease_ms;     /* [admission] lease_ms: a standby takes over within this */
    int workers;                     /* resolved: >= 1 */
    char *key_file;
    char *admin_token_file;
    uint32_t max_connections;
    uint64_t max_connections_per_ip;       /* 0 = off */
    uint64_t body_min_rate_bytes_per_s;    /* a streamed body's least average rate; 0 = off */
    uint64_t join_limit_per_ip_per_minute; /* new places per client address; 0 = off */
    uint64_t join_limit_per_minute;        /* new places in all, this process; 0 = off */
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t send_timeout_ms;
    uint64_t shutdown_timeout_ms;
    uint32_t max_header_bytes;
    uint32_t max_header_count;
    uint32_t max_uri_bytes;
    uint64_t max_body_bytes; /* 0 = no limit */
    bool trust_forwarded;
    bool case_sensitive_paths;
    bool access_log;
    bool admin_reads_need_token; /* admin_reads = token: reads need the bearer token from loopback too */
    int cookie_secure;           /* wr_cookie_secure_t */
    char *
        *hosts; /* [gateway] hosts: the Host names served (lower case, "*.x" and "*" allowed); none = unset */
    size_t nhosts;
    int log_level; /* wr_log_level_t */

    /* [origin] */
    wr_hostport_t origin;
    char *origin_url;
    uint64_t origin_connect_timeout_ms;
    uint64_t origin_response_timeout_ms;
    uint32_t origin_pool_max_idle;
    uint32_t origin_pool_max_conns;
    uint64_t origin_pool_idle_timeout_ms;
    uint32_t origin_down_after_failures;
    uint64_t origin_retry_after_ms;
    char *pass_signing_key_file; /* NULL: no Waitroom-Pass header (passsig.h) */
    char *spool_dir;          /* where responses a slow client has not taken yet go; NULL: $TMPDIR or /tmp */
    uint64_t spool_max_bytes; /* held for one response ahead of its client; 0: no spooling */
    uint64_t spool_total_bytes; /* held by the whole process */

    /* [redis] */
    char *redis_url;
    wr_hostport_t redis;
    uint64_t
        redis_timeout_ms; /* connect, and a command's reply: then the connection is dropped and retried */

    wr_room_cfg_t *rooms;
    size_t nrooms;
} wr_config_t;

/* Loads and validates FILE. On error returns NULL and writes one line into err. */
wr_config_t *wr_config_load(const char *path, char *err, size_t err_size);
/* Same, from a string (for tests); `name` stands for the file name in messages, dir for relative paths. */
wr_config_t *wr_config_load_string(const char *text, const char *name, const char *dir, char *err,
                                   size_t err_size);
void wr_config_free(wr_config_t *cfg);

const char *wr_room_state_name(wr_room_state_t s);
/* Parses "host:port", "[v6]:port". Returns 0 or -1. */
int wr_parse_hostport(const char *s, wr_hostport_t *out);
/* Parses an RFC 3339 time ("2026-12-01T10:00:00Z", "...+01:00", fractional seconds allowed). */
int wr_parse_rfc3339(const char *s, int64_t *out_unix);

#endif
