/* A bounded writer over a caller's buffer: appends never overflow; the first append that does not fit
 * marks the writer failed and every later one is ignored, so callers check once at the end.
 * Header-only: used on hot paths (response heads, status JSON) and in tests that link no library. */
#ifndef WR_BUF_H
#define WR_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    char *p;
    size_t cap, len;
    bool failed;
} wr_buf_t;

static inline wr_buf_t wr_buf_init(char *p, size_t cap) {
    wr_buf_t b = {p, cap, 0, false};
    return b;
}

static inline void wr_buf_put(wr_buf_t *b, const char *s, size_t n) {
    if (b->failed || n > b->cap - b->len) {
        b->failed = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void wr_buf_puts(wr_buf_t *b, const char *s) {
    wr_buf_put(b, s, strlen(s));
}

/* Decimal digits of v, without printf (hot paths write several numbers per response). */
static inline void wr_buf_u64(wr_buf_t *b, unsigned long long v) {
    char t[20];
    size_t n = 0;
    do {
        t[sizeof t - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wr_buf_put(b, t + sizeof t - n, n);
}

/* length of what was written, or -1 if anything did not fit */
static inline long wr_buf_result(const wr_buf_t *b) {
    return b->failed ? -1 : (long)b->len;
}

#endif
