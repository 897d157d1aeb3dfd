/* Path normalisation (RFC 3986 section 6.2.2) with the stricter rules a security boundary needs:
 * anything whose meaning could differ between us and the origin (encoded separators, NUL, bad
 * escapes) is refused instead of guessed. Output is built in place in `out`, segment by segment;
 * ".." pops back to the previous "/" in the output. */
#include "common/path.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int wr_hexval(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Ends the segment that starts at out[seg] (just after its '/'), handling "." and "..".
 * Returns the new output length. */
static size_t close_segment(char *out, size_t o, size_t seg) {
    size_t n = o - seg;
    if (n == 1 && out[seg] == '.')
        return seg; /* drop "." , keep the slash before it */
    if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
        /* drop ".." and the segment before it; never above the root slash at out[0] */
        size_t p = seg - 1; /* index of the '/' before ".." */
        if (p == 0)
            return 1;
        size_t q = p - 1;
        while (q > 0 && out[q] != '/')
            q--;
        return q + 1;
    }
    return o;
}

long wr_path_normalize(const char *in, size_t len, char *out, size_t out_size) {
    if (len == 0 || in[0] != '/' || out_size < len + 1)
        return -1;
    size_t o = 0;
    size_t seg = 0; /* start of the current segment in out */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int h = wr_hexval((unsigned char)in[i + 1]), l = wr_hexval((unsigned char)in[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            unsigned char d = (unsigned char)(h * 16 + l);
            i += 2;
            if (d == '/' || d == '\\' || d == 0)
                return -1;
            if (is_unreserved(d)) {
                out[o++] = (char)d;
            } else {
                static const char hex[] = "0123456789ABCDEF";
                out[o++] = '%';
                out[o++] = hex[d >> 4];
                out[o++] = hex[d & 15];
            }
            continue;
        }
        if (c < 0x21 || c == 0x7f || c == '\\' || c == '#' || c == '?')
            return -1;
        if (c == '/') {
            if (o > 0) {
                o = close_segment(out, o, seg);
                if (out[o - 1] == '/') { /* empty segment or dot segment removed: merge slashes */
                    seg = o;
                    continue;
                }
            }
            out[o++] = '/';
            seg = o;
            continue;
        }
        out[o++] = (char)c;
    }
    o = close_segment(out, o, seg);
    out[o] = '\0';
    return (long)o;
}

/* Skips a segment's parameters (";..." up to the next '/'), from i at a ';'. */
static size_t skip_params(const char *path, size_t path_len, size_t i) {
    while (i < path_len && path[i] != '/')
        i++;
    return i;
}

bool wr_path_has_prefix(const char *path, size_t path_len, const char *prefix, size_t prefix_len,
                        bool case_sensitive) {
    if (prefix_len == 0)
        return false;
    size_t i = 0;
    for (size_t j = 0; j < prefix_len; j++) {
        if (i < path_len && path[i] == ';' && prefix[j] != ';')
            i = skip_params(path, path_len, i);
        if (i == path_len)
            return false;
        char a = path[i++], b = prefix[j];
        if (a != b && (case_sensitive || tolower((unsigned char)a) != tolower((unsigned char)b)))
            return false;
    }
    if (prefix[prefix_len - 1] == '/')
        return true;
    if (i < path_len && path[i] == ';')
        i = skip_params(path, path_len, i);
    return i == path_len || path[i] == '/';
}
