/* Creation of secret files: written whole under a temporary name, then linked into place, so that
 * concurrent first starts (several gateways sharing a directory) see no file or the whole file: one
 * creates it, the others find it; a crash leaves no empty secret behind. */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wr_file_put(const char *path, const char *text, unsigned mode, bool replace, char *err, size_t err_size) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, err_size, "%s: path too long", path);
        return -1;
    }
    unlink(tmp); /* a leftover of a crashed start with our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_EXCL, (mode_t)mode);
    if (fd < 0) {
        snprintf(err, err_size, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    if (w < 0 || (size_t)w != n || fsync(fd) < 0) {
        snprintf(err, err_size, "%s: cannot write: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (replace) { /* readers see the old file or the new one, never half of one */
        if (rename(tmp, path) == 0)
            return 0;
        snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    int rc = link(tmp, path), e = errno;
    unlink(tmp);
    if (rc == 0)
        return 0;
    if (e == EEXIST) /* another process made it a moment ago: theirs stands */
        return 1;
    snprintf(err, err_size, "%s: cannot create: %s", path, strerror(e));
    return -1;
}

int wr_secret_ensure(const char *path, wr_secret_kind_t kind, bool *created, char *err, size_t err_size) {
    *created = false;
    if (access(path, F_OK) == 0)
        return 0;
    if (sodium_init() < 0) {
        snprintf(err, err_size, "%s: libsodium failed to initialise", path);
        return -1;
    }
    unsigned char key[32];
    char hex[65], text[256];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    if (kind == WR_SECRET_KEYS)
        snprintf(text, sizeof text,
                 "# Waitroom token keys: \"KEYID HEX-SECRET\", current key first, previous key second.\n"
                 "# To rotate: add a new first line with a new id, keep the old one second, restart.\n"
                 "1 %s\n",
                 hex);
    else
        snprintf(text, sizeof text, "%s\n", hex);
    sodium_memzero(hex, sizeof hex);
    int rc = wr_file_put(path, text, 0600, false, err, err_size);
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        return -1;
    *created = rc == 0;
    return 0;
}
