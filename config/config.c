/* Config loading: a small INI reader (sections, "key = value", "#" or ";" comments) that knows line
 * numbers, so every error can name file, line and key (Debian's libinih only reports lines when built
 * with INI_HANDLER_LINENO, which its package is not). Each key is validated as it is read, then the
 * whole config is checked for consistency (listen != admin_listen, rooms have paths, ...).
 * Unknown sections and keys are errors: a typo must not silently leave a sale unprotected. */
#include "config/config.h"

#include "common/log.h"
#include "common/path.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define CONFIG_MAX_ROOMS 256
#define CONFIG_MAX_LIST_ITEMS 64

typedef struct {
    wr_config_t *cfg;
    const char *name;
    char *err;
    size_t err_size;
    int line;
    char section[80];
    wr_room_cfg_t *room; /* current [room NAME] or NULL */
} parser_t;

static int fail(parser_t *p, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(parser_t *p, const char *key, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key && p->section[0])
        snprintf(p->err, p->err_size, "%s:%d: [%s] %s: %s", p->name, p->line, p->section, key, msg);
    else if (key)
        snprintf(p->err, p->err_size, "%s:%d: %s: %s", p->name, p->line, key, msg);
    else if (p->section[0])
        snprintf(p->err, p->err_size, "%s:%d: [%s]: %s", p->name, p->line, p->section, msg);
    else
        snprintf(p->err, p->err_size, "%s:%d: %s", p->name, p->line, msg);
    return -1;
}

const char *wr_room_state_name(wr_room_state_t s) {
    switch (s) {
    case WR_ROOM_OPEN:
        return "open";
    case WR_ROOM_SCHEDULED:
        return "scheduled";
    case WR_ROOM_PAUSED:
        return "paused";
    case WR_ROOM_SOLD_OUT:
        return "sold_out";
    case WR_ROOM_CLOSED:
        return "closed";
    }
    return "unknown";
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int wr_parse_hostport(const char *s, wr_hostport_t *out) {
    const char *colon;
    size_t hlen;
    const char *h = s;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen > WR_HOST_MAX_BYTES)
        return -1;
    uint64_t port;
    if (parse_u64(colon + 1, 65535, &port) < 0)
        return -1;
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)out->host[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_'))
            return -1;
    }
    out->port = (uint16_t)port;
    return 0;
}

/* "scheme://host:port[/]" with the default port given; anything after the authority must be empty. */
static int parse_url(const char *s, const char *scheme, uint16_t default_port, wr_hostport_t *out) {
    size_t sl = strlen(scheme);
    if (strncmp(s, scheme, sl) != 0 || strncmp(s + sl, "://", 3) != 0)
        return -1;
    const char *a = s + sl + 3;
    size_t alen = strcspn(a, "/");
    if (a[alen] == '/' && a[alen + 1] != '\0')
        return -1; /* a path prefix on the origin is not supported */
    if (alen == 0 || alen > WR_HOST_MAX_BYTES + 8)
        return -1;
    char auth[WR_HOST_MAX_BYTES + 16];
    memcpy(auth, a, alen);
    auth[alen] = '\0';
    if (strchr(auth, '@'))
        return -1;
    bool has_port = auth[0] == '[' ? strstr(auth, "]:") != NULL : strchr(auth, ':') != NULL;
    if (!has_port) {
        if (auth[0] == '[') {
            size_t n = strlen(auth);
            if (auth[n - 1] != ']')
                return -1;
        }
        snprintf(auth + alen, sizeof auth - alen, ":%u", default_port);
    }
    return wr_parse_hostport(auth, out);
}

static int days_from_civil(int y, unsigned m, unsigned d, int64_t *out) {
    /* Howard Hinnant's algorithm: days since 1970-01-01 for a proleptic Gregorian date. */
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = (int64_t)era * 146097 + (int64_t)doe - 719468;
    return 0;
}

