/* Canned HTTP responses the gateway sends on its own behalf (errors, 100 Continue). They are built
 * once at start-up and never change, so a connection can write them without copying. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

void gw_http_init(void);

/* A complete "Connection: close" response with a short human HTML page for status (400, 403, 404,
 * 405, 408, 413, 414, 417, 431, 500, 501, 502, 503, 504, 505). Unknown codes give the 500 page. */
const char *gw_http_error(int status, size_t *len);

const char *gw_http_reason(int status);

#define GW_HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

#endif
