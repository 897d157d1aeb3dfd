/* Head rewriting. Output is assembled with bounded appends into a caller buffer; a head that does
 * not fit is an error, never a truncation. */
#include "gateway/http/headers.h"

#include "common/buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_CONN_TOKENS 16

#define PUTS(w, lit) wr_buf_put((w), (lit), sizeof(lit) - 1)

static bool slice_eq_lower(const char *s, size_t n, const char *lower) {
    size_t ln = strlen(lower);
    return n == ln && strncasecmp(s, lower, n) == 0;
}

bool gw_hdr_name_is(const gw_hdrs_t *hs, size_t i, const char *lower) {
    return slice_eq_lower(hs->base + hs->h[i].name_off, hs->h[i].name_len, lower);
}

long gw_hdr_find(const gw_hdrs_t *hs, const char *lower) {
    for (size_t i = 0; i < hs->n; i++)
        if (gw_hdr_name_is(hs, i, lower))
            return (long)i;
    return -1;
}

/* Calls back for each comma-separated, OWS-trimmed token of header i. Stops when cb returns true. */
static bool each_token(const gw_hdrs_t *hs, size_t i, bool (*cb)(const char *, size_t, void *), void *arg) {
    const char *v = hs->base + hs->h[i].value_off;
    size_t n = hs->h[i].value_len, s = 0;
    while (s < n) {
        size_t e = s;
        while (e < n && v[e] != ',')
            e++;
        size_t a = s, b = e;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b > a && cb(v + a, b - a, arg))
            return true;
        s = e + 1;
    }
    return false;
}

static bool token_match(const char *t, size_t n, void *arg) {
    return slice_eq_lower(t, n, (const char *)arg);
}

bool gw_hdr_has_token(const gw_hdrs_t *hs, size_t i, const char *lower) {
    return each_token(hs, i, token_match, (void *)lower);
}

typedef struct {
    const char *t[MAX_CONN_TOKENS];
    size_t n[MAX_CONN_TOKENS];
    size_t count;
    bool overflow;
} conn_tokens_t;

static bool collect_token(const char *t, size_t n, void *arg) {
    conn_tokens_t *ct = arg;
    if (ct->count == MAX_CONN_TOKENS) {
        ct->overflow = true;
        return true;
    }
    ct->t[ct->count] = t;
    ct->n[ct->count++] = n;
    return false;
}

static void connection_tokens(const gw_hdrs_t *hs, conn_tokens_t *ct) {
    memset(ct, 0, sizeof *ct);
    for (size_t i = 0; i < hs->n; i++)
        if (gw_hdr_name_is(hs, i, "connection"))
            each_token(hs, i, collect_token, ct);
}

static const char *const hop_by_hop[] = {"connection",
                                         "keep-alive",
                                         "proxy-connection",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "http2-settings",
                                         "proxy-authorization",
                                         "proxy-authenticate"};

static bool is_hop_by_hop(const gw_hdrs_t *hs, size_t i, const conn_tokens_t *ct) {
    const char *name = hs->base + hs->h[i].name_off;
    size_t nl = hs->h[i].name_len;
    for (size_t k = 0; k < sizeof hop_by_hop / sizeof *hop_by_hop; k++)
        if (slice_eq_lower(name, nl, hop_by_hop[k]))
            return true;
    /* a Connection option never removes the framing or the Host: the message is relayed as framed */
    if (slice_eq_lower(name, nl, "content-length") || slice_eq_lower(name, nl, "host"))
        return false;
    for (size_t k = 0; k < ct->count; k++)
        if (ct->n[k] == nl && strncasecmp(ct->t[k], name, nl) == 0)
            return true;
    return false;
}

static void put_header(wr_buf_t *w, const gw_hdrs_t *hs, size_t i) {
    wr_buf_put(w, hs->base + hs->h[i].name_off, hs->h[i].name_len);
    PUTS(w, ": ");
    wr_buf_put(w, hs->base + hs->h[i].value_off, hs->h[i].value_len);
    PUTS(w, "\r\n");
}

/* Appends "Name: v1, v2, ...<extra>" joining every incoming header of that name (if keep_incoming),
 * then extra (if any). Writes nothing when both are empty. */
static void put_joined(wr_buf_t *w, const gw_hdrs_t *hs, const char *lower, const char *display,
                       bool keep_incoming, const char *extra) {
    bool any = false;
    if (keep_incoming) {
        for (size_t i = 0; i < hs->n; i++) {
            if (!gw_hdr_name_is(hs, i, lower) || hs->h[i].value_len == 0)
                continue;
            if (!any) {
                wr_buf_put(w, display, strlen(display));
                PUTS(w, ": ");
            } else {
                PUTS(w, ", ");
            }
            wr_buf_put(w, hs->base + hs->h[i].value_off, hs->h[i].value_len);
            any = true;
        }
    }
    if (extra && extra[0]) {
        if (!any) {
            wr_buf_put(w, display, strlen(display));
            PUTS(w, ": ");
        } else {
            PUTS(w, ", ");
        }
        wr_buf_put(w, extra, strlen(extra));
        any = true;
    }
    if (any)
        PUTS(w, "\r\n");
}

