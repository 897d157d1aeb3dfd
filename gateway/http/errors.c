/* The gateway's own responses. Pages are short and say in plain words what happened and what to do,
 * since a buyer sees them at the worst moment of a sale. */
#include "gateway/http/internal.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int status;
    const char *reason;
    const char *text; /* what a person reads */
    char *resp;
    size_t len;
} canned_t;

static canned_t canned[] = {
    {400, "Bad Request", "The request could not be understood. Please check the address and try again.", 0,
     0},
    {403, "Forbidden", "This request is not allowed.", 0, 0},
    {404, "Not Found", "There is nothing at this address.", 0, 0},
    {405, "Method Not Allowed", "This method is not allowed here.", 0, 0},
    {408, "Request Timeout", "The request took too long to arrive. Please try again.", 0, 0},
    {413, "Content Too Large", "The request body is larger than this site accepts.", 0, 0},
    {417, "Expectation Failed", "This kind of Expect header is not supported.", 0, 0},
    {414, "URI Too Long", "The address is longer than this site accepts.", 0, 0},
    {421, "Misdirected Request", "This site is not served at this address. Please check the address.", 0, 0},
    {431, "Request Header Fields Too Large", "The request headers are larger than this site accepts.", 0, 0},
    {500, "Internal Server Error", "Something went wrong on our side. Please try again in a moment.", 0, 0},
    {501, "Not Implemented", "This kind of request is not supported.", 0, 0},
    {502, "Bad Gateway", "The site is not answering right now. Please wait a moment and reload this page.", 0,
     0},
    {503, "Service Unavailable",
     "The site is very busy right now. Please wait a moment and reload this page.", 0, 0},
    {504, "Gateway Timeout", "The site took too long to answer. Please wait a moment and reload this page.",
     0, 0},
    {505, "HTTP Version Not Supported", "This HTTP version is not supported.", 0, 0},
};

#define NCANNED (sizeof canned / sizeof canned[0])

static char storage[NCANNED][1024];

void gw_http_init(void) {
    for (size_t i = 0; i < NCANNED; i++) {
        canned_t *c = &canned[i];
        char body[640];
        int bl = snprintf(body, sizeof body,
                          "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
                          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                          "<title>%d %s</title><body style=\"font-family:sans-serif;max-width:36em;"
                          "margin:3em auto;padding:0 1em\"><h1>%s</h1><p>%s</p></body></html>\n",
                          c->status, c->reason, c->reason, c->text);
        int n = snprintf(storage[i], sizeof storage[i],
                         "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
                         "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n%s",
                         c->status, c->reason, bl, c->status == 503 ? "Retry-After: 5\r\n" : "", body);
        c->resp = storage[i];
        c->len = (size_t)n;
    }
}

const char *gw_http_error(int status, size_t *len) {
    canned_t *fallback = NULL;
    for (size_t i = 0; i < NCANNED; i++) {
        if (canned[i].status == status) {
            *len = canned[i].len;
            return canned[i].resp;
        }
        if (canned[i].status == 500)
            fallback = &canned[i];
    }
    *len = fallback->len;
    return fallback->resp;
}

const char *gw_http_reason(int status) {
    for (size_t i = 0; i < NCANNED; i++)
        if (canned[i].status == status)
            return canned[i].reason;
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    default:
        return "Unknown";
    }
}
