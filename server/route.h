/* route.h: what the HTTP side shares between the daemon (http.c), the
 * route table and its handlers (routes.c), the protected-route middleware
 * (guard.c), POST /revoke (revoke.c) and POST /introspect
 * (introspect_route.c). Terms as in http.c: a "request" is the struct
 * http_request MHD keeps from the first access-handler call to the
 * completion callback; a "route" is one row of http_routes: a path (and,
 * for a row with "subpaths", every path under it), its methods, a "start"
 * handler that answers the request or parks it, and a "resume" handler
 * that answers it once the pool's verdict is in. A new route is one row
 * here plus its handlers. */
#ifndef TENANT_AUTHD_ROUTE_H
#define TENANT_AUTHD_ROUTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "client.h"
#include "config.h"
#include "metrics.h"
#include "pool.h"
#include "token.h"
#include "tusage.h"
#include "usage.h"

#define HTTP_JSON "application/json"
#define HTTP_PATH_LOG_MAX 256
#define HTTP_ROUTES_MAX 16  /* rows of http_routes, at most */
#define HTTP_BODY_KEEP 4096 /* a POST route keeps this much body, at most */
#define HTTP_EXTRA_MAX 2    /* headers the middleware adds to an answer */
#define HTTP_EXTRA_VALUE 160

enum http_phase {
  HTTP_NEW,    /* not yet looked at */
  HTTP_PARKED, /* suspended, its item in the pool */
  HTTP_RESUMED /* the pool answered: item.verdict is set */
};

/* The request headers tenant-authd reads, gathered in one pass over them. */
struct http_scan {
  const char *auth; /* the first Authorization value, NULL when none */
  size_t auth_len;
  unsigned auth_count;
  struct client_headers fwd; /* the --client-ip-header values (client.h) */
};

/* A header the middleware adds to a request's answer (http_add_header):
 * its name (a constant) and its value, copied. */
struct http_extra {
  const char *name;
  char value[HTTP_EXTRA_VALUE];
};

struct http_request {
  uint64_t start_us; /* clock_now_us() at the first call */
  size_t route;      /* index into http_routes */
  unsigned status;   /* 0 until a response is queued */
  bool answered;     /* the whole request is in and being answered */
  bool scanned;      /* scan is set (http_headers) */
  bool subpath;      /* the path is under the route's, not the route's */
  bool have_client;  /* client and limit_key are set (http_client) */
  _Atomic enum http_phase phase;
  struct MHD_Connection *conn; /* for the resume */
  struct pool_item item;
  struct http_scan scan;
  size_t body_len; /* bytes of request body received so far */
  char *body;      /* a POST route: the first HTTP_BODY_KEEP bytes, else NULL */
  char *abilities; /* POST /introspect: the token's stored abilities, or NULL;
                      freed with the request */
  char tenant_id[TOKEN_UUID_LEN + 1]; /* set once authenticated */
  char hint[TOKEN_HINT_LEN * 4 + 1];  /* the token's first bytes, escaped */
  struct client_addr client;          /* set by http_client */
  struct client_addr limit_key;       /* client_key(client): what the limiter
                                         counts */
  uint64_t reserved_ms; /* limiter time of the failure this request holds
                           in reserve (guard_reserve); 0: none */
  /* Headers every answer to this request carries besides its own, added
   * by the middleware once it admitted the request (guard.c: RateLimit and
   * RateLimit-Policy) and appended by http_reply: a route's handler does
   * not know them. */
  struct http_extra extra[HTTP_EXTRA_MAX];
  size_t n_extra;
  char client_text[CLIENT_ADDR_TEXT_MAX]; /* "" unless --access-log */
  char method[32];                        /* escaped; only with --access-log */
  char path[HTTP_PATH_LOG_MAX];           /* escaped; only with --access-log */
};

struct rate_table; /* ratelimit.h */

struct http_header {
  const char *name;
  const char *value;
};

typedef enum MHD_Result (*http_handler)(struct MHD_Connection *conn,
                                        struct http_request *req);

enum http_methods {
  HTTP_METHODS_GET,  /* GET and HEAD */
  HTTP_METHODS_POST, /* POST only, with a body (the first HTTP_BODY_KEEP
                        bytes kept) */
  HTTP_METHODS_ANY   /* any method; a body is dropped */
};

struct http_route {
  const char *path;  /* NULL: the 404 entry, which matches anything */
  const char *label; /* route="..." in /metrics */
  enum http_methods methods;
  bool subpaths; /* also path + "/" + anything (req->subpath) */
  http_handler start;
  http_handler resume; /* after a park: the pool's verdict is in */
};

/* routes.c: the table, ending in its 404 entry. */
extern const struct http_route http_routes[];
/* routes.c: the usage set, tenant usage and rate limits /metrics reports
 * (NULL: none). */
