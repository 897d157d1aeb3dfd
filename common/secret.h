/* Secret files (token keys, admin token): created on first start with fresh randomness from
 * libsodium, mode 0600, never overwritten. Secrets never come from the command line. */
#ifndef WR_SECRET_H
#define WR_SECRET_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    WR_SECRET_KEYS,  /* "KEYID HEX" lines, newest first: the token MAC keys */
    WR_SECRET_TOKEN, /* one hex line: the admin bearer token */
} wr_secret_kind_t;

/* Writes text to path and fsyncs it. replace = false: only if path does not exist, all at once (a
 * temporary file linked into place); returns 1 if it existed (left as it is). replace = true: the file
 * is replaced at once (a temporary file renamed over it). Returns 0, 1, or -1 with err. */
int wr_file_put(const char *path, const char *text, unsigned mode, bool replace, char *err, size_t err_size);

/* Creates path if it does not exist. *created tells whether it did. Returns 0, or -1 with err set. */
int wr_secret_ensure(const char *path, wr_secret_kind_t kind, bool *created, char *err, size_t err_size);

#endif
