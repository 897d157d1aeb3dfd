/* Request head checks (request.h). The order of the checks is the order of the refusals a client sees
 * when a head breaks several rules: size, version, method, field names, Host, target, framing, body
 * size, Expect. */
#include "gateway/http/request.h"

#include "common/path.h"

#include <llhttp.h>
#include <string.h>
#include <strings.h>

static bool slice_ieq(const char *s, size_t n, const char *lower) {
    return strlen(lower) == n && strncasecmp(s, lower, n) == 0;
}

/* Fields that frame or route the message: a Connection header may not name them (the hop would drop
 * the framing while the body still flows), and no look-alike may stand beside them. */
static const char *const framing[] = {
    "content-length", "transfer-encoding", "host",       "connection",      "te",
    "trailer",        "upgrade",           "keep-alive", "proxy-connection"};

/* A name an origin might read as one of those: '_' for '-', or runs of either (Transfer_Encoding,
 * Content__Length; CGI-style stacks and some frameworks map and fold them). */
static bool framing_look_alike(const char *name, size_t n) {
    if (!memchr(name, '_', n) && !memmem(name, n, "--", 2))
        return false;
    char canon[32];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i] == '_' ? '-' : name[i];
        if (ch == '-' && k && canon[k - 1] == '-')
            continue;
        if (k == sizeof canon)
            return false;
        canon[k++] = ch;
    }
    for (size_t i = 0; i < sizeof framing / sizeof *framing; i++)
        if (slice_ieq(canon, k, framing[i]))
            return true;
    return false;
}

int gw_request_check(const wr_config_t *cfg, const gw_request_in_t *in, char *norm, size_t norm_cap,
                     gw_request_t *out) {
    const gw_hdrs_t *hs = &in->hs;
    memset(out, 0, sizeof *out);
    if (in->head_bytes > cfg->max_header_bytes)
        return 431;
    if (in->http_major != 1)
        return 505;
    out->http10 = in->http_minor == 0;
    uint8_t method = in->method;
    if (method == HTTP_CONNECT)
        return 405;
    out->is_head = method == HTTP_HEAD;
    out->idempotent =
        method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS || method == HTTP_TRACE;

    /* Field names: none empty, none a look-alike of a framing field; Connection names no framing
     * field (RFC 9110 section 7.6.1: such an option is not the client's to drop). */
    for (size_t i = 0; i < hs->n; i++) {
        const char *name = hs->base + hs->h[i].name_off;
        if (hs->h[i].name_len == 0 || framing_look_alike(name, hs->h[i].name_len))
            return 400;
        if (gw_hdr_name_is(hs, i, "connection") &&
            (gw_hdr_has_token(hs, i, "content-length") || gw_hdr_has_token(hs, i, "transfer-encoding") ||
             gw_hdr_has_token(hs, i, "host")))
            return 400;
    }

    /* Host: exactly one for HTTP/1.1 (RFC 9112 section 3.2). */
    long host = -1;
    for (size_t i = 0; i < hs->n; i++) {
        if (gw_hdr_name_is(hs, i, "host")) {
            if (host >= 0)
                return 400;
            host = (long)i;
        }
    }
    if (host < 0 && !out->http10)
        return 400;
    const char *hv = host >= 0 ? hs->base + hs->h[host].value_off : "";
    size_t hl = host >= 0 ? hs->h[host].value_len : 0;

    /* Request target: origin-form, absolute-form (its authority must agree with Host), or "*". */
    const char *url = in->url;
    size_t ul = in->url_len;
    if (ul > 7 && strncasecmp(url, "http://", 7) == 0) {
        const char *auth = url + 7;
        size_t al = 0;
        while (7 + al < ul && auth[al] != '/' && auth[al] != '?')
            al++;
        if (host >= 0 && !(al == hl && strncasecmp(auth, hv, al) == 0))
            return 400;
        if (host < 0) {
            hv = auth;
            hl = al;
        }
        url = auth + al;
        ul -= 7 + al;
        if (ul == 0)
            url = "/", ul = 1;
    }
    out->host = hv;
    out->host_len = hl;
    const char *path = url;
    size_t path_len = ul;
    const char *q = memchr(url, '?', ul);
    if (q) {
        path_len = (size_t)(q - url);
        out->query = q;
        out->query_len = ul - path_len;
    }
    long norm_len;
    if (path_len == 1 && path[0] == '*' && !q) {
        if (method != HTTP_OPTIONS)
            return 400;
        norm[0] = '*';
        norm_len = 1;
    } else if (path_len == 0 && q) {
        norm[0] = '/';
        norm_len = 1;
    } else {
        norm_len = wr_path_normalize(path, path_len, norm, norm_cap);
        if (norm_len < 0)
            return 400;
    }
    out->path = norm;
    out->path_len = (size_t)norm_len;

    /* Framing: only "chunked" is understood as a transfer coding (RFC 9112 section 6.1). */
    bool te = false;
    for (size_t i = 0; i < hs->n; i++) {
        if (gw_hdr_name_is(hs, i, "transfer-encoding")) {
            if (te || !slice_ieq(hs->base + hs->h[i].value_off, hs->h[i].value_len, "chunked"))
                return 501;
            te = true;
        }
    }
    if ((te || in->chunked) && out->http10)
        return 400; /* RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding is faulty */
    if (in->has_content_length && cfg->max_body_bytes && in->content_length > cfg->max_body_bytes)
        return 413;
    out->has_body = in->chunked || (in->has_content_length && in->content_length > 0);

    long ex = gw_hdr_find(hs, "expect");
    if (ex >= 0) {
        if (!slice_ieq(hs->base + hs->h[ex].value_off, hs->h[ex].value_len, "100-continue"))
            return 417;
        out->expect_continue = out->has_body && !out->http10;
    }
    return 0;
}
