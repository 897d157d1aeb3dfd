/* Header rewriting between client and origin (RFC 9110 section 7.6): hop-by-hop headers, and any header
 * the Connection header names, are dropped; Via and X-Forwarded-For/-Proto/-Host are added (trusting
 * incoming X-Forwarded-* only when configured). h2c upgrade headers are never forwarded.
 * Pure functions over headers stored as offsets into one buffer (the connection's read buffer). */
#ifndef GW_HEADERS_H
#define GW_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_VIA_TOKEN "1.1 waitroom"

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
} gw_hdr_t;

typedef struct {
    const char *base; /* the buffer offsets refer to */
    const gw_hdr_t *h;
    size_t n;
} gw_hdrs_t;

typedef struct {
    const char *method;
    size_t method_len;
    const char *path; /* normalised path, as routed */
    size_t path_len;
    const char *query; /* "?..." or NULL */
    size_t query_len;
    const char *client_ip;
    bool trust_forwarded;
    bool chunked;      /* request body is chunked and forwarded as such */
    const char *extra; /* complete header lines to add ("Name: value\r\n"...), or NULL */
    size_t extra_len;
} gw_req_line_t;

typedef struct {
    int status;
    const char *reason;
    size_t reason_len;
    bool keep_alive;    /* what we promise the client */
    bool client_http10; /* client spoke HTTP/1.0: say keep-alive explicitly */
    bool drop_framing;  /* we re-frame the body (de-chunk for HTTP/1.0): drop Transfer-Encoding */
    const char *extra;  /* complete header lines to add ("Name: value\r\n"...), or NULL */
} gw_status_line_t;

/* Case-insensitive comparison of a header name slice with a lower-case literal. */
bool gw_hdr_name_is(const gw_hdrs_t *hs, size_t i, const char *lower);
/* Index of the first header with that name, or -1. */
long gw_hdr_find(const gw_hdrs_t *hs, const char *lower);
/* True if the comma-separated value of header i contains token (case-insensitive). */
bool gw_hdr_has_token(const gw_hdrs_t *hs, size_t i, const char *lower);

/* Writes the request head for the origin into out. Returns its length, or -1 if cap is too small.
 * A client's Waitroom-Pass header never reaches the origin (only the gateway's own, in extra), nor
 * does any field whose name holds '_' (nginx's default: CGI-style origins read '_' as '-'). A
 * Connection option never drops Content-Length or Host (request.c refuses such requests; on a
 * response the framing is kept). */
long gw_build_request_head(const gw_hdrs_t *hs, const gw_req_line_t *r, char *out, size_t cap);

/* Writes the response head for the client into out. Returns its length, or -1 if cap is too small.
 * The origin's Waitroom-* headers are for the gateway and never reach the client. */
long gw_build_response_head(const gw_hdrs_t *hs, const gw_status_line_t *s, char *out, size_t cap);

/* Parser-callback helpers shared by the client and origin sides: header names and values arrive as
 * pieces at offsets into one growing buffer. A name or value continues only if the next piece is
 * contiguous; a second value piece after a gap is an obs-fold line, which we refuse (-1).
 * *in_value tells whether the last piece was a value. Returns 0, or -1 (too many headers: -2). */
int gw_hdr_on_field(gw_hdr_t *hdrs, uint16_t *n, uint16_t max, unsigned *in_value, uint32_t off, size_t len);
int gw_hdr_on_value(gw_hdr_t *hdrs, uint16_t n, unsigned *in_value, uint32_t off, size_t len);
/* Drops trailing spaces and tabs of every value (llhttp keeps them). */
void gw_hdr_trim_values(const char *base, gw_hdr_t *hdrs, size_t n);

#endif
