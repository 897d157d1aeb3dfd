/* Cookie header parsing: "a=b; c=d" pairs separated by ';', optional whitespace, values optionally
 * in double quotes. Pairs without '=' are skipped, as browsers do. */
#include "gateway/queue/cookie.h"

#include <stdio.h>
#include <string.h>

static bool cookie_octet(unsigned char c) {
    /* RFC 6265 cookie-octet: visible ASCII except DQUOTE, comma, semicolon, backslash */
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

bool gw_cookie_each(const gw_hdrs_t *hs, const char *name,
                    bool (*cb)(const char *value, size_t len, void *arg), void *arg) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < hs->n; i++) {
        if (!gw_hdr_name_is(hs, i, "cookie"))
            continue;
        const char *v = hs->base + hs->h[i].value_off;
        size_t n = hs->h[i].value_len, p = 0;
        while (p < n) {
            size_t end = p;
            while (end < n && v[end] != ';')
                end++;
            size_t a = p, b = end;
            while (a < b && (v[a] == ' ' || v[a] == '\t'))
                a++;
            while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
                b--;
            const char *eq = memchr(v + a, '=', b - a);
            if (eq && (size_t)(eq - (v + a)) == nl && memcmp(v + a, name, nl) == 0) {
                const char *val = eq + 1;
                size_t vl = (size_t)(v + b - val);
                if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
                    val++;
                    vl -= 2;
                }
                if (cb(val, vl, arg))
                    return true;
            }
            p = end + 1;
        }
    }
    return false;
}

long gw_cookie_set(char *out, size_t cap, const char *name, const char *value, size_t value_len,
                   int64_t max_age_s, bool secure) {
    for (size_t i = 0; i < value_len; i++)
        if (!cookie_octet((unsigned char)value[i]))
            return -1;
    int n =
        snprintf(out, cap, "Set-Cookie: %s=%.*s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s\r\n", name,
                 (int)value_len, value, (long long)(max_age_s > 0 ? max_age_s : 0), secure ? "; Secure" : "");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return n;
}
