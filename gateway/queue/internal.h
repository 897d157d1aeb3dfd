/* For the files of gateway/queue/ only: the per-worker queue (gw_queue_t), the per-request state that
 * lives in the request's block (gw_qreq_t, hooks->state_bytes), and the calls between the queue's
 * files. The proxy below is reached only through gateway/http/http.h.
 *
 * The decisions on a protected path (decide.c, applied by gate.c):
 *   valid pass (wr_p) for the room                 → proxied, no Redis
 *   valid queue token (wr_q), boundary not reached → waiting answer from the cached view, no Redis
 *   valid queue token, boundary reached            → claim (one Redis call): a pass, then the page
 *   no valid token                                 → join (one Redis call): a token and a place
 * A Redis call in flight is a gw_qcall_t (from a per-worker free list) pointing at its request; if the
 * client goes away first (on_end), the call is orphaned and its answer dropped (the place it took
 * stays in the queue and is skipped as abandoned). */
#ifndef GW_QUEUE_INTERNAL_H
#define GW_QUEUE_INTERNAL_H

#include "common/passsig.h"
#include "common/ratelimit.h"
#include "common/token.h"
#include "gateway/http/http.h"
#include "gateway/queue/queue.h"
#include "gateway/queue/room.h"

#include <stdbool.h>
#include <stdint.h>

#define GW_PAGE_PREFIX "/__waitroom/"
/* A queue token's max_until mark (token.h: 1 pre-queued, 2 the pre-queue was full): its place had its
 * session (set with the pass at the claim). Should Redis lose the room, the place stays spent. */
#define GW_TOKEN_HAD_SESSION 3
#define GW_POLL_AFTER_MS 2000

/* Several rooms may share a host, and so the wr_q and wr_p cookies: one cookie holds one token per
 * room, joined by '.' (not a base64url character). A jar is the other rooms' tokens a request came
 * with, put back beside the one being set. */
#define GW_JAR_TOKENS 8
#define GW_JAR_BYTES (GW_JAR_TOKENS * (WR_TOKEN_TEXT_BYTES + 1))
typedef struct {
    char text[GW_JAR_BYTES];
    uint16_t len;
    int64_t max_expires; /* latest expiry among them: the cookie must live that long */
} gw_jar_t;

/* Tokens this worker verified lately, so a visitor polling every few seconds costs a memcmp, not a
 * base64 decode and an HMAC. Entries match on the whole token text, room and type; expiry is checked
 * on every use. */
#define GW_TOKEN_CACHE_SLOTS 4096
typedef struct {
    const char *room; /* the room config's name pointer; NULL = empty slot */
    uint8_t type;
    char text[WR_TOKEN_TEXT_BYTES];
    wr_token_t tok;
} gw_token_cache_t;

/* The signed Waitroom-Pass header lines (common/passsig.h), one slot per visitor hash: a pass's value
 * changes only when it is renewed, so a session's requests sign once. */
#define GW_PASSSIG_CACHE_SLOTS 512
typedef struct {
    const char *room; /* NULL = empty */
    uint8_t visitor[16];
    uint64_t serial;
    int64_t expires;
    uint16_t len;
    char line[WR_PASSSIG_VALUE_MAX + 24]; /* "Waitroom-Pass: ...\r\n" */
} gw_passsig_cache_t;

/* A Redis call in flight for a request; req = NULL once the request is over. */
typedef struct gw_qcall {
    gw_queue_t *q;
    gw_req_t *req;
    struct gw_qcall *next_free;
} gw_qcall_t;
#define GW_QCALL_FREELIST_MAX 1024

enum { GW_OP_JOIN, GW_OP_CLAIM, GW_OP_LEAVE, GW_OP_PREJOIN, GW_OP_PRELEAVE };