void routes_init(struct usage_set *usage, struct tusage *tusage,
                 struct rate_table *rates);

/* http.c: the reply helpers. http_reply queues a response: status,
 * optional body with its type, extra headers, then the request's own
 * (http_add_header); every response says Cache-Control: no-store, and
 * while stopping Connection: close. */
enum MHD_Result http_reply(struct MHD_Connection *conn,
                           struct http_request *req, unsigned status,
                           const char *type, const char *body,
                           const struct http_header *headers, size_t n_headers);
/* Adds a header to every answer to req from now on (at most
 * HTTP_EXTRA_MAX; value cut to HTTP_EXTRA_VALUE - 1 bytes): name must be
 * a constant; false when there is no room. */
bool http_add_header(struct http_request *req, const char *name,
                     const char *value);
/* 503 with Retry-After: --retry-after. */
enum MHD_Result http_unavailable(struct MHD_Connection *conn,
                                 struct http_request *req, const char *body);
/* 400 invalid_request (RFC 6749 section 5.2, which RFC 7009 uses) with
 * what was expected. */
enum MHD_Result http_invalid_request(struct MHD_Connection *conn,
                                     struct http_request *req,
                                     const char *description);
/* The --retry-after value, as the header says it. */
const char *http_retry_after(void);

/* http.c: parks the request (suspends its connection, submits req->item,
 * whose kind and token the caller has set); the route's resume handler
 * answers it. */
enum MHD_Result http_park(struct MHD_Connection *conn,
                          struct http_request *req);

/* http.c: the request headers, scanned once. */
const struct http_scan *http_headers(struct MHD_Connection *conn,
                                     struct http_request *req);

/* http.c: sets req->client and req->limit_key, once: the TCP peer, or what
 * a trusted proxy says it forwards for (client.h). */
void http_client(struct MHD_Connection *conn, struct http_request *req);

/* http.c: the series of the requests themselves (by route and status; in
 * flight). */
void http_metrics_requests(struct metrics_text *t);
void http_metrics_in_flight(struct metrics_text *t);
/* http.c: tenant_authd_client_resets_total. */
void http_metrics_client_resets(struct metrics_text *t);

/* guard.c: the middleware of protected routes. guard_start makes the
 * failure limiter (none with --auth-fail-limit 0); usage, tusage and rates
 * (the rate limits' table: NULL, none enforced) may be NULL. */
int guard_start(const struct cfg *cfg, struct usage_set *usage,
                struct tusage *tusage, struct rate_table *rates, char *err,
                size_t err_size);
void guard_stop(void);
/* The limiter's decision, the only one, made before a route reads its
 * credentials: false when req's address is blocked (then *retry_after_s
 * is set); else one failure of it is counted at once and held in
 * req->reserved_ms, so requests in flight together cannot outrun the
 * limit. guard_settle gives the reservation back unless the outcome is a
 * failure (auth_is_failure); a route whose every request is a failure
 * (POST /revoke) never settles, and a request that ends without an
 * outcome (its client left) keeps its reservation. */
bool guard_reserve(struct MHD_Connection *conn, struct http_request *req,
                   unsigned *retry_after_s);
void guard_settle(struct http_request *req, bool failure);
/* 429 for a blocked address. */
enum MHD_Result guard_too_many(struct MHD_Connection *conn,
                               struct http_request *req,
                               unsigned retry_after_s);
/* A protected route's start: limiter, credentials, then the pool; answer
 * answers an authenticated request. */
enum MHD_Result guard_start_request(struct MHD_Connection *conn,
                                    struct http_request *req,
                                    http_handler answer);
/* A protected route's resume: the verdict becomes an outcome. */
enum MHD_Result guard_resume(struct MHD_Connection *conn,
                             struct http_request *req, http_handler answer);
/* Records that the token of hash verified, for the usage flusher. */
void guard_note_use(const uint8_t *hash);
void guard_metrics(struct metrics_text *t);
void guard_metrics_limiter(struct metrics_text *t);
/* tenant_authd_rate_limited_total. */
void guard_metrics_rates(struct metrics_text *t);

/* revoke.c: POST /revoke. */
enum MHD_Result revoke_start(struct MHD_Connection *conn,
                             struct http_request *req);
enum MHD_Result revoke_resume(struct MHD_Connection *conn,
                              struct http_request *req);
void revoke_metrics(struct metrics_text *t);

/* introspect_route.c: POST /introspect (RFC 7662), for the clients of
 * cfg->introspection (introspect.h). */
void introspect_route_init(const struct cfg *cfg);
enum MHD_Result introspect_start(struct MHD_Connection *conn,
                                 struct http_request *req);
enum MHD_Result introspect_resume(struct MHD_Connection *conn,
                                  struct http_request *req);
void introspect_metrics(struct metrics_text *t);

#endif