long gw_build_request_head(const gw_hdrs_t *hs, const gw_req_line_t *r, char *out, size_t cap) {
    wr_buf_t w = wr_buf_init(out, cap);
    conn_tokens_t ct;
    connection_tokens(hs, &ct);
    wr_buf_put(&w, r->method, r->method_len);
    PUTS(&w, " ");
    wr_buf_put(&w, r->path, r->path_len);
    if (r->query)
        wr_buf_put(&w, r->query, r->query_len);
    PUTS(&w, " HTTP/1.1\r\n");
    long host = -1;
    for (size_t i = 0; i < hs->n; i++) {
        if (is_hop_by_hop(hs, i, &ct) || gw_hdr_name_is(hs, i, "expect") || gw_hdr_name_is(hs, i, "via") ||
            gw_hdr_name_is(hs, i, "x-forwarded-for") || gw_hdr_name_is(hs, i, "x-forwarded-proto") ||
            gw_hdr_name_is(hs, i, "x-forwarded-host") || gw_hdr_name_is(hs, i, "waitroom-pass") ||
            memchr(hs->base + hs->h[i].name_off, '_', hs->h[i].name_len))
            continue; /* names with '_': CGI-style origins read them as '-' (Waitroom_Pass), as nginx drops */
        if (host < 0 && gw_hdr_name_is(hs, i, "host"))
            host = (long)i;
        put_header(&w, hs, i);
    }
    if (r->chunked)
        PUTS(&w, "Transfer-Encoding: chunked\r\n");
    put_joined(&w, hs, "via", "Via", true, GW_VIA_TOKEN);
    put_joined(&w, hs, "x-forwarded-for", "X-Forwarded-For", r->trust_forwarded, r->client_ip);
    if (r->trust_forwarded && gw_hdr_find(hs, "x-forwarded-proto") >= 0)
        put_joined(&w, hs, "x-forwarded-proto", "X-Forwarded-Proto", true, NULL);
    else
        PUTS(&w, "X-Forwarded-Proto: http\r\n");
    if (r->trust_forwarded && gw_hdr_find(hs, "x-forwarded-host") >= 0) {
        put_joined(&w, hs, "x-forwarded-host", "X-Forwarded-Host", true, NULL);
    } else if (host >= 0) {
        PUTS(&w, "X-Forwarded-Host: ");
        wr_buf_put(&w, hs->base + hs->h[host].value_off, hs->h[host].value_len);
        PUTS(&w, "\r\n");
    }
    if (r->extra)
        wr_buf_put(&w, r->extra, r->extra_len);
    PUTS(&w, "\r\n");
    return wr_buf_result(&w);
}

long gw_build_response_head(const gw_hdrs_t *hs, const gw_status_line_t *s, char *out, size_t cap) {
    wr_buf_t w = wr_buf_init(out, cap);
    conn_tokens_t ct;
    connection_tokens(hs, &ct);
    char sl[16];
    int n = snprintf(sl, sizeof sl, "HTTP/1.1 %03d ", s->status);
    wr_buf_put(&w, sl, (size_t)n);
    wr_buf_put(&w, s->reason, s->reason_len);
    PUTS(&w, "\r\n");
    for (size_t i = 0; i < hs->n; i++) {
        /* The body is relayed with the origin's own framing, so its Transfer-Encoding stays unless we
         * re-frame. */
        if (gw_hdr_name_is(hs, i, "transfer-encoding")) {
            if (!s->drop_framing)
                put_header(&w, hs, i);
            continue;
        }
        if (is_hop_by_hop(hs, i, &ct) || gw_hdr_name_is(hs, i, "via") ||
            gw_hdr_name_is(hs, i, "waitroom-release") || gw_hdr_name_is(hs, i, "waitroom-inventory"))
            continue;
        put_header(&w, hs, i);
    }
    if (s->extra)
        wr_buf_puts(&w, s->extra);
    put_joined(&w, hs, "via", "Via", true, GW_VIA_TOKEN);
    if (!s->keep_alive)
        PUTS(&w, "Connection: close\r\n");
    else if (s->client_http10)
        PUTS(&w, "Connection: keep-alive\r\n");
    PUTS(&w, "\r\n");
    return wr_buf_result(&w);
}

int gw_hdr_on_field(gw_hdr_t *hdrs, uint16_t *n, uint16_t max, unsigned *in_value, uint32_t off, size_t len) {
    if (*n == 0 || *in_value) {
        if (*n == max)
            return -2;
        gw_hdr_t *h = &hdrs[(*n)++];
        h->name_off = off;
        h->name_len = (uint32_t)len;
        h->value_off = off;
        h->value_len = 0;
        *in_value = 0;
        return 0;
    }
    gw_hdr_t *h = &hdrs[*n - 1];
    if (off != h->name_off + h->name_len)
        return -1;
    h->name_len += (uint32_t)len;
    return 0;
}

int gw_hdr_on_value(gw_hdr_t *hdrs, uint16_t n, unsigned *in_value, uint32_t off, size_t len) {
    if (n == 0)
        return -1;
    gw_hdr_t *h = &hdrs[n - 1];
    if (!*in_value) {
        *in_value = 1;
        h->value_off = off;
        h->value_len = (uint32_t)len;
        return 0;
    }
    if (off != h->value_off + h->value_len)
        return -1; /* obs-fold: a continuation line */
    h->value_len += (uint32_t)len;
    return 0;
}

void gw_hdr_trim_values(const char *base, gw_hdr_t *hdrs, size_t n) {
    for (size_t i = 0; i < n; i++)
        while (hdrs[i].value_len && (base[hdrs[i].value_off + hdrs[i].value_len - 1] == ' ' ||
                                     base[hdrs[i].value_off + hdrs[i].value_len - 1] == '\t'))
            hdrs[i].value_len--;
}
