/* Creation of secret files. O_EXCL makes concurrent first starts (several gateways sharing a
 * directory) safe: one creates the file, the others find it. */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wr_secret_ensure(const char *path, wr_secret_kind_t kind, bool *created, char *err, size_t err_size) {
    *created = false;
    if (access(path, F_OK) == 0)
        return 0;
    if (sodium_init() < 0) {
        snprintf(err, err_size, "%s: libsodium failed to initialise", path);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, err_size, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    unsigned char key[32];
    char hex[65], text[256];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    int n;
    if (kind == WR_SECRET_KEYS)
        n = snprintf(text, sizeof text,
                     "# Waitroom token keys: \"KEYID HEX-SECRET\", current key first, previous key second.\n"
                     "# To rotate: add a new first line with a new id, keep the old one second, restart.\n"
                     "1 %s\n",
                     hex);
    else
        n = snprintf(text, sizeof text, "%s\n", hex);
    sodium_memzero(hex, sizeof hex);
    ssize_t w = write(fd, text, (size_t)n);
    sodium_memzero(text, sizeof text);
    if (w != n || fsync(fd) < 0) {
        snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    *created = true;
    return 0;
}
