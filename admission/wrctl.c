/* wrctl: the organiser's command line, a client of the gateway's admin API.
 *
 *   wrctl [-c FILE | --admin HOST:PORT --token-file FILE] [--json] COMMAND ...
 *     status [ROOM]                      rooms, or one room live
 *     set ROOM key=value ...             rate_per_minute=600 max_active=500 mode=adaptive open_at=... ...
 *     pause|resume|sold-out|open ROOM    the room's state (resume = open)
 *     log ROOM [--visitor ID] [--limit N]
 *     reconcile ROOM                     the sale's books from the audit stream
 *     keygen                             a new token key line ("ID HEX") for the key file
 *
 * Exit status: 0 done, 1 the API refused (its error is printed), 2 usage, 3 the admin API is
 * unreachable. The address and token come from the config file's [gateway] admin_listen and
 * admin_token_file, or from the flags. */
#include "common/passsig.h"
#include "config/config.h"

#include <jansson.h>
#include <llhttp.h>
#include <netdb.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESP_MAX (16 * 1024 * 1024)

typedef struct {
    char host[256];
    unsigned port;
    char token[256];
    bool json;
} ctl_t;

/* ---- one HTTP request to the admin API ------------------------------------------------------------ */

typedef struct {
    char *body;
    size_t len, cap;
    bool done;
} resp_t;

static int on_body(llhttp_t *p, const char *at, size_t len) {
    resp_t *r = p->data;
    if (r->len + len > RESP_MAX)
        return -1;
    if (r->len + len + 1 > r->cap) {
        size_t cap = (r->len + len + 1) * 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return -1;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, at, len);
    r->len += len;
    r->body[r->len] = '\0';
    return 0;
}

static int on_complete(llhttp_t *p) {
    ((resp_t *)p->data)->done = true;
    return 0;
}

/* Returns the HTTP status (the JSON body in *doc, NULL if none), or -1 if the API is unreachable. */
static int call(const ctl_t *c, const char *method, const char *path, const char *body, json_t **doc) {
    *doc = NULL;
    char port[16];
    snprintf(port, sizeof port, "%u", c->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(c->host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    struct timeval tv = {.tv_sec = 10};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    size_t bl = body ? strlen(body) : 0;
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAccept: application/json\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                      method, path, c->host, bl, c->token[0] ? "Authorization: Bearer " : "", c->token,
                      c->token[0] ? "\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof head || write(fd, head, (size_t)hl) != hl ||
        (bl && write(fd, body, bl) != (ssize_t)bl)) {
        close(fd);
        return -1;
    }
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_body = on_body;
    s.on_message_complete = on_complete;
    llhttp_t p;
    llhttp_init(&p, HTTP_RESPONSE, &s);
    resp_t r = {0};
    p.data = &r;
    char buf[16384];
    ssize_t n;
    while (!r.done && (n = read(fd, buf, sizeof buf)) > 0)
        if (llhttp_execute(&p, buf, (size_t)n) != HPE_OK)
            break;
    if (!r.done && llhttp_finish(&p) != HPE_OK)
        r.done = false;
    close(fd);
    int status = r.done ? p.status_code : -1;
    if (r.body)
        *doc = json_loadb(r.body, r.len, 0, NULL);
    free(r.body);
    return status;
}

/* The API's answer as the command's outcome: prints its error and returns the exit status. */
static int outcome(int status, json_t *doc) {
    if (status < 0) {
        fprintf(stderr, "wrctl: the admin API is unreachable\n");
        return 3;
    }
    if (status >= 400) {
        const char *err = json_string_value(json_object_get(doc, "error"));
        const char *field = json_string_value(json_object_get(doc, "field"));
        fprintf(stderr, "wrctl: %d: %s%s%s\n", status, err ? err : "error", field ? " (field " : "",
                field ? field : "");
        if (field)
            fprintf(stderr, ")\n");
        return 1;
    }
    return 0;
}

static void print_json(json_t *doc) {
    char *t = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (t)
        puts(t);
    free(t);
}

static const char *str(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    static char buf[8][64];
    static int i;
    i = (i + 1) % 8;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf[i], sizeof buf[i], "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf[i], sizeof buf[i], "%.1f", json_real_value(v));
    else if (json_is_true(v) || json_is_false(v))
        return json_is_true(v) ? "yes" : "no";
    else
        return "-";
    return buf[i];
}

/* ---- commands --------------------------------------------------------------------------------------- */

static int cmd_status(const ctl_t *c, const char *room) {
    json_t *doc;
    char path[300];
    if (room)
        snprintf(path, sizeof path, "/v1/rooms/%s", room);
    int st = call(c, "GET", room ? path : "/v1/rooms", NULL, &doc);
    int rc = outcome(st, doc);
    if (rc == 0 && c->json) {
        print_json(doc);
    } else if (rc == 0 && !room) {
        printf("%-16s %-10s %-9s %8s %10s\n", "ROOM", "STATE", "MODE", "RATE/MIN", "MAX_ACTIVE");
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "rooms"), i, r) {
            printf("%-16s %-10s %-9s %8s %10s\n", str(r, "name"), str(r, "state"), str(r, "mode"),
                   str(r, "rate_per_minute"), str(r, "max_active"));
        }
    } else if (rc == 0) {
        json_t *o = json_object_get(doc, "origin"), *k = json_object_get(doc, "controller");
        printf(
            "room          %s\nstate         %s (%s mode)\nrate          %s/min (configured %s)\n"
            "max active    %s\nwaiting       %s\nadmitted      %s not claimed, %s active sessions, %s in the "
            "last minute\nboundary      %s of %s\ninventory     %s\norigin        p50 %s ms, p99 %s ms, "
            "errors %s (fresh signals: %s)\ncontroller    %s, epoch %s, reason %s\n",
            str(doc, "name"), str(doc, "state"), str(doc, "mode"), str(doc, "rate_per_minute"),
            str(doc, "configured_rate_per_minute"), str(doc, "max_active"), str(doc, "waiting"),
            str(doc, "admitted_not_claimed"), str(doc, "active_sessions"), str(doc, "admitted_last_minute"),
            str(doc, "boundary"), str(doc, "last_serial"), str(doc, "inventory"), str(o, "p50_ms"),
            str(o, "p99_ms"), str(o, "error_rate"), str(o, "fresh"), str(k, "leader"), str(k, "epoch"),
            str(k, "reason"));
    }
    json_decref(doc);
    return rc;
}

