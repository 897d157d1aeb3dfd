/* Structured logging: one logfmt line per event on stderr, with a level.
 * Callers pass key=value pairs already formatted; values from the network must go through
 * wr_log_quote so a hostile header cannot forge log fields or lines. Thread-safe: each line is
 * written with a single write(2). Never log a secret or a whole token. */
#ifndef WR_LOG_H
#define WR_LOG_H

#include <stddef.h>

typedef enum { WR_LOG_DEBUG = 0, WR_LOG_INFO, WR_LOG_WARN, WR_LOG_ERROR } wr_log_level_t;

extern wr_log_level_t wr_log_min_level;

/* Returns 0 and sets *out for "debug|info|warn|error", else -1. */
int wr_log_parse_level(const char *s, wr_log_level_t *out);

/* Writes `ts=... level=... msg="<msg>" <fmt...>`. */
void wr_log(wr_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies src (len bytes) into dst as a logfmt-safe quoted value, truncated to fit dst_size. */
void wr_log_quote(char *dst, size_t dst_size, const char *src, size_t len);

#define WR_DEBUG(msg, ...)                                                                                   \
    do {                                                                                                     \
        if (wr_log_min_level <= WR_LOG_DEBUG)                                                                \
            wr_log(WR_LOG_DEBUG, msg, __VA_ARGS__);                                                          \
    } while (0)
#define WR_INFO(msg, ...) wr_log(WR_LOG_INFO, msg, __VA_ARGS__)
#define WR_WARN(msg, ...) wr_log(WR_LOG_WARN, msg, __VA_ARGS__)
#define WR_ERROR(msg, ...) wr_log(WR_LOG_ERROR, msg, __VA_ARGS__)

#endif
