/* Request → room. A request is protected by a room when its host is one of the room's hosts (or the
 * room names none) and its normalised path lies under one of the room's prefixes but not under one of
 * its bypass prefixes. The most specific match wins: a room naming the host beats a room for any
 * host, then the longest prefix. Everything else passes through to the origin, except:
 *  - MISDIRECTED (421): [gateway] hosts is set and names no match for the Host; or the path lies under
 *    a prefix of a room that names hosts, and no room (nor [gateway] hosts) names this Host: a bare IP,
 *    an unknown name or a missing Host must not reach a protected path unqueued through the origin's
 *    default virtual host. [gateway] hosts = * lifts both. */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { GW_ROUTE_PASS = 0, GW_ROUTE_BYPASS, GW_ROUTE_PROTECTED, GW_ROUTE_MISDIRECTED } gw_route_kind_t;

typedef struct {
    gw_route_kind_t kind;
    const wr_room_cfg_t *room; /* the matching room, for PROTECTED and BYPASS */
} gw_route_t;

/* host: the Host header value (port and a trailing dot are ignored, case-insensitive), may be empty.
 * path: a path already normalised with wr_path_normalize. */
gw_route_t gw_route_match(const wr_config_t *cfg, const char *host, size_t host_len, const char *path,
                          size_t path_len);

#endif