/* The room's last 15 minutes as wr-admission sampled them (GET /v1/rooms/NAME/history), oldest first. */
static int cmd_history(const ctl_t *c, const char *room) {
    json_t *doc;
    char path[300];
    snprintf(path, sizeof path, "/v1/rooms/%s/history", room);
    int st = call(c, "GET", path, NULL, &doc);
    int rc = outcome(st, doc);
    if (rc == 0 && c->json) {
        print_json(doc);
    } else if (rc == 0) {
        json_t *samples = json_object_get(doc, "samples");
        if (json_array_size(samples) == 0)
            printf("%s: no history yet (wr-admission writes a sample every 5 s while it leads)\n", room);
        else
            printf("%-9s %9s %9s %9s %9s %9s %8s %8s  %s\n", "TIME UTC", "WAITING", "UNCLAIMED", "ACTIVE",
                   "ADM/MIN", "RATE/MIN", "P99 MS", "ERRORS", "REASON");
        size_t i;
        json_t *p;
        json_array_foreach(samples, i, p) {
            time_t t = (time_t)(json_integer_value(json_object_get(p, "t_ms")) / 1000);
            struct tm tm;
            char when[16] = "?";
            if (gmtime_r(&t, &tm))
                strftime(when, sizeof when, "%H:%M:%S", &tm);
            json_t *err = json_object_get(p, "origin_error_rate");
            char errs[16] = "-";
            if (json_is_number(err))
                snprintf(errs, sizeof errs, "%.1f %%", json_number_value(err) * 100);
            printf("%-9s %9s %9s %9s %9s %9s %8s %8s  %s\n", when, str(p, "waiting"),
                   str(p, "admitted_not_claimed"), str(p, "active_sessions"), str(p, "admitted_last_minute"),
                   str(p, "rate_per_minute"), str(p, "origin_p99_ms"), errs, str(p, "reason"));
        }
    }
    json_decref(doc);
    return rc;
}