int wr_parse_rfc3339(const char *s, int64_t *out_unix) {
    int y, mo, d, h, mi, sec, n = 0;
    if (strlen(s) < 20)
        return -1;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    if (sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
        return -1;
    for (int i = 0; i < 19; i++) {
        if (i == 4 || i == 7 || i == 10 || i == 13 || i == 16)
            continue;
        if (!isdigit((unsigned char)s[i]))
            return -1;
    }
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return -1;
        oh = (p[1] - '0') * 10 + (p[2] - '0');
        om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23 || om > 59)
            return -1;
        offset = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -1;
    int64_t days;
    days_from_civil(y, (unsigned)mo, (unsigned)d, &days);
    *out_unix = days * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec) - offset;
    return 0;
}

static char *resolve_path(parser_t *p, const char *v) {
    if (v[0] == '/' || !p->cfg->dir)
        return strdup(v);
    size_t n = strlen(p->cfg->dir) + strlen(v) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", p->cfg->dir, v);
    return r;
}

static int parse_bool(const char *v, bool *out) {
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return -1;
    return 0;
}

static void free_list(char **list, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Splits a space-separated list; each item is checked by `kind`: 'p' path prefix, 'h' host name. */
static int parse_list(parser_t *p, const char *key, const char *v, char kind, char ***out, size_t *nout) {
    char **items = calloc(CONFIG_MAX_LIST_ITEMS, sizeof *items);
    size_t n = 0;
    if (!items)
        return fail(p, key, "out of memory");
    const char *s = v;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        if (!*s)
            break;
        size_t len = strcspn(s, " \t,");
        if (n == CONFIG_MAX_LIST_ITEMS) {
            free_list(items, n);
            return fail(p, key, "more than %d items", CONFIG_MAX_LIST_ITEMS);
        }
        char *item = malloc(len + 1);
        if (!item) {
            free_list(items, n);
            return fail(p, key, "out of memory");
        }
        if (kind == 'p') {
            long nl = wr_path_normalize(s, len, item, len + 1);
            if (nl < 0) {
                free(item);
                free_list(items, n);
                return fail(p, key, "'%.*s' is not a valid path prefix (must start with '/')", (int)len, s);
            }
            /* "/checkout/" and "/checkout" mean the same prefix; keep "/" itself */
            if (nl > 1 && item[nl - 1] == '/')
                item[--nl] = '\0';
            if (!p->cfg->case_sensitive_paths)
                for (long i = 0; i < nl; i++)
                    item[i] = (char)tolower((unsigned char)item[i]);
        } else {
            for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (!(isalnum(c) || c == '.' || c == '-' || c == '*')) {
                    free(item);
                    free_list(items, n);
                    return fail(p, key, "'%.*s' is not a valid host name", (int)len, s);
                }
                item[i] = (char)tolower(c);
            }
            item[len] = '\0';
            const char *star = strchr(item, '*');
            if (star && (strchr(star + 1, '*') || (strcmp(item, "*") != 0 && strncmp(item, "*.", 2) != 0))) {
                free(item);
                free_list(items, n);
                return fail(p, key, "'%.*s': '*' stands alone or starts '*.' (any subdomain)", (int)len, s);
            }
            if (len > WR_HOST_MAX_BYTES) {
                free(item);
                free_list(items, n);
                return fail(p, key, "host name too long");
            }
        }
        items[n++] = item;
        s += len;
    }
    if (n == 0) {
        free(items);
        return fail(p, key, "empty list");
    }
    free_list(*out, *nout);
    *out = items;
    *nout = n;
    return 0;
}

#define KEY_U64(name_, field_, min_, max_)                                                                   \
    if (!strcmp(key, name_)) {                                                                               \
        uint64_t v_;                                                                                         \
        if (parse_u64(val, (max_), &v_) < 0 || v_ + 1 < (uint64_t)(min_) + 1)                                \
            return fail(p, key, "'%s' is not a whole number in %" PRIu64 "..%" PRIu64, val,                  \
                        (uint64_t)(min_), (uint64_t)(max_));                                                 \
        c->field_ = v_;                                                                                      \
        return 0;                                                                                            \
    }

