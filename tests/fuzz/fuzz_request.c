/* Fuzz target: a request head as the gateway reads it: llhttp (strict) with the gateway's header
 * callbacks, then path normalisation and the rewritten head for the origin. Checks the invariants the
 * proxy relies on: offsets stay inside the input, the normalised path is never longer than the raw one
 * and is accepted again unchanged, and the rewritten head never carries hop-by-hop headers. */
#include "common/path.h"
#include "gateway/queue/cookie.h"
#include "gateway/http/headers.h"

#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *base;
    gw_hdr_t hdrs[64];
    uint16_t n;
    unsigned in_value;
    uint32_t url_off, url_len;
    int bad;
} st_t;

static int on_url(llhttp_t *p, const char *at, size_t len) {
    st_t *s = p->data;
    if (!s->url_len)
        s->url_off = (uint32_t)(at - s->base);
    s->url_len = (uint32_t)(at - s->base) + (uint32_t)len - s->url_off;
    return 0;
}
static int on_field(llhttp_t *p, const char *at, size_t len) {
    st_t *s = p->data;
    return gw_hdr_on_field(s->hdrs, &s->n, 64, &s->in_value, (uint32_t)(at - s->base), len) < 0 ? -1 : 0;
}
static int on_value(llhttp_t *p, const char *at, size_t len) {
    st_t *s = p->data;
    return gw_hdr_on_value(s->hdrs, s->n, &s->in_value, (uint32_t)(at - s->base), len) < 0 ? -1 : 0;
}
static int on_headers_complete(llhttp_t *p) {
    (void)p;
    return HPE_PAUSED;
}

static size_t input_size;

/* every cookie value handed out must lie inside the input */
static bool in_bounds(const char *v, size_t len, void *arg) {
    const gw_hdrs_t *hs = arg;
    if (v < hs->base || v + len > hs->base + input_size)
        abort();
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_size = size;
    llhttp_settings_t set;
    llhttp_settings_init(&set);
    set.on_url = on_url;
    set.on_header_field = on_field;
    set.on_header_value = on_value;
    set.on_headers_complete = on_headers_complete;
    st_t s = {.base = (const char *)data};
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &set);
    p.data = &s;
    if (llhttp_execute(&p, (const char *)data, size) != HPE_PAUSED)
        return 0;
    for (uint16_t i = 0; i < s.n; i++)
        if ((size_t)s.hdrs[i].name_off + s.hdrs[i].name_len > size ||
            (size_t)s.hdrs[i].value_off + s.hdrs[i].value_len > size)
            abort();
    if ((size_t)s.url_off + s.url_len > size)
        abort();
    gw_hdr_trim_values(s.base, s.hdrs, s.n);
    gw_hdrs_t ch = {s.base, s.hdrs, s.n};
    gw_cookie_each(&ch, "wr_q", in_bounds, (void *)&ch);
    const char *url = s.base + s.url_off;
    size_t pl = s.url_len;
    const char *q = memchr(url, '?', pl);
    if (q)
        pl = (size_t)(q - url);
    char norm[4096], again[4096];
    if (pl >= sizeof norm)
        return 0;
    long nl = wr_path_normalize(url, pl, norm, sizeof norm);
    if (nl < 0)
        return 0;
    if ((size_t)nl > pl)
        abort();
    long n2 = wr_path_normalize(norm, (size_t)nl, again, sizeof again);
    if (n2 != nl || memcmp(norm, again, (size_t)nl) != 0)
        abort(); /* normalising twice must change nothing */
    gw_hdrs_t hs = {s.base, s.hdrs, s.n};
    gw_req_line_t rl = {.method = "GET",
                        .method_len = 3,
                        .path = norm,
                        .path_len = (size_t)nl,
                        .query = q,
                        .query_len = q ? s.url_len - pl : 0,
                        .client_ip = "192.0.2.1"};
    static char out[16384];
    long ol = gw_build_request_head(&hs, &rl, out, sizeof out);
    if (ol < 0)
        return 0;
    out[ol] = '\0';
    /* no hop-by-hop header at the start of a line of the rewritten head */
    static const char *const banned[] = {
        "\nconnection:", "\nupgrade:",          "\nhttp2-settings:", "\nkeep-alive:",
        "\nte:",         "\nproxy-connection:", "\nexpect:"};
    for (char *c = out; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        if (strstr(out, banned[i]))
            abort();
    return 0;
}