static int patch(const ctl_t *c, const char *room, json_t *body) {
    char path[300], *text = json_dumps(body, JSON_COMPACT);
    snprintf(path, sizeof path, "/v1/rooms/%s", room);
    json_t *doc;
    int st = call(c, "PATCH", path, text, &doc);
    free(text);
    int rc = outcome(st, doc);
    if (rc == 0) {
        if (c->json)
            print_json(doc);
        else
            printf("%s: state %s, rate %s/min, max_active %s\n", room, str(doc, "state"),
                   str(doc, "configured_rate_per_minute"), str(doc, "max_active"));
    }
    json_decref(doc);
    return rc;
}

static int cmd_set(const ctl_t *c, const char *room, int argc, char **argv) {
    json_t *body = json_object();
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            fprintf(stderr, "wrctl: '%s' is not key=value\n", argv[i]);
            json_decref(body);
            return 2;
        }
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        if (!strcmp(k, "rate"))
            k = "rate_per_minute";
        char *end;
        long long n = strtoll(v, &end, 10);
        json_object_set_new(body, k, *v && !*end ? json_integer(n) : json_string(v));
    }
    int rc = patch(c, room, body);
    json_decref(body);
    return rc;
}

static int cmd_state(const ctl_t *c, const char *room, const char *state) {
    json_t *body = json_pack("{s:s}", "state", state);
    int rc = patch(c, room, body);
    json_decref(body);
    return rc;
}

/* Every event of the room's audit stream, page by page; calls fn for each. Returns an exit status. */
static int each_event(const ctl_t *c, const char *room, const char *filter, void (*fn)(json_t *, void *),
                      void *arg) {
    char after[64] = "";
    for (;;) {
        char path[512];
        snprintf(path, sizeof path, "/v1/rooms/%s/log?limit=1000%s%s%s%s", room, after[0] ? "&after=" : "",
                 after, filter ? "&" : "", filter ? filter : "");
        json_t *doc;
        int st = call(c, "GET", path, NULL, &doc);
        int rc = outcome(st, doc);
        if (rc) {
            json_decref(doc);
            return rc;
        }
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(doc, "events"), i, e) fn(e, arg);
        const char *next = json_string_value(json_object_get(doc, "next"));
        if (!next) {
            json_decref(doc);
            return 0;
        }
        snprintf(after, sizeof after, "%s", next);
        json_decref(doc);
    }
}

static void print_event(json_t *e, void *arg) {
    const ctl_t *c = arg;
    if (c->json) {
        char *t = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
        puts(t ? t : "{}");
        free(t);
        return;
    }
    printf("%-18s %-12s serial %-8s %s%s gw %s\n", str(e, "id"), str(e, "ev"), str(e, "serial"),
           json_object_get(e, "visitor") ? "visitor " : "",
           json_object_get(e, "visitor") ? str(e, "visitor") : "", str(e, "gw"));
}

static int cmd_log(const ctl_t *c, const char *room, const char *visitor) {
    char filter[80];
    if (visitor)
        snprintf(filter, sizeof filter, "visitor=%s", visitor);
    if (!c->json)
        printf("%-18s %-12s %s\n", "ID", "EVENT", "WHO");
    return each_event(c, room, visitor ? filter : NULL, print_event, (void *)c);
}

/* The books: counts per event, and who the origin failed and did not complete afterwards. */
typedef struct {
    json_t *counts;  /* ev -> n */
    json_t *visitor; /* serial -> visitor */
    json_t *failed;  /* serial -> {status, ms} : an origin_error not (yet) followed by a completion */
} books_t;

static void book(json_t *e, void *arg) {
    books_t *b = arg;
    const char *ev = str(e, "ev"), *serial = str(e, "serial");
    json_int_t n = json_integer_value(json_object_get(b->counts, ev));
    json_object_set_new(b->counts, ev, json_integer(n + 1));
    if (json_object_get(e, "visitor") && strcmp(serial, "0") != 0)
        json_object_set_new(b->visitor, serial, json_string(str(e, "visitor")));
    if (!strcmp(ev, "origin_error"))
        json_object_set_new(b->failed, serial,
                            json_pack("{s:s, s:s}", "status", str(e, "status"), "ms", str(e, "ms")));
    else if (!strcmp(ev, "completed") || !strcmp(ev, "released"))
        json_object_del(b->failed, serial);
}