static int gateway_key(parser_t *p, const char *key, const char *val) {
    wr_config_t *c = p->cfg;
    if (!strcmp(key, "listen") || !strcmp(key, "admin_listen")) {
        wr_hostport_t *hp = key[0] == 'l' ? &c->listen : &c->admin_listen;
        if (wr_parse_hostport(val, hp) < 0)
            return fail(p, key, "'%s' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)", val);
        return 0;
    }
    if (!strcmp(key, "workers")) {
        uint64_t v;
        if (!strcmp(val, "auto")) {
            c->workers = 0;
            return 0;
        }
        if (parse_u64(val, 256, &v) < 0)
            return fail(p, key, "'%s' is not 'auto' or a number of workers in 0..256 (0 = one per core)",
                        val);
        c->workers = (int)v;
        return 0;
    }
    if (!strcmp(key, "key_file") || !strcmp(key, "admin_token_file")) {
        char **dst = key[0] == 'k' ? &c->key_file : &c->admin_token_file;
        if (!val[0])
            return fail(p, key, "empty path");
        free(*dst);
        *dst = resolve_path(p, val);
        return *dst ? 0 : fail(p, key, "out of memory");
    }
    KEY_U64("max_connections", max_connections, 1, 1000000)
    KEY_U64("max_connections_per_ip", max_connections_per_ip, 0, 1000000)
    KEY_U64("body_min_rate_bytes_per_s", body_min_rate_bytes_per_s, 0, 1000000000)
    KEY_U64("join_limit_per_ip_per_minute", join_limit_per_ip_per_minute, 0, 60000000)
    KEY_U64("join_limit_per_minute", join_limit_per_minute, 0, 60000000)
    KEY_U64("header_timeout_ms", header_timeout_ms, 100, 3600000)
    KEY_U64("body_timeout_ms", body_timeout_ms, 100, 3600000)
    KEY_U64("idle_timeout_ms", idle_timeout_ms, 100, 3600000)
    KEY_U64("send_timeout_ms", send_timeout_ms, 100, 3600000)
    KEY_U64("shutdown_timeout_ms", shutdown_timeout_ms, 0, 3600000)
    KEY_U64("max_header_bytes", max_header_bytes, 1024, 1048576)
    KEY_U64("max_header_count", max_header_count, 8, 1000)
    KEY_U64("max_uri_bytes", max_uri_bytes, 64, 1048576)
    KEY_U64("max_body_bytes", max_body_bytes, 0, UINT64_MAX / 2)
    if (!strcmp(key, "trust_forwarded") || !strcmp(key, "case_sensitive_paths") ||
        !strcmp(key, "access_log")) {
        bool *dst = key[0] == 't'   ? &c->trust_forwarded
                    : key[0] == 'c' ? &c->case_sensitive_paths
                                    : &c->access_log;
        if (parse_bool(val, dst) < 0)
            return fail(p, key, "'%s' is not true or false", val);
        if (dst == &c->case_sensitive_paths && c->nrooms > 0)
            return fail(p, key, "must come before the first [room] section");
        return 0;
    }
    if (!strcmp(key, "hosts"))
        return parse_list(p, key, val, 'h', &c->hosts, &c->nhosts);
    if (!strcmp(key, "cookie_secure")) {
        if (!strcmp(val, "auto"))
            c->cookie_secure = WR_COOKIE_SECURE_AUTO;
        else if (!strcmp(val, "always"))
            c->cookie_secure = WR_COOKIE_SECURE_ALWAYS;
        else if (!strcmp(val, "never"))
            c->cookie_secure = WR_COOKIE_SECURE_NEVER;
        else
            return fail(p, key, "'%s' is not auto, always or never", val);
        return 0;
    }
    if (!strcmp(key, "admin_reads")) {
        if (!strcmp(val, "loopback"))
            c->admin_reads_need_token = false;
        else if (!strcmp(val, "token"))
            c->admin_reads_need_token = true;
        else
            return fail(p, key, "'%s' is not loopback or token", val);
        return 0;
    }
    if (!strcmp(key, "log_level")) {
        wr_log_level_t l;
        if (wr_log_parse_level(val, &l) < 0)
            return fail(p, key, "'%s' is not one of debug, info, warn, error", val);
        c->log_level = (int)l;
        return 0;
    }
    return fail(p, key, "unknown key (see config/waitroom.example.ini)");
}

