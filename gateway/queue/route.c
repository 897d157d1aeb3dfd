/* Route matching is a linear scan over rooms and prefixes: deployments have a handful of rooms, and
 * the scan touches no memory beyond the config. */
#include "gateway/queue/route.h"

#include "common/path.h"

#include <string.h>
#include <strings.h>

/* Strips ":port" (also after "[v6]") and one trailing dot. */
static size_t host_name_len(const char *h, size_t n) {
    if (n && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        return rb ? (size_t)(rb - h) + 1 : n;
    }
    const char *colon = memchr(h, ':', n);
    if (colon)
        n = (size_t)(colon - h);
    if (n && h[n - 1] == '.')
        n--;
    return n;
}

static bool host_matches(char *const *hosts, size_t nhosts, const char *h, size_t n) {
    for (size_t i = 0; i < nhosts; i++) {
        const char *pat = hosts[i];
        size_t pl = strlen(pat);
        if (pl == 1 && pat[0] == '*')
            return true;
        if (pat[0] == '*' && pat[1] == '.') {
            /* "*.example.com" matches any subdomain, not the apex */
            if (n > pl - 1 && strncasecmp(h + n - (pl - 1), pat + 1, pl - 1) == 0)
                return true;
        } else if (pl == n && strncasecmp(h, pat, n) == 0) {
            return true;
        }
    }
    return false;
}

static size_t longest_prefix(char *const *prefixes, size_t n, const char *path, size_t path_len, bool cs) {
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = strlen(prefixes[i]);
        if (pl > best && wr_path_has_prefix(path, path_len, prefixes[i], pl, cs))
            best = pl;
    }
    return best;
}

/* Whether any room, or [gateway] hosts, names this host. */
static bool host_known(const wr_config_t *cfg, const char *h, size_t n) {
    if (host_matches(cfg->hosts, cfg->nhosts, h, n))
        return true;
    for (size_t i = 0; i < cfg->nrooms; i++)
        if (host_matches(cfg->rooms[i].hosts, cfg->rooms[i].nhosts, h, n))
            return true;
    return false;
}

gw_route_t gw_route_match(const wr_config_t *cfg, const char *host, size_t host_len, const char *path,
                          size_t path_len) {
    gw_route_t out = {GW_ROUTE_PASS, NULL};
    size_t hn = host_name_len(host, host_len);
    if (cfg->nhosts && !host_matches(cfg->hosts, cfg->nhosts, host, hn)) {
        out.kind = GW_ROUTE_MISDIRECTED;
        return out;
    }
    int best_host = -1;
    size_t best_len = 0;
    bool cs = cfg->case_sensitive_paths;
    bool elsewhere = false; /* the path is protected by a room on other hosts */
    for (size_t i = 0; i < cfg->nrooms; i++) {
        const wr_room_cfg_t *r = &cfg->rooms[i];
        int hostly = 0;
        size_t pl = longest_prefix(r->paths, r->npaths, path, path_len, cs);
        if (pl == 0)
            continue;
        if (r->nhosts) {
            if (!host_matches(r->hosts, r->nhosts, host, hn)) {
                elsewhere = true;
                continue;
            }
            hostly = 1;
        }
        if (hostly > best_host || (hostly == best_host && pl > best_len)) {
            best_host = hostly;
            best_len = pl;
            out.room = r;
        }
    }
    if (!out.room) {
        if (elsewhere && !host_known(cfg, host, hn))
            out.kind = GW_ROUTE_MISDIRECTED;
        return out;
    }
    out.kind = longest_prefix(out.room->bypass, out.room->nbypass, path, path_len, cs) ? GW_ROUTE_BYPASS
                                                                                       : GW_ROUTE_PROTECTED;
    return out;
}