static int cmd_reconcile(const ctl_t *c, const char *room) {
    books_t b = {json_object(), json_object(), json_object()};
    int rc = each_event(c, room, NULL, book, &b);
    if (rc == 0) {
        json_int_t done = json_integer_value(json_object_get(b.counts, "completed")) +
                          json_integer_value(json_object_get(b.counts, "released"));
        if (c->json) {
            json_t *list = json_array();
            const char *serial;
            json_t *f;
            json_object_foreach(b.failed, serial, f) {
                json_array_append_new(list, json_pack("{s:s, s:s?, s:O}", "serial", serial, "visitor",
                                                      json_string_value(json_object_get(b.visitor, serial)),
                                                      "origin_error", f));
            }
            json_t *doc = json_pack("{s:s, s:O, s:I, s:o}", "room", room, "events", b.counts, "completed",
                                    done, "failed_not_completed", list);
            print_json(doc);
            json_decref(doc);
        } else {
            static const char *const rows[][2] = {
                {"joined", "joined"},
                {"prejoined", "pre-queued"},
                {"admitted", "admitted"},
                {"claimed", "claimed"},
                {"no_show", "no-shows"},
                {"abandoned", "abandoned"},
                {"rejoined", "rejoined"},
                {"left", "left the queue"},
                {"released", "completed (origin said)"},
                {"completed", "completed (completion path)"},
                {"expired", "sessions expired"},
                {"origin_error", "origin errors during a session (grace)"},
                {"owed", "let in again (owed)"},
            };
            printf("the books of room %s, from its audit stream\n", room);
            for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
                printf("  %-44s %lld\n", rows[i][1],
                       (long long)json_integer_value(json_object_get(b.counts, rows[i][0])));
            printf("\nfailed at the origin and not completed afterwards: %zu\n", json_object_size(b.failed));
            const char *serial;
            json_t *f;
            json_object_foreach(b.failed, serial, f) {
                const char *v = json_string_value(json_object_get(b.visitor, serial));
                printf("  serial %-8s visitor %-32s last error %s at %s ms\n", serial, v ? v : "?",
                       str(f, "status"), str(f, "ms"));
            }
        }
    }
    json_decref(b.counts);
    json_decref(b.visitor);
    json_decref(b.failed);
    return rc;
}

/* Checks a Waitroom-Pass header value, as an origin would (common/passsig.h): 0 valid, 1 not. */
static int cmd_verify_pass(const ctl_t *c, const char *pub_path, const char *value) {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    char err[512];
    if (wr_passsig_pub_load(pub_path, pk, err, sizeof err) < 0) {
        fprintf(stderr, "wrctl: %s\n", err);
        return 2;
    }
    wr_passsig_t p;
    int rc = wr_passsig_verify(pk, value, strlen(value), (int64_t)time(NULL), &p);
    static const char *const why[] = {"valid", "malformed", "forged (the signature does not match)",
                                      "expired"};
    char vhex[33];
    sodium_bin2hex(vhex, sizeof vhex, p.visitor, sizeof p.visitor);
    if (c->json) {
        json_t *doc = json_pack("{s:b, s:s}", "valid", rc == WR_PASSSIG_OK, "result", why[-rc]);
        if (rc == WR_PASSSIG_OK || rc == WR_PASSSIG_EXPIRED)
            json_object_update_new(doc, json_pack("{s:s, s:s, s:I, s:I}", "room", p.room, "visitor", vhex,
                                                  "serial", (json_int_t)p.serial, "expires",
                                                  (json_int_t)p.expires));
        char *text = json_dumps(doc, JSON_COMPACT);
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(doc);
    } else if (rc == WR_PASSSIG_OK || rc == WR_PASSSIG_EXPIRED) {
        printf("%s: room %s, visitor %s, serial %llu, expires %lld\n", why[-rc], p.room, vhex,
               (unsigned long long)p.serial, (long long)p.expires);
    } else {
        printf("%s\n", why[-rc]);
    }
    return rc == WR_PASSSIG_OK ? 0 : 1;
}

static int cmd_keygen(void) {
    uint8_t key[32];
    char hex[65];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    printf("%u %s\n", (unsigned)(randombytes_uniform(65000) + 1), hex);
    sodium_memzero(hex, sizeof hex);
    return 0;
}