static int origin_key(parser_t *p, const char *key, const char *val) {
    wr_config_t *c = p->cfg;
    if (!strcmp(key, "url")) {
        if (parse_url(val, "http", 80, &c->origin) < 0)
            return fail(p, key, "'%s' is not http://HOST[:PORT] (https and path prefixes are not supported)",
                        val);
        free(c->origin_url);
        c->origin_url = strdup(val);
        return c->origin_url ? 0 : fail(p, key, "out of memory");
    }
    KEY_U64("connect_timeout_ms", origin_connect_timeout_ms, 10, 600000)
    KEY_U64("response_timeout_ms", origin_response_timeout_ms, 10, 3600000)
    KEY_U64("pool_max_idle", origin_pool_max_idle, 0, 100000)
    KEY_U64("pool_max_conns", origin_pool_max_conns, 1, 100000)
    KEY_U64("pool_idle_timeout_ms", origin_pool_idle_timeout_ms, 100, 3600000)
    KEY_U64("down_after_failures", origin_down_after_failures, 1, 1000)
    KEY_U64("retry_after_ms", origin_retry_after_ms, 10, 600000)
    KEY_U64("spool_max_bytes", spool_max_bytes, 0, UINT64_C(1) << 40)
    KEY_U64("spool_total_bytes", spool_total_bytes, 0, UINT64_C(1) << 44)
    if (!strcmp(key, "spool_dir")) {
        free(c->spool_dir);
        c->spool_dir = NULL;
        if (!val[0])
            return 0;
        c->spool_dir = resolve_path(p, val);
        return c->spool_dir ? 0 : fail(p, key, "out of memory");
    }
    if (!strcmp(key, "pass_signing_key_file")) {
        free(c->pass_signing_key_file);
        c->pass_signing_key_file = NULL;
        if (!val[0])
            return 0; /* empty: no signed header */
        c->pass_signing_key_file = resolve_path(p, val);
        return c->pass_signing_key_file ? 0 : fail(p, key, "out of memory");
    }
    return fail(p, key, "unknown key (see config/waitroom.example.ini)");
}

static int redis_key(parser_t *p, const char *key, const char *val) {
    wr_config_t *c = p->cfg;
    if (!strcmp(key, "url")) {
        if (parse_url(val, "redis", 6379, &c->redis) < 0)
            return fail(p, key, "'%s' is not redis://HOST[:PORT]", val);
        free(c->redis_url);
        c->redis_url = strdup(val);
        return c->redis_url ? 0 : fail(p, key, "out of memory");
    }
    KEY_U64("timeout_ms", redis_timeout_ms, 10, 600000)
    return fail(p, key, "unknown key (see config/waitroom.example.ini)");
}

static int admission_key(parser_t *p, const char *key, const char *val) {
    wr_config_t *c = p->cfg;
    if (!strcmp(key, "metrics_listen")) {
        if (wr_parse_hostport(val, &c->admission_metrics) < 0)
            return fail(p, key, "'%s' is not HOST:PORT (e.g. 127.0.0.1:8082)", val);
        return 0;
    }
    if (!strcmp(key, "tick_ms") || !strcmp(key, "lease_ms")) {
        uint64_t v;
        bool tick = key[0] == 't';
        if (parse_u64(val, tick ? 5000 : 60000, &v) < 0 || v < (tick ? 50 : 200))
            return fail(p, key, "'%s' is not a number of milliseconds in %s", val,
                        tick ? "50..5000" : "200..60000");
        *(tick ? &c->admission_tick_ms : &c->admission_lease_ms) = v;
        return 0;
    }
    return fail(p, key, "unknown key (see config/waitroom.example.ini)");
}

