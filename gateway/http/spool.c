/* Response spooling: what the origin sent and a slow client has not taken yet goes to an unlinked
 * temporary file, so the origin connection goes back to the pool as soon as the origin has finished,
 * not when the client has (nginx's proxy_buffering with its temp files, for the same reason: a few
 * thousand clients that never read must not hold every pooled origin connection).
 *
 * The relay writes to the client's socket directly; only what the socket does not take at once goes
 * to the file, and while the file holds bytes the client has not been handed, everything after them
 * goes there too, in order. Once the client has caught up the file is emptied and relaying is direct
 * again; when the origin has sent everything, its connection goes back to the pool and the client
 * is fed from the file to the end.
 *
 * Bounds: [origin] spool_max_bytes held for one response ahead of its client, spool_total_bytes for
 * the whole process. Beyond them the response waits as before (back-pressure on the origin
 * connection); bytes the client has taken are given back as it goes (holes punched in the file).
 * File I/O is synchronous, as nginx's temp files are: the writes land in the page cache. */
#include "common/log.h"
#include "gateway/http/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define GW_SPOOL_CHUNK 16384
#define GW_SPOOL_RELEASE (1u << 20) /* give bytes back once this many were taken */

struct gw_spool {
    int fd;
    bool final;        /* the whole response is in the file */
    uint64_t written;  /* bytes in the file */
    uint64_t sent;     /* bytes handed to the client */
    uint64_t released; /* bytes at the start of the file given back (a hole) */
    char buf[GW_SPOOL_CHUNK];
};

static _Atomic uint64_t spool_total; /* bytes held by every spool of the process */

static const char *spool_dir(const wr_config_t *cfg) {
    if (cfg->spool_dir)
        return cfg->spool_dir;
    const char *t = getenv("TMPDIR");
    return t && t[0] ? t : "/tmp";
}

static int spool_file(const char *dir) {
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
#endif
    char path[4096];
    if (snprintf(path, sizeof path, "%s/wr-spool.XXXXXX", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd2 = mkostemp(path, O_CLOEXEC);
    if (fd2 >= 0)
        unlink(path);
    return fd2;
}

int gw_spool_check(const wr_config_t *cfg) {
    if (!cfg->spool_max_bytes || !cfg->spool_total_bytes)
        return 0;
    int fd = spool_file(spool_dir(cfg));
    if (fd < 0) {
        WR_ERROR("cannot make response spool files",
                 "dir=%s error=\"%s\" (set [origin] spool_dir, or "
                 "spool_max_bytes = 0 to turn spooling off)",
                 spool_dir(cfg), strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

gw_spool_t *gw_spool_open(gw_worker_t *w) {
    const wr_config_t *cfg = w->cfg;
    if (!cfg->spool_max_bytes ||
        atomic_load_explicit(&spool_total, memory_order_relaxed) >= cfg->spool_total_bytes)
        return NULL;
    gw_spool_t *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->fd = spool_file(spool_dir(cfg));
    if (s->fd < 0) {
        WR_WARN("cannot make a response spool file", "worker=%d dir=%s error=\"%s\"", w->id, spool_dir(cfg),
                strerror(errno));
        free(s);
        return NULL;
    }
    s->final = false;
    s->written = s->sent = s->released = 0;
    GW_INC(&w->metrics, spooled_responses);
    return s;
}

static void give_back(gw_worker_t *w, uint64_t n) {
    atomic_fetch_sub_explicit(&spool_total, n, memory_order_relaxed);
    GW_SUB(&w->metrics, spool_bytes, n);
}

int gw_spool_append(gw_worker_t *w, gw_spool_t *s, const uv_buf_t *bufs, unsigned n, size_t skip) {
    const wr_config_t *cfg = w->cfg;
    struct iovec iov[4];
    unsigned k = 0;
    size_t len = 0;
    for (unsigned i = 0; i < n && k < 4; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        iov[k].iov_base = bufs[i].base + skip;
        iov[k].iov_len = bufs[i].len - skip;
        len += iov[k++].iov_len;
        skip = 0;
    }
    if (!len)
        return 0;
    if (s->written - s->released + len > cfg->spool_max_bytes)
        return 1;
    uint64_t before = atomic_fetch_add_explicit(&spool_total, len, memory_order_relaxed);
    if (before + len > cfg->spool_total_bytes) {
        atomic_fetch_sub_explicit(&spool_total, len, memory_order_relaxed);
        return 1;
    }
    GW_ADD(&w->metrics, spool_bytes, len);
    uint64_t at = s->written;
    unsigned i = 0;
    while (i < k) {
        ssize_t got = pwritev(s->fd, iov + i, (int)(k - i), (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            WR_WARN("response spool write failed", "worker=%d error=\"%s\"", w->id,
                    got < 0 ? strerror(errno) : "no progress");
            give_back(w, len);
            return -1;
        }
        at += (uint64_t)got;
        while (i < k && (size_t)got >= iov[i].iov_len)
            got -= (ssize_t)iov[i++].iov_len;
        if (i < k) {
            iov[i].iov_base = (char *)iov[i].iov_base + got;
            iov[i].iov_len -= (size_t)got;
        }
    }
    s->written += len;
    return 0;
}

bool gw_spool_drained(const gw_spool_t *s) {
    return s->sent == s->written;
}

/* Bytes the client has taken are given back: all of them when it has caught up (the file is emptied),
 * else in whole pages once a megabyte has gathered. */
static void release(gw_worker_t *w, gw_spool_t *s) {
    if (s->sent == s->written) {
        if (ftruncate(s->fd, 0) == 0) {
            give_back(w, s->written - s->released);
            s->written = s->sent = s->released = 0;
        }
        return;
    }
    uint64_t upto = s->sent & ~(uint64_t)4095;
    if (upto < s->released + GW_SPOOL_RELEASE)
        return;
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s->released,
                  (off_t)(upto - s->released)) == 0) {
        give_back(w, upto - s->released);
        s->released = upto;
    }
}

void gw_spool_close(gw_worker_t *w, gw_spool_t *s) {
    give_back(w, s->written - s->released);
    close(s->fd);
    free(s);
}

void gw_spool_finish(gw_spool_t *s) {
    s->final = true;
}

void gw_spool_pump(gw_conn_t *c) {
    gw_worker_t *w = c->w;
    gw_spool_t *s = c->spool;
    while (s && !c->writing && c->phase == GW_C_FORWARD) {
        if (s->sent == s->written) {
            if (s->final) {
                c->spool = NULL;
                gw_spool_close(w, s);
                gw_conn_response_done(c);
            }
            return; /* not final: the client caught up, relaying is direct again (the file is kept,
                     * empty, for the rest of this response) */
        }
        uint64_t left = s->written - s->sent;
        ssize_t n = pread(s->fd, s->buf, left < sizeof s->buf ? (size_t)left : sizeof s->buf, (off_t)s->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            WR_WARN("response spool read failed", "worker=%d error=\"%s\"", w->id,
                    n < 0 ? strerror(errno) : "short file");
            gw_conn_abort(c);
            return;
        }
        s->sent += (uint64_t)n;
        uv_buf_t b = uv_buf_init(s->buf, (unsigned)n);
        if (gw_conn_write(c, &b, 1) < 0) {
            gw_conn_abort(c);
            return;
        }
        release(w, s);
    }
}