static const char usage[] =
    "usage: wrctl [-c FILE | --admin HOST:PORT --token-file FILE] [--json] COMMAND\n"
    "  status [ROOM]                    rooms, or one room live\n"
    "  set ROOM key=value ...           e.g. rate=600 max_active=500 mode=adaptive inventory_remaining=120\n"
    "                                   session_ttl=300 open_at=2026-12-01T18:00:00Z (scheduled rooms)\n"
    "  pause|resume|sold-out|open ROOM  change the room's state\n"
    "  log ROOM [--visitor ID]          the room's audit trail\n"
    "  reconcile ROOM                   the sale's books; who the origin failed and did not complete\n"
    "  history ROOM                     the last 15 minutes, a line every 5 s (as the dashboard charts)\n"
    "  keygen                           a new key line for the key file (put it first to rotate)\n"
    "  verify-pass PUBLIC_KEY_FILE VALUE  check a Waitroom-Pass header value as the origin would\n"
    "exit status: 0 done, 1 refused by the API, 2 usage, 3 admin API unreachable\n";

int main(int argc, char **argv) {
    ctl_t c = {.host = "127.0.0.1", .port = 8081};
    const char *cfg_path = NULL, *admin = NULL, *token_file = NULL, *visitor = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            cfg_path = argv[++i];
        else if (!strcmp(argv[i], "--admin") && i + 1 < argc)
            admin = argv[++i];
        else if (!strcmp(argv[i], "--token-file") && i + 1 < argc)
            token_file = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            c.json = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "wrctl: unknown option '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    const char *cmd = argv[i++];
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen();
    if (!strcmp(cmd, "verify-pass") && argc - i == 2)
        return cmd_verify_pass(&c, argv[i], argv[i + 1]);
    if (cfg_path) {
        char err[1024];
        wr_config_t *cfg = wr_config_load(cfg_path, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        snprintf(c.host, sizeof c.host, "%s", cfg->admin_listen.host);
        c.port = cfg->admin_listen.port;
        static char tf[4096];
        snprintf(tf, sizeof tf, "%s", cfg->admin_token_file ? cfg->admin_token_file : "");
        if (!token_file && tf[0])
            token_file = tf;
        wr_config_free(cfg);
    }
    if (admin) {
        wr_hostport_t hp;
        if (wr_parse_hostport(admin, &hp) < 0) {
            fprintf(stderr, "wrctl: --admin '%s' is not HOST:PORT\n", admin);
            return 2;
        }
        snprintf(c.host, sizeof c.host, "%s", hp.host);
        c.port = hp.port;
    }
    if (token_file) {
        FILE *f = fopen(token_file, "r");
        if (f) {
            size_t n = fread(c.token, 1, sizeof c.token - 1, f);
            fclose(f);
            while (n && (c.token[n - 1] == '\n' || c.token[n - 1] == '\r' || c.token[n - 1] == ' '))
                n--;
            c.token[n] = '\0';
        } else if (strcmp(cmd, "status") != 0 && strcmp(cmd, "log") != 0 && strcmp(cmd, "reconcile") != 0 &&
                   strcmp(cmd, "history") != 0) {
            fprintf(stderr, "wrctl: cannot read the admin token file %s\n", token_file);
            return 2;
        }
    }
    int rest = argc - i;
    if (!strcmp(cmd, "status") && rest <= 1)
        return cmd_status(&c, rest ? argv[i] : NULL);
    if (!strcmp(cmd, "set") && rest >= 2)
        return cmd_set(&c, argv[i], rest - 1, argv + i + 1);
    if ((!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "sold-out") ||
         !strcmp(cmd, "open")) &&
        rest == 1)
        return cmd_state(&c, argv[i],
                         !strcmp(cmd, "pause")      ? "paused"
                         : !strcmp(cmd, "sold-out") ? "sold_out"
                                                    : "open");
    if (!strcmp(cmd, "log") && rest >= 1) {
        for (int k = i + 1; k < argc; k++) {
            if (!strcmp(argv[k], "--visitor") && k + 1 < argc)
                visitor = argv[++k];
            else {
                fprintf(stderr, "wrctl: log: unknown argument '%s'\n", argv[k]);
                return 2;
            }
        }
        return cmd_log(&c, argv[i], visitor);
    }
    if (!strcmp(cmd, "reconcile") && rest == 1)
        return cmd_reconcile(&c, argv[i]);
    if (!strcmp(cmd, "history") && rest == 1)
        return cmd_history(&c, argv[i]);
    fprintf(stderr, "wrctl: bad command line\n\n%s", usage);
    return 2;
}