static int room_key(parser_t *p, const char *key, const char *val) {
    wr_room_cfg_t *c = p->room;
    if (!strcmp(key, "paths"))
        return parse_list(p, key, val, 'p', &c->paths, &c->npaths);
    if (!strcmp(key, "bypass"))
        return parse_list(p, key, val, 'p', &c->bypass, &c->nbypass);
    if (!strcmp(key, "hosts"))
        return parse_list(p, key, val, 'h', &c->hosts, &c->nhosts);
    if (!strcmp(key, "completion_paths"))
        return parse_list(p, key, val, 'p', &c->completion, &c->ncompletion);
    if (!strcmp(key, "fail_open")) {
        if (parse_bool(val, &c->fail_open) < 0)
            return fail(p, key, "'%s' is not true or false", val);
        return 0;
    }
    if (!strcmp(key, "page_template")) {
        if (!val[0])
            return fail(p, key, "empty path");
        free(c->page_template);
        c->page_template = resolve_path(p, val);
        return c->page_template ? 0 : fail(p, key, "out of memory");
    }
    if (!strcmp(key, "state")) {
        for (int s = WR_ROOM_OPEN; s <= WR_ROOM_CLOSED; s++) {
            if (!strcmp(val, wr_room_state_name((wr_room_state_t)s))) {
                c->state = (wr_room_state_t)s;
                return 0;
            }
        }
        return fail(p, key, "'%s' is not one of open, scheduled, paused, sold_out, closed", val);
    }
    if (!strcmp(key, "open_at")) {
        if (wr_parse_rfc3339(val, &c->open_at) < 0)
            return fail(p, key, "'%s' is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z)", val);
        return 0;
    }
    if (!strcmp(key, "mode")) {
        if (!strcmp(val, "fixed"))
            c->mode = WR_MODE_FIXED;
        else if (!strcmp(val, "adaptive"))
            c->mode = WR_MODE_ADAPTIVE;
        else
            return fail(p, key, "'%s' is not fixed or adaptive", val);
        return 0;
    }
    if (!strcmp(key, "likely_sold_out_factor")) {
        char *end;
        errno = 0;
        double d = strtod(val, &end);
        if (errno || *end || end == val || !(d >= 0.1 && d <= 1000.0))
            return fail(p, key, "'%s' is not a number in 0.1..1000", val);
        c->likely_sold_out_factor = d;
        return 0;
    }
    if (!strcmp(key, "max_error_rate")) {
        char *end;
        errno = 0;
        double d = strtod(val, &end);
        if (errno || *end || end == val || !(d >= 0.0 && d <= 1.0))
            return fail(p, key, "'%s' is not a fraction in 0..1 (0.01 = 1 %%)", val);
        c->max_error_rate = d;
        return 0;
    }
#define ROOM_I64(name_, field_, max_)                                                                        \
    if (!strcmp(key, name_)) {                                                                               \
        uint64_t v_;                                                                                         \
        if (parse_u64(val, (max_), &v_) < 0)                                                                 \
            return fail(p, key, "'%s' is not a whole number in 0..%" PRIu64, val, (uint64_t)(max_));         \
        c->field_ = (int64_t)v_;                                                                             \
        return 0;                                                                                            \
    }
    ROOM_I64("rate_per_minute", rate_per_minute, 10000000)
    ROOM_I64("max_active", max_active, 100000000)
    ROOM_I64("burst", burst, 1000000)
    ROOM_I64("min_rate", min_rate, 10000000)
    ROOM_I64("max_rate", max_rate, 10000000)
    ROOM_I64("target_p99_ms", target_p99_ms, 600000)
    ROOM_I64("claim_window_s", claim_window_s, 86400)
    ROOM_I64("session_ttl_s", session_ttl_s, 86400)
    ROOM_I64("abandon_after_s", abandon_after_s, 86400)
    ROOM_I64("rejoin_window_s", rejoin_window_s, 7 * 86400)
    ROOM_I64("queue_token_ttl_s", queue_token_ttl_s, 90 * 86400)
    ROOM_I64("session_max_s", session_max_s, 7 * 86400)
    ROOM_I64("grace_s", grace_s, 3600)
    ROOM_I64("log_max_entries", log_max_entries, 100000000)
    ROOM_I64("prequeue_max", prequeue_max, 100000000)
#undef ROOM_I64
    return fail(p, key, "unknown key (see config/waitroom.example.ini)");
}

