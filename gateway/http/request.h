/* The checks a request head must pass before anything acts on it (RFC 9110, RFC 9112): one Host,
 * a target in origin-, absolute- or asterisk-form whose authority agrees with Host, a path that
 * normalises, framing by Content-Length or "chunked" alone (never Transfer-Encoding in HTTP/1.0, never
 * a framing field named in Connection or spelled with '_' or a doubled '-'), no empty field name, a
 * body within max_body_bytes, and only "100-continue" as an expectation. Pure: the parsed head in, the
 * refusal status or the request's routing facts out. Called by conn.c once llhttp has the head; unit-tested
 * in tests/unit. */
#ifndef GW_HTTP_REQUEST_H
#define GW_HTTP_REQUEST_H

#include "config/config.h"
#include "gateway/http/headers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What llhttp made of the head. */
typedef struct {
    uint8_t method; /* llhttp_method_t */
    uint8_t http_major, http_minor;
    bool chunked;            /* Transfer-Encoding: chunked framing (llhttp's F_CHUNKED) */
    bool has_content_length; /* llhttp's F_CONTENT_LENGTH */
    uint64_t content_length;
    const char *url; /* the request target as sent */
    size_t url_len;
    gw_hdrs_t hs;
    size_t head_bytes; /* request line and header fields, in bytes */
} gw_request_in_t;

/* The request as the rest of the gateway sees it. Slices point into the input or into norm. */
typedef struct {
    bool http10;
    bool is_head;
    bool idempotent;
    bool has_body;
    bool expect_continue; /* the client waits for "100 Continue" before its body */
    const char *host;     /* Host, or the absolute-form authority; may be empty (HTTP/1.0) */
    size_t host_len;
    const char *path; /* norm */
    size_t path_len;
    const char *query; /* "?..." or NULL */
    size_t query_len;
} gw_request_t;

/* Checks the head; the normalised path goes to norm (norm_cap bytes: max_uri_bytes + 1). Returns 0, or
 * the status to refuse the request with (400, 405, 413, 417, 431, 501, 505). */
int gw_request_check(const wr_config_t *cfg, const gw_request_in_t *in, char *norm, size_t norm_cap,
                     gw_request_t *out);

#endif