/* One request's queue state, in the request's block. Reset at each on_request (gw_qreq_reset). */
typedef struct {
    gw_qcall_t *call;               /* a Redis call in flight for this request, or NULL */
    const wr_room_cfg_t *pass_room; /* the request came in with a valid pass for this room ... */
    wr_token_t pass;                /* ... this one (release, renewal, grace: session.c) */
    bool pass_completion;           /* ... and asks for one of the room's completion paths */
    bool secure;                    /* cookies set for this request get Secure ([gateway] cookie_secure) */
    bool prequeue_full;             /* the op's answer: the pre-queue was full */
    bool renewed; /* set_cookie holds the pass renewed for this request (Redis confirmed the session) */
    int64_t renew_end_s;
    int64_t renew_now_ms; /* the time sent with the renewal: the renewed pass's issue time */
    int token_reason;     /* why the last token lookup found none (WR_TOKEN_*), 0 = found or no cookie */
    gw_jar_t pass_jar;    /* other rooms' passes, when this request carried a pass (several rooms) */
    char set_cookie[GW_JAR_BYTES + 256]; /* a renewed or ended pass's Set-Cookie (session.c) */
    /* the Redis operation (gate.c) */
    gw_room_t *room;
    int kind; /* GW_OP_* */
    bool json;
    bool had_token;        /* the visitor came with a queue token (tok holds it) */
    gw_jar_t jar_q, jar_p; /* the other rooms' tokens in the visitor's cookies, kept when ours is set */
    wr_token_t tok;
    char redirect[1024]; /* the sanitised URL the buyer asked for */
    size_t redirect_len;
} gw_qreq_t;

struct gw_queue {
    int worker;
    const wr_config_t *cfg;
    const wr_keyring_t *keys;         /* token keys, read-only, shared by all workers */
    const uint8_t *pass_sk;           /* Waitroom-Pass signing key (shared, read-only), NULL = off */
    const struct gw_page_room *pages; /* waiting pages, one per room (waitpage.h), read-only, shared */
    uv_loop_t *loop;
    gw_rooms_t rooms;
    bool has_rooms;                    /* rooms configured (kept while draining: see worker_drain) */
    gw_token_cache_t *token_cache;     /* [GW_TOKEN_CACHE_SLOTS] */
    gw_passsig_cache_t *passsig_cache; /* [GW_PASSSIG_CACHE_SLOTS] when pass_sk is set */
    gw_qcall_t *free_calls;
    uint32_t nfree_calls;
    wr_limit_t *join_ip, *join_all; /* the process's join limits (shared, thread-safe), NULL = off */
    gw_queue_metrics_t metrics;
};

static inline gw_qreq_t *gw_qreq(gw_req_t *req) {
    return req->state;
}

/* page.c: /__waitroom/ endpoints. Handles the request if its path is one of ours; returns whether. */
bool gw_page_handle(gw_queue_t *q, gw_req_t *req);
/* The value of parameter `name` in a query string ("?a=1&room=x"), or NULL. */
const char *gw_query_param(const char *query, size_t query_len, const char *name, size_t *value_len);

/* gate.c: the decision applied. Returns true when the gateway answers the request itself (now or
 * after a Redis call), false when it goes to the origin. target: the URL to come back to (NULL: "/"). */
bool gw_gate_request(gw_queue_t *q, gw_req_t *req, const wr_room_cfg_t *room, const char *target,
                     size_t target_len, bool status_endpoint);
/* The join limits ([gateway] join_limit_per_ip_per_minute, join_limit_per_minute) let one more new place
 * be made for this request; else the buyer got a 429 with Retry-After and false is returned. */
bool gw_gate_join_allowed(gw_queue_t *q, gw_req_t *req, gw_room_t *r, bool json);
/* POST /__waitroom/leave: frees the visitor's place at once (leave.lua) and deletes the cookie. */
void gw_gate_leave(gw_queue_t *q, gw_req_t *req, const wr_room_cfg_t *room, bool need_proof);
/* The request is over: a Redis call in flight for it finds nobody when it answers. */
void gw_gate_orphan(gw_qreq_t *st);
/* A call record for the request's Redis call (NULL: out of memory), and, in the reply's callback, the
 * request it was for (NULL if it is over; the record goes back to the free list either way). */
gw_qcall_t *gw_gate_call_new(gw_queue_t *q, gw_req_t *req);
gw_req_t *gw_gate_call_end(void *arg, gw_queue_t **q);

/* tokens.c: the visitor's tokens in their cookies, and the Set-Cookie lines for new ones. */
bool gw_tokens_find(gw_queue_t *q, gw_qreq_t *st, const gw_hdrs_t *hs, const char *room, wr_token_type_t type,
                    int64_t now_s, wr_token_t *out);
/* The other rooms' valid tokens in the request's cookie of this type (none in a one-room deployment). */
void gw_tokens_jar(gw_queue_t *q, const gw_hdrs_t *hs, wr_token_type_t type, const wr_room_cfg_t *room,
                   int64_t now_s, gw_jar_t *jar);