static int check_room(parser_t *p, wr_room_cfg_t *r) {
    int saved = p->line;
    p->line = r->line;
    snprintf(p->section, sizeof p->section, "room %s", r->name);
    int rc = 0;
    if (r->npaths == 0)
        rc = fail(p, "paths", "missing: a room must protect at least one path prefix");
    else if (r->state == WR_ROOM_SCHEDULED && r->open_at == 0)
        rc = fail(p, "open_at", "missing: state = scheduled needs an opening time");
    else if (r->mode == WR_MODE_ADAPTIVE && r->max_rate < r->min_rate)
        rc = fail(p, "max_rate", "is below min_rate");
    else if (r->claim_window_s < 10 || r->session_ttl_s < 10 || r->abandon_after_s < 10)
        rc = fail(p,
                  r->claim_window_s < 10  ? "claim_window_s"
                  : r->session_ttl_s < 10 ? "session_ttl_s"
                                          : "abandon_after_s",
                  "must be at least 10 seconds");
    else if (r->queue_token_ttl_s < 3600)
        rc = fail(p, "queue_token_ttl_s", "must be at least 3600 seconds (a place must outlive the queue)");
    else if (r->session_max_s == 0)
        r->session_max_s = r->session_ttl_s * 3 > 3600 ? r->session_ttl_s * 3 : 3600;
    if (!rc && r->session_max_s < r->session_ttl_s)
        rc = fail(p, "session_max_s", "is below session_ttl_s");
    else if (!rc && r->log_max_entries < 1000)
        rc = fail(p, "log_max_entries", "must be at least 1000");
    p->line = saved;
    return rc;
}

