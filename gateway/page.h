/* The gateway's own pages under /__waitroom/ on the public port: for now the status JSON
 * (GET /__waitroom/status[?room=NAME]) for a visitor without a place, which tells the room's state
 * and creates no place. Anything else under /__waitroom/ is a 404 here, never the origin's. */
#ifndef GW_PAGE_H
#define GW_PAGE_H

#include "gateway/worker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_PAGE_PREFIX "/__waitroom/"
#define GW_POLL_AFTER_MS 2000

/* Handles the request if its (normalised) path is one of ours; returns whether it did. */
bool gw_page_handle(gw_conn_t *c, const gw_hdrs_t *hs, const char *path, size_t path_len, const char *query,
                    size_t query_len, uint8_t method);

/* The value of parameter `name` in a query string ("?a=1&room=x"), or NULL. */
const char *gw_query_param(const char *query, size_t query_len, const char *name, size_t *value_len);

#endif