/* Set-Cookie for a token, beside the other rooms' ones (jar may be NULL); secure adds the attribute.
 * 0 or -1. */
int gw_tokens_cookie(gw_queue_t *q, const char *room, wr_token_t *t, const gw_jar_t *jar, char *hdr,
                     size_t cap, int64_t now_s, bool secure);
/* Set-Cookie taking this room's token out: the other rooms' stay; none left deletes the cookie. */
int gw_tokens_cookie_without(wr_token_type_t type, const gw_jar_t *jar, char *hdr, size_t cap, int64_t now_s,
                             bool secure);
/* The leave proof for a visitor: 16 hex characters a third-party page cannot know (a BLAKE2b of the
 * visitor id keyed with token key k: the id appears in the audit stream, the key never leaves). */
#define GW_LEAVE_PROOF_HEX 16
void gw_tokens_leave_proof(const wr_keyring_t *keys, int k, const uint8_t visitor[16],
                           char out[GW_LEAVE_PROOF_HEX + 1]);
/* A token without a serial yet (provisional, or pre-queued), with its Set-Cookie. 0 or -1. */
int gw_tokens_provisional(gw_queue_t *q, gw_room_t *r, wr_token_t *t, const gw_jar_t *jar, char *hdr,
                          size_t cap, bool secure);

/* answer.c: what a buyer is told (status JSON, or the waiting page). */
typedef struct {
    bool json;
    bool has_serial; /* the visitor holds a place with this serial (else: none yet, or provisional) */
    uint64_t serial;
    const char *set_cookie;
    const char *back; /* the sanitised URL the buyer asked for */
    size_t back_len;
    const uint8_t *visitor; /* the visitor's id when known (the page's leave URL carries its proof) */
    bool prequeue_full;     /* turned away by a full pre-queue: first-come at the opening */
} gw_reply_t;
void gw_answer_waiting(gw_queue_t *q, gw_req_t *req, gw_room_t *r, const gw_reply_t *rp);
void gw_answer_admitted(gw_queue_t *q, gw_req_t *req, gw_room_t *r, bool json, const char *set_cookie,
                        const char *redirect, size_t redirect_len);
/* The buyer's pass is for a session that is over (released, completed, expired): they are told so,
 * the pass cookie is deleted, and nothing goes to the origin. */
void gw_answer_ended(gw_queue_t *q, gw_req_t *req, gw_room_t *r, bool json);
/* Whether any Accept header names the media type (a plain substring test: q-values are not weighed). */
bool gw_accepts(const gw_hdrs_t *hs, const char *type);

/* session.c: an admitted visitor's requests. */
/* The request carries a valid pass: remember it (and whether it asks for a completion path). */
void gw_session_begin(gw_queue_t *q, gw_req_t *req, const wr_room_cfg_t *room, const wr_token_t *pass,
                      int64_t now_s);
/* The pass is in the second half of its session and may still grow (renewal on activity). */
bool gw_session_renew_due(gw_queue_t *q, const gw_room_t *r, const wr_token_t *pass, int64_t now_s);
/* Renews the pass only if Redis confirms the session live (extend.lua, the request held meanwhile);
 * then the request goes on to the origin (gw_req_forward), or the buyer learns the session is over. */
void gw_session_renew(gw_queue_t *q, gw_req_t *req, gw_room_t *r);
/* The signed "Waitroom-Pass: ...\r\n" line for the origin when this request carries a valid pass and
 * [origin] pass_signing_key_file is set (else NULL); *len is its length. */
const char *gw_session_pass_header(gw_queue_t *q, gw_req_t *req, size_t *len);
/* The origin answered: counted in the room's signals when the visitor was admitted, a
 * Waitroom-Inventory remembered; the session ended (Waitroom-Release: done, or a completion path),
 * extended (5xx: grace) or renewed. Returns the header line for the client (the renewed pass, or the
 * pass deleted), or NULL. */
const char *gw_session_answered(gw_queue_t *q, gw_req_t *req, int status, const gw_hdrs_t *hs,
                                uint64_t latency_us);
/* The origin failed an admitted visitor's request (502/503/504 by the gateway): counted as an error,
 * grace given; when can_answer, the buyer is told and true returned. */
bool gw_session_failed(gw_queue_t *q, gw_req_t *req, int status, bool can_answer);

#endif
