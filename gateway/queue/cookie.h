/* Cookies (RFC 6265) as the waiting room uses them: finding our cookies among the visitor's, and
 * writing Set-Cookie for the queue token (wr_q) and the pass (wr_p). Header values are hostile input:
 * parsing never allocates, never reads past the slice, and tolerates junk by skipping it. */
#ifndef GW_COOKIE_H
#define GW_COOKIE_H

#include "gateway/http/headers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Calls cb for each value of the cookie `name` in every Cookie header, in order, with surrounding
 * double quotes removed. Several values can arrive (a cookie set for a parent domain, or tossed by a
 * sibling subdomain): callers try each, so a bad one cannot hide a good one. Stops when cb returns
 * true; returns whether it did. */
bool gw_cookie_each(const gw_hdrs_t *hs, const char *name,
                    bool (*cb)(const char *value, size_t len, void *arg), void *arg);

/* Writes "Set-Cookie: NAME=VALUE; Path=/; Max-Age=N; HttpOnly; SameSite=Lax[; Secure]\r\n" into out.
 * max_age_s = 0 deletes the cookie. value must be cookie-safe (base64url tokens are). Returns the
 * length, or -1 if cap is too small or the value holds a byte a cookie cannot carry. */
long gw_cookie_set(char *out, size_t cap, const char *name, const char *value, size_t value_len,
                   int64_t max_age_s, bool secure);

#endif