static int open_section(parser_t *p, const char *name) {
    p->room = NULL;
    snprintf(p->section, sizeof p->section, "%s", name);
    if (!strcmp(name, "gateway") || !strcmp(name, "origin") || !strcmp(name, "redis") ||
        !strcmp(name, "admission"))
        return 0;
    if (strncmp(name, "room", 4) != 0 || (name[4] != ' ' && name[4] != '\t')) {
        p->section[0] = '\0';
        return fail(p, NULL, "unknown section [%s] (expected gateway, origin, redis, admission or room NAME)",
                    name);
    }
    const char *rn = name + 5;
    while (*rn == ' ' || *rn == '\t')
        rn++;
    size_t len = strlen(rn);
    if (len == 0 || len > WR_ROOM_NAME_MAX_BYTES)
        return fail(p, NULL, "room name must be 1..%d characters", WR_ROOM_NAME_MAX_BYTES);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)rn[i];
        if (!(isalnum(ch) || ch == '-' || ch == '_'))
            return fail(p, NULL, "room name '%s' may only hold letters, digits, '-' and '_'", rn);
    }
    wr_config_t *c = p->cfg;
    for (size_t i = 0; i < c->nrooms; i++)
        if (!strcmp(c->rooms[i].name, rn))
            return fail(p, NULL, "room '%s' is defined twice (first on line %d)", rn, c->rooms[i].line);
    if (c->nrooms == CONFIG_MAX_ROOMS)
        return fail(p, NULL, "more than %d rooms", CONFIG_MAX_ROOMS);
    wr_room_cfg_t *rooms = realloc(c->rooms, (c->nrooms + 1) * sizeof *rooms);
    if (!rooms)
        return fail(p, NULL, "out of memory");
    c->rooms = rooms;
    wr_room_cfg_t *r = &rooms[c->nrooms++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, rn, len + 1);
    r->line = p->line;
    r->state = WR_ROOM_OPEN;
    r->mode = WR_MODE_FIXED;
    r->rate_per_minute = 60;
    r->min_rate = 60;
    r->max_rate = 6000;
    r->target_p99_ms = 1000;
    r->max_error_rate = 0.01;
    r->claim_window_s = 120;
    r->session_ttl_s = 600;
    r->abandon_after_s = 60;
    r->rejoin_window_s = 900;
    r->queue_token_ttl_s = 7 * 86400;
    r->session_max_s = 0; /* default: 3 x session_ttl_s, at least an hour (set in check_room) */
    r->grace_s = 120;
    r->log_max_entries = 2000000;
    r->prequeue_max = 1000000;
    r->likely_sold_out_factor = 1.0;
    p->room = r;
    return 0;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static void set_defaults(wr_config_t *c) {
    wr_parse_hostport("127.0.0.1:8080", &c->listen);
    wr_parse_hostport("127.0.0.1:8081", &c->admin_listen);
    c->admission_tick_ms = 250;
    c->admission_lease_ms = 2000;
    c->workers = 0;
    c->max_connections = 20000;
    c->join_limit_per_ip_per_minute = 120;
    c->body_min_rate_bytes_per_s = 1024;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 30000;
    c->idle_timeout_ms = 60000;
    c->send_timeout_ms = 60000;
    c->shutdown_timeout_ms = 15000;
    c->max_header_bytes = 16384;
    c->max_header_count = 100;
    c->max_uri_bytes = 8192;
    c->max_body_bytes = 16 * 1024 * 1024;
    c->log_level = WR_LOG_INFO;
    wr_parse_hostport("127.0.0.1:9000", &c->origin);
    c->origin_connect_timeout_ms = 3000;
    c->origin_response_timeout_ms = 30000;
    c->origin_pool_max_idle = 64;
    c->origin_pool_max_conns = 1024;
    c->origin_pool_idle_timeout_ms = 30000;
    c->origin_down_after_failures = 3;
    c->origin_retry_after_ms = 1000;
    c->spool_max_bytes = UINT64_C(1) << 30;
    c->spool_total_bytes = UINT64_C(4) << 30;
    wr_parse_hostport("127.0.0.1:6379", &c->redis);
    c->redis_timeout_ms = 2000;
}

static int parse_text(parser_t *p, char *text) {
    char *save = NULL;
    p->line = 0;
    for (char *ln = text; ln; ln = save) {
        save = strchr(ln, '\n');
        if (save)
            *save++ = '\0';
        p->line++;
        char *s = trim(ln);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *rb = strchr(s, ']');
            if (!rb || *trim(rb + 1))
                return fail(p, NULL, "bad section header (expected [name])");
            *rb = '\0';
            if (open_section(p, trim(s + 1)) < 0)
                return -1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            return fail(p, NULL, "expected 'key = value'");
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (!*key)
            return fail(p, NULL, "missing key before '='");
        if (!p->section[0])
            return fail(p, key, "key outside of any section");
        int rc;
        if (!strcmp(p->section, "gateway"))
            rc = gateway_key(p, key, val);
        else if (!strcmp(p->section, "origin"))
            rc = origin_key(p, key, val);
        else if (!strcmp(p->section, "redis"))
            rc = redis_key(p, key, val);
        else if (!strcmp(p->section, "admission"))
            rc = admission_key(p, key, val);
        else
            rc = room_key(p, key, val);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int check_all(parser_t *p) {
    wr_config_t *c = p->cfg;
    if (c->listen.port == c->admin_listen.port && !strcmp(c->listen.host, c->admin_listen.host)) {
        p->line = 0;
        snprintf(p->section, sizeof p->section, "gateway");
        snprintf(p->err, p->err_size, "%s: [gateway] admin_listen: must differ from listen (%s:%u)", p->name,
                 c->listen.host, c->listen.port);
        return -1;
    }
    if (c->admission_lease_ms < 4 * c->admission_tick_ms) {
        p->line = 0;
        snprintf(p->err, p->err_size, "%s: [admission] lease_ms: must be at least 4 x tick_ms (%llu ms)",
                 p->name, (unsigned long long)(4 * c->admission_tick_ms));
        return -1;
    }
    for (size_t i = 0; i < c->nrooms; i++)
        if (check_room(p, &c->rooms[i]) < 0)
            return -1;
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (int)(n > 64 ? 64 : n) : 1;
    }
    if (!c->key_file)
        c->key_file = resolve_path(p, "waitroom.key");
    if (!c->admin_token_file)
        c->admin_token_file = resolve_path(p, "admin.token");
    if (!c->origin_url)
        c->origin_url = strdup("http://127.0.0.1:9000");
    if (!c->redis_url)
        c->redis_url = strdup("redis://127.0.0.1:6379");
    if (!c->key_file || !c->admin_token_file || !c->origin_url || !c->redis_url) {
        snprintf(p->err, p->err_size, "%s: out of memory", p->name);
        return -1;
    }
    return 0;
}

wr_config_t *wr_config_load_string(const char *text, const char *name, const char *dir, char *err,
                                   size_t err_size) {
    wr_config_t *c = calloc(1, sizeof *c);
    char *copy = strdup(text);
    if (!c || !copy) {
        snprintf(err, err_size, "%s: out of memory", name);
        free(c);
        free(copy);
        return NULL;
    }
    set_defaults(c);
    c->path = strdup(name);
    c->dir = dir ? strdup(dir) : NULL;
    parser_t p = {.cfg = c, .name = name, .err = err, .err_size = err_size};
    if (!c->path || parse_text(&p, copy) < 0 || check_all(&p) < 0) {
        if (!c->path)
            snprintf(err, err_size, "%s: out of memory", name);
        free(copy);
        wr_config_free(c);
        return NULL;
    }
    free(copy);
    return c;
}

wr_config_t *wr_config_load(const char *path, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, err_size, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || n > CONFIG_MAX_FILE_BYTES) {
        free(buf);
        snprintf(err, err_size, "%s: %s", path, rerr ? "read error" : "larger than 1 MiB");
        return NULL;
    }
    if (memchr(buf, '\0', n)) {
        free(buf);
        snprintf(err, err_size, "%s: contains a NUL byte (not a text file?)", path);
        return NULL;
    }
    buf[n] = '\0';
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t dl = (size_t)(slash - path);
        if (dl == 0)
            dl = 1;
        snprintf(dir, sizeof dir, "%.*s", (int)dl, path);
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    wr_config_t *c = wr_config_load_string(buf, path, dir, err, err_size);
    free(buf);
    return c;
}

void wr_config_free(wr_config_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->nrooms; i++) {
        free_list(c->rooms[i].paths, c->rooms[i].npaths);
        free_list(c->rooms[i].bypass, c->rooms[i].nbypass);
        free_list(c->rooms[i].hosts, c->rooms[i].nhosts);
        free_list(c->rooms[i].completion, c->rooms[i].ncompletion);
        free(c->rooms[i].page_template);
    }
    free(c->rooms);
    free_list(c->hosts, c->nhosts);
    free(c->path);
    free(c->dir);
    free(c->key_file);
    free(c->pass_signing_key_file);
    free(c->spool_dir);
    free(c->admin_token_file);
    free(c->origin_url);
    free(c->redis_url);
    free(c);
}
