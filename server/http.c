/* http.c: the libmicrohttpd daemon, the route table and the request
 * lifecycle. Terms: a "request" is the struct http_request MHD keeps in
 * *req_cls from the first access-handler call to the completion callback; a
 * "protected" route authenticates first (auth.h), which binds the tenant id
 * to the request; a request is "parked" while its connection is suspended
 * and its pool item (pool.h) waits for the database, and "resumed" by the
 * pool's done callback, after which MHD calls the access handler again and
 * the answer is queued. A worker thread never waits on the database.
 *
 * The access handler answers on its second call (or the call after a
 * resume), never its first: MHD closes the connection after a response
 * queued on the first call, which would defeat HTTP/1.1 keep-alive.
 *
 * Each connection also has the state conns.c keeps in MHD's socket
 * context: the connection limit and the deadline for its next request. A
 * request is "in" when the access handler is about to answer it (headers
 * and any body received), which marks the connection busy (parked
 * included); the completion callback marks it waiting again.
 *
 * POST /revoke (RFC 7009) is the one route that reads a body: at most
 * HTTP_REVOKE_BODY_MAX bytes are kept (a longer body is answered 400), and
 * a well-formed token is revoked through the pool like any database call. */
#include "http.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "auth.h"
#include "client.h"
#include "clock.h"
#include "conns.h"
#include "db.h"
#include "flusher.h"
#include "form.h"
#include "limiter.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "token.h"
#include "usage.h"

#define HTTP_JSON "application/json"
#define HTTP_ALLOW "GET, HEAD"
#define HTTP_ALLOW_POST "POST"
#define HTTP_REVOKE_BODY_MAX 4096 /* a revocation request's body, at most */
#define HTTP_FORM_VALUE_MAX 256   /* a token field longer than this is junk */
#define HTTP_STATUS_MAX 600
#define HTTP_PATH_LOG_MAX 256
#define HTTP_BODY_MAX 65536 /* request body bytes dropped before closing */
/* MHD's own connection limit is ours plus this headroom (at least
 * HTTP_CONN_HEADROOM_MIN, else a tenth of ours), so that it keeps
 * accepting past our limit and conns.c can refuse at once what would
 * otherwise wait unanswered in the listen backlog. */
#define HTTP_CONN_HEADROOM_MIN 64
/* After the pool has answered every parked request on shutdown, the time
 * left for MHD to send those answers before it stops. */
#define HTTP_STOP_FLUSH_US 1000000
/* /readyz answers from the last database call when it is this recent. */
#define HTTP_READY_FRESH_US 1000000

enum http_phase {
  HTTP_NEW,    /* not yet looked at */
  HTTP_PARKED, /* suspended, its item in the pool */
  HTTP_RESUMED /* the pool answered: item.verdict is set */
};

struct http_request {
  uint64_t start_us; /* clock_now_us() at the first call */
  size_t route;      /* index into http_routes */
  unsigned status;   /* 0 until a response is queued */
  bool answered;     /* the whole request is in and being answered */
  _Atomic enum http_phase phase;
  struct MHD_Connection *conn; /* for the resume */
  struct pool_item item;
  size_t body_len; /* bytes of request body received so far */
  char
      *body; /* POST /revoke: the first HTTP_REVOKE_BODY_MAX bytes, else NULL */
  char tenant_id[TOKEN_UUID_LEN + 1]; /* set once authenticated */
  char hint[TOKEN_HINT_LEN * 4 + 1];  /* the token's first bytes, escaped */
  struct client_addr client;          /* set by http_client */
  struct client_addr
      limit_key; /* client_key(client): what the limiter counts */
  char client_text[CLIENT_ADDR_TEXT_MAX]; /* "" until http_client ran */
  char method[32];                        /* escaped; only with --access-log */
  char path[HTTP_PATH_LOG_MAX];           /* escaped; only with --access-log */
};

struct http_header {
  const char *name;
  const char *value;
};

/* The request headers tenant-authd reads, gathered in one pass over them. */
struct http_scan {
  const char *auth; /* the first Authorization value, NULL when none */
  size_t auth_len;
  unsigned auth_count;
  struct client_headers fwd; /* the --client-ip-header values (client.h) */
};

typedef enum MHD_Result (*http_handler)(struct MHD_Connection *conn,
                                        struct http_request *req);

struct http_route {
  const char *path; /* NULL: the 404 entry, which matches anything */
  const char *label;
  bool protected;
  bool post; /* POST only, with a body; else GET and HEAD */
  http_handler handler;
};

static enum MHD_Result http_auth_test(struct MHD_Connection *conn,
                                      struct http_request *req);
static enum MHD_Result http_auth_request(struct MHD_Connection *conn,
                                         struct http_request *req);
static enum MHD_Result http_healthz(struct MHD_Connection *conn,
                                    struct http_request *req);
static enum MHD_Result http_readyz(struct MHD_Connection *conn,
                                   struct http_request *req);
static enum MHD_Result http_metrics(struct MHD_Connection *conn,
                                    struct http_request *req);
static enum MHD_Result http_not_found(struct MHD_Connection *conn,
                                      struct http_request *req);
static enum MHD_Result http_revoke(struct MHD_Connection *conn,
                                   struct http_request *req);

#define HTTP_ROUTE_COUNT 7
#define HTTP_ROUTE_AUTH 1
#define HTTP_ROUTE_READYZ 3
#define HTTP_ROUTE_REVOKE 5
static const struct http_route http_routes[HTTP_ROUTE_COUNT] = {
    {"/api/v1/auth-test", "/api/v1/auth-test", true, false, http_auth_test},
    {"/auth", "/auth", true, false, http_auth_request},
    {"/healthz", "/healthz", false, false, http_healthz},
    {"/readyz", "/readyz", false, false, http_readyz},
    {"/metrics", "/metrics", false, false, http_metrics},
    {"/revoke", "/revoke", false, true, http_revoke},
    {NULL, "other", false, false, http_not_found},
};

/* How POST /revoke requests ended, counted in /metrics. */
enum http_revoke_outcome {
  HTTP_REVOKE_SENT,      /* a well-formed token: sent to the database */
  HTTP_REVOKE_NOT_TOKEN, /* not a well-formed token: 200, no database call */
  HTTP_REVOKE_BAD,       /* 400 invalid_request */
  HTTP_REVOKE_LIMITED,   /* 429: the address is blocked */
  HTTP_REVOKE_OUTCOMES
};
static const char *const http_revoke_names[HTTP_REVOKE_OUTCOMES] = {
    "sent", "not_a_token", "invalid_request", "rate_limited"};

static struct {
  atomic_uint_fast64_t requests[HTTP_ROUTE_COUNT][HTTP_STATUS_MAX];
  atomic_uint_fast64_t auth[AUTH_OUTCOMES];
  atomic_uint_fast64_t invalid[DB_STATES]; /* why tokens were invalid */
  atomic_uint_fast64_t revoke[HTTP_REVOKE_OUTCOMES];
} http_stats;

static struct MHD_Daemon *http_daemon;
static const struct cfg *http_cfg;
static struct limiter *http_limiter;     /* NULL: --auth-fail-limit 0 */
static struct client_policy http_policy; /* set by http_start */
static struct usage_set *http_usage;     /* NULL: --usage-interval 0 */
static char http_retry_after[16];
static atomic_bool http_stopping;
static atomic_uint http_in_flight;
/* Requests whose whole request has arrived and that are being answered
 * (parked ones included): what a shutdown waits for, not clients still
 * sending a request. */
static atomic_uint http_answering;
static struct log_limit http_mhd_log_limit = {.per_second = 10};
static struct log_limit http_refused_log_limit = {.per_second = 1};

/* Queues a response: status, optional body with its type, extra headers.
 * Every response says Cache-Control: no-store; while stopping, every
 * response also closes its connection. */
static enum MHD_Result http_reply(struct MHD_Connection *conn,
                                  struct http_request *req, unsigned status,
                                  const char *type, const char *body,
                                  const struct http_header *headers,
                                  size_t n_headers)
{
  size_t len = body != NULL ? strlen(body) : 0;
  struct MHD_Response *resp;
  enum MHD_Result ret;
  bool ok;

  resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                               "no-store") == MHD_YES;
  if (ok && type != NULL)
    ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) ==
         MHD_YES;
  for (size_t i = 0; ok && i < n_headers; i++)
    ok = MHD_add_response_header(resp, headers[i].name, headers[i].value) ==
         MHD_YES;
  if (ok && atomic_load(&http_stopping))
    ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") ==
         MHD_YES;
  if (!ok) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  if (ret == MHD_YES)
    req->status = status;
  return ret;
}

static enum MHD_Result http_unavailable(struct MHD_Connection *conn,
                                        struct http_request *req,
                                        const char *body)
{
  const struct http_header h[] = {
      {MHD_HTTP_HEADER_RETRY_AFTER, http_retry_after}};

  return http_reply(conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, HTTP_JSON, body, h,
                    1);
}

/* True when the header name key[0..key_len) is name, ignoring ASCII case. */
static bool http_name_is(const char *key, size_t key_len, const char *name)
{
  size_t i = 0;

  for (; i < key_len && name[i] != '\0'; i++) {
    char a = key[i], b = name[i];
    if (a >= 'A' && a <= 'Z')
      a = (char)(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z')
      b = (char)(b - 'A' + 'a');
    if (a != b)
      return false;
  }
  return i == key_len && name[i] == '\0';
}

static enum MHD_Result http_scan_one(void *cls, enum MHD_ValueKind kind,
                                     const char *key, size_t key_len,
                                     const char *value, size_t value_len)
{
  struct http_scan *scan = cls;

  (void)kind;
  if (http_name_is(key, key_len, MHD_HTTP_HEADER_AUTHORIZATION)) {
    if (scan->auth_count++ == 0) {
      scan->auth = value;
      scan->auth_len = value_len;
    }
  } else {
    client_headers_offer(&scan->fwd, &http_policy, key, key_len, value,
                         value_len);
  }
  return MHD_YES;
}

/* One pass over the request headers. MHD hands repeated headers over one
 * by one, in the order they came. */
static void http_scan_headers(struct MHD_Connection *conn,
                              struct http_scan *scan)
{
  memset(scan, 0, sizeof *scan);
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_scan_one, scan);
}

/* Sets req->client: the TCP peer, or what a trusted proxy says it forwards
 * for (client.h). A peer MHD cannot name counts as the address "::". */
static void http_client(struct MHD_Connection *conn, struct http_request *req,
                        const struct http_scan *scan)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  struct client_addr peer;

  memset(&peer, 0, sizeof peer);
  if (ci != NULL)
    (void)client_addr_from_sockaddr(&peer, ci->client_addr);
  (void)client_pick(&req->client, &peer, &http_policy, &scan->fwd);
  client_key(&req->limit_key, &req->client, &http_policy);
  if (http_cfg->access_log)
    client_addr_format(&req->client, req->client_text, sizeof req->client_text);
}

/* Records that a token verified, for the flusher to write later: its hash
 * goes into the usage set, or is counted as dropped when the set is full. A
 * hashing failure loses one usage record, never the request. */
static void http_note_use(const char *token)
{
  uint8_t hash[TOKEN_HASH_LEN];

  if (http_usage == NULL)
    return;
  if (token_sha256(token, TOKEN_LEN, hash) == 0)
    (void)usage_add(http_usage, hash);
}

/* The answer to a failed authentication (auth.h). */
static enum MHD_Result http_deny(struct MHD_Connection *conn,
                                 struct http_request *req,
                                 enum auth_outcome outcome)
{
  const struct auth_denial *d = auth_denial(outcome);
  struct http_header h[1];
  char challenge[128 + AUTH_ABILITY_MAX];
  size_t n = 0;

  if (outcome == AUTH_FORBIDDEN) {
    auth_forbidden_challenge(challenge, sizeof challenge, req->item.ability);
    h[n++] = (struct http_header){MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge};
  } else if (d->challenge != NULL)
    h[n++] =
        (struct http_header){MHD_HTTP_HEADER_WWW_AUTHENTICATE, d->challenge};
  else if (d->retry_after)
    h[n++] =
        (struct http_header){MHD_HTTP_HEADER_RETRY_AFTER, http_retry_after};
  return http_reply(conn, req, d->status, HTTP_JSON, d->body, h, n);
}

/* 429 for a blocked address; retry_after_s comes from the limiter. */
static enum MHD_Result http_too_many(struct MHD_Connection *conn,
                                     struct http_request *req,
                                     unsigned retry_after_s)
{
  char retry[16];
  const struct http_header h[] = {{MHD_HTTP_HEADER_RETRY_AFTER, retry}};

  snprintf(retry, sizeof retry, "%u", retry_after_s);
  return http_reply(conn, req, MHD_HTTP_TOO_MANY_REQUESTS, HTTP_JSON,
                    "{\"error\":\"too_many_requests\",\"error_description\":"
                    "\"too many failed authentications from this address; "
                    "retry later\"}",
                    h, 1);
}

/* The pool's done callback, on a pool thread or the expiry thread: the
 * verdict is in req->item; the connection is resumed, and MHD calls the
 * access handler again on its own worker thread. */
static void http_item_done(struct pool_item *item)
{
  struct http_request *req =
      (struct http_request *)((char *)item -
                              offsetof(struct http_request, item));

  atomic_store_explicit(&req->phase, HTTP_RESUMED, memory_order_release);
  MHD_resume_connection(req->conn);
}

/* Parks the request: suspends its connection and queues its item. When
 * the queue refuses it, the request is resumed at once: POOL_TIMEOUT
 * (overloaded) for a full queue, POOL_STOPPING while shutting down. */
static enum MHD_Result http_park(struct MHD_Connection *conn,
                                 struct http_request *req)
{
  req->conn = conn;
  req->item.done = http_item_done;
  atomic_store_explicit(&req->phase, HTTP_PARKED, memory_order_relaxed);
  MHD_suspend_connection(conn);
  switch (pool_submit(&req->item)) {
  case POOL_QUEUED:
    break;
  case POOL_FULL:
    req->item.verdict = POOL_TIMEOUT;
    http_item_done(&req->item);
    break;
  case POOL_CLOSED:
    req->item.verdict = POOL_STOPPING;
    http_item_done(&req->item);
    break;
  }
  return MHD_YES;
}

/* Ends authentication with outcome: counts it, tells the limiter about a
 * failure, then answers through the route or denies. */
static enum MHD_Result http_authenticated(struct MHD_Connection *conn,
                                          struct http_request *req,
                                          enum auth_outcome outcome)
{
  atomic_fetch_add(&http_stats.auth[outcome], 1);
  if (outcome == AUTH_OK)
    return http_routes[req->route].handler(conn, req);
  req->tenant_id[0] = '\0';
  if (http_limiter != NULL && auth_is_failure(outcome))
    limiter_fail(http_limiter, &req->limit_key, limiter_now_ms(http_limiter));
  return http_deny(conn, req, outcome);
}

/* The access handler's call after a resume: the pool's verdict is in. */
static enum MHD_Result http_resumed(struct MHD_Connection *conn,
                                    struct http_request *req)
{
  enum auth_outcome outcome;

  if (req->route == HTTP_ROUTE_READYZ) {
    if (req->item.verdict == POOL_VALID)
      return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON,
                        "{\"status\":\"ready\"}", NULL, 0);
    return http_unavailable(conn, req, "{\"status\":\"unavailable\"}");
  }
  if (req->route == HTTP_ROUTE_REVOKE) {
    /* RFC 7009 section 2.2: 200 whether or not the token was known;
     * section 2.2.1: 503 when the server cannot revoke now. */
    if (req->item.verdict == POOL_VALID)
      return http_reply(conn, req, MHD_HTTP_OK, NULL, NULL, NULL, 0);
    return http_unavailable(conn, req,
                            "{\"error\":\"unavailable\",\"error_description\":"
                            "\"the database is unavailable; retry later\"}");
  }
  outcome = auth_from_verdict(req->item.verdict);
  /* Why a token was invalid costs nothing more to learn: the same call
   * said it. Clients see invalid_token for all of them. */
  if (req->item.verdict == POOL_INVALID && req->item.state < DB_STATES)
    atomic_fetch_add(&http_stats.invalid[req->item.state], 1);
  if (outcome == AUTH_OK) {
    memcpy(req->tenant_id, req->item.tenant_id, sizeof req->tenant_id);
    http_note_use(req->item.token);
  }
  return http_authenticated(conn, req, outcome);
}

/* A protected route: limiter, credentials, then the pool. */
static enum MHD_Result http_protected(struct MHD_Connection *conn,
                                      struct http_request *req,
                                      const struct http_scan *scan)
{
  enum auth_outcome outcome;
  unsigned retry_after_s;
  const char *cred;
  size_t cred_len;

  /* A blocked address is answered before its credentials are even parsed:
   * a flood of guesses costs neither parsing nor a database call. */
  if (http_limiter != NULL &&
      limiter_blocked(http_limiter, &req->limit_key,
                      limiter_now_ms(http_limiter), &retry_after_s)) {
    atomic_fetch_add(&http_stats.auth[AUTH_RATE_LIMITED], 1);
    return http_too_many(conn, req, retry_after_s);
  }
  outcome = auth_check(scan->auth, scan->auth_len, scan->auth_count, &cred,
                       &cred_len);
  /* The credential's first bytes, for the access log. */
  log_escape(req->hint, sizeof req->hint, cred,
             cred_len < TOKEN_HINT_LEN ? cred_len : TOKEN_HINT_LEN);
  if (outcome != AUTH_PENDING)
    return http_authenticated(conn, req, outcome);
  req->item.kind = POOL_VERIFY;
  memcpy(req->item.token, cred, TOKEN_LEN);
  return http_park(conn, req);
}

/* 400 invalid_request (RFC 6749 section 5.2, which RFC 7009 uses) with
 * what was expected. */
static enum MHD_Result http_invalid_request(struct MHD_Connection *conn,
                                            struct http_request *req,
                                            const char *description)
{
  char body[256];

  snprintf(body, sizeof body,
           "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
           description);
  return http_reply(conn, req, MHD_HTTP_BAD_REQUEST, HTTP_JSON, body, NULL, 0);
}

/* /auth: the ability the proxy asks for (?ability=metrics:write), checked
 * before the credentials; none means any valid token will do. */
static enum MHD_Result http_auth_route(struct MHD_Connection *conn,
                                       struct http_request *req,
                                       const struct http_scan *scan)
{
  const char *ability = NULL;
  size_t len = 0;

  if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "ability",
                                    sizeof "ability" - 1, &ability,
                                    &len) == MHD_YES &&
      ability != NULL) {
    if (!auth_ability_valid(ability, len))
      return http_invalid_request(
          conn, req,
          "ability must be a name like metrics:write: segments of a-z, "
          "0-9, _ and - (starting with a-z) joined by :, up to 64 bytes");
    memcpy(req->item.ability, ability, len);
    req->item.ability[len] = '\0';
  }
  return http_protected(conn, req, scan);
}

/* POST /revoke (RFC 7009): token=... in an application/x-www-form-urlencoded
 * body, token_type_hint ignored. Every request counts as a failure for the
 * limiter, and every well-formed one is answered 200 whether or not the
 * token was known, so the route tells a prober nothing and lets it ask
 * only --auth-fail-limit times a window. */
static enum MHD_Result http_revoke(struct MHD_Connection *conn,
                                   struct http_request *req)
{
  char value[HTTP_FORM_VALUE_MAX];
  size_t len = 0;
  unsigned retry_after_s;
  enum form_result fr;

  if (http_limiter != NULL) {
    uint64_t now = limiter_now_ms(http_limiter);
    if (limiter_blocked(http_limiter, &req->limit_key, now, &retry_after_s)) {
      atomic_fetch_add(&http_stats.revoke[HTTP_REVOKE_LIMITED], 1);
      return http_too_many(conn, req, retry_after_s);
    }
    limiter_fail(http_limiter, &req->limit_key, now);
  }
  if (!form_content_type_ok(MHD_lookup_connection_value(
          conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
    atomic_fetch_add(&http_stats.revoke[HTTP_REVOKE_BAD], 1);
    return http_invalid_request(
        conn, req, "the body must be application/x-www-form-urlencoded");
  }
  if (req->body_len > HTTP_REVOKE_BODY_MAX) {
    atomic_fetch_add(&http_stats.revoke[HTTP_REVOKE_BAD], 1);
    return http_invalid_request(conn, req,
                                "the body must be at most 4096 bytes");
  }
  fr = form_get(req->body, req->body != NULL ? req->body_len : 0, "token",
                value, sizeof value, &len);
  if (fr != FORM_OK || len == 0) {
    atomic_fetch_add(&http_stats.revoke[HTTP_REVOKE_BAD], 1);
    explicit_bzero(value, sizeof value);
    return http_invalid_request(conn, req,
                                fr == FORM_REPEATED
                                    ? "the token parameter must be given once"
                                    : "a token parameter is required");
  }
  log_escape(req->hint, sizeof req->hint, value,
             len < TOKEN_HINT_LEN ? len : TOKEN_HINT_LEN);
  if (!token_valid(value, len)) {
    /* Not one of ours: nothing to revoke, and nothing to tell. */
    atomic_fetch_add(&http_stats.revoke[HTTP_REVOKE_NOT_TOKEN], 1);
    explicit_bzero(value, sizeof value);
    return http_reply(conn, req, MHD_HTTP_OK, NULL, NULL, NULL, 0);
  }
  atomic_fetch_add(&http_stats.revoke[HTTP_REVOKE_SENT], 1);
  req->item.kind = POOL_REVOKE;
  memcpy(req->item.token, value, TOKEN_LEN);
  explicit_bzero(value, sizeof value);
  return http_park(conn, req);
}

static enum MHD_Result http_auth_test(struct MHD_Connection *conn,
                                      struct http_request *req)
{
  char body[32 + TOKEN_UUID_LEN];

  snprintf(body, sizeof body, "{\"tenant_id\":\"%s\"}", req->tenant_id);
  return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON, body, NULL, 0);
}

/* For nginx auth_request and Envoy ext_authz: 204 plus the tenant id. */
static enum MHD_Result http_auth_request(struct MHD_Connection *conn,
                                         struct http_request *req)
{
  const struct http_header h[] = {{"X-Tenant-Id", req->tenant_id}};

  return http_reply(conn, req, MHD_HTTP_NO_CONTENT, NULL, NULL, h, 1);
}

static enum MHD_Result http_healthz(struct MHD_Connection *conn,
                                    struct http_request *req)
{
  return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON, "{\"status\":\"ok\"}",
                    NULL, 0);
}

/* Ready when the database answered its last call. A call less than
 * HTTP_READY_FRESH_US old answers at once (under load every batch is one),
 * so probes cost the database at most a ping per that time each when idle;
 * otherwise the pool pings, answered in http_resumed. */
static enum MHD_Result http_readyz(struct MHD_Connection *conn,
                                   struct http_request *req)
{
  if (pool_db_age_us() < HTTP_READY_FRESH_US) {
    req->item.verdict = pool_db_up() == 1 ? POOL_VALID : POOL_DB_ERROR;
    return http_resumed(conn, req);
  }
  req->item.kind = POOL_PING;
  return http_park(conn, req);
}

static enum MHD_Result http_metrics(struct MHD_Connection *conn,
                                    struct http_request *req)
{
  struct metrics_text t = {0};
  struct conns_stats cs;
  enum MHD_Result ret;

  metrics_family(&t, "tenant_authd_requests_total", "counter",
                 "HTTP requests answered, by route and status.");
  for (size_t r = 0; r < HTTP_ROUTE_COUNT; r++) {
    for (unsigned s = 100; s < HTTP_STATUS_MAX; s++) {
      uint64_t n = atomic_load(&http_stats.requests[r][s]);
      if (n > 0)
        metrics_add(&t,
                    "tenant_authd_requests_total{route=\"%s\",code=\"%u\"} "
                    "%llu\n",
                    http_routes[r].label, s, (unsigned long long)n);
    }
  }
  metrics_family(&t, "tenant_authd_auth_total", "counter",
                 "Authentication outcomes on protected routes.");
  for (size_t o = 0; o < AUTH_OUTCOMES; o++)
    metrics_add(&t, "tenant_authd_auth_total{outcome=\"%s\"} %llu\n",
                auth_outcome_names[o],
                (unsigned long long)atomic_load(&http_stats.auth[o]));
  metrics_family(&t, "tenant_authd_invalid_tokens_total", "counter",
                 "Well-formed tokens the database refused (outcome "
                 "invalid), by why.");
  {
    static const char *const why[DB_STATES] = {
        "", "", "unknown", "revoked", "expired", "suspended", "malformed"};
    for (int w = DB_UNKNOWN; w < DB_STATES; w++)
      metrics_add(&t, "tenant_authd_invalid_tokens_total{reason=\"%s\"} %llu\n",
                  why[w],
                  (unsigned long long)atomic_load(&http_stats.invalid[w]));
  }
  metrics_family(&t, "tenant_authd_revoke_total", "counter",
                 "POST /revoke requests, by outcome.");
  for (size_t o = 0; o < HTTP_REVOKE_OUTCOMES; o++)
    metrics_add(&t, "tenant_authd_revoke_total{outcome=\"%s\"} %llu\n",
                http_revoke_names[o],
                (unsigned long long)atomic_load(&http_stats.revoke[o]));
  pool_metrics(&t);
  metrics_gauge(&t, "tenant_authd_db_connections_open",
                "Database connections open: the pool's and the usage "
                "flusher's.",
                db_connections_open());
  metrics_gauge(&t, "tenant_authd_db_up",
                "1 when the last database call worked, 0 when it failed.",
                pool_db_up() == 1);
  metrics_gauge(&t, "tenant_authd_requests_in_flight",
                "Requests begun and not yet completed.",
                atomic_load(&http_in_flight));
  metrics_counter(&t, "tenant_authd_auth_fail_evictions_total",
                  "Addresses dropped from the full failure table to make "
                  "room.",
                  http_limiter != NULL ? limiter_evictions(http_limiter) : 0);
  if (http_usage != NULL) {
    struct flusher_stats fs;

    flusher_get_stats(&fs);
    metrics_gauge(&t, "tenant_authd_usage_pending",
                  "Tokens whose use waits to be written to last_used_at.",
                  (double)usage_pending(http_usage));
    metrics_counter(&t, "tenant_authd_usage_dropped_total",
                    "Token uses not recorded because --usage-max tokens "
                    "were pending.",
                    usage_dropped(http_usage));
    metrics_counter(&t, "tenant_authd_usage_flushes_total",
                    "Usage flushes that wrote everything pending.", fs.flushes);
    metrics_counter(&t, "tenant_authd_usage_flush_failures_total",
                    "Usage flushes that failed and kept their tokens to "
                    "retry.",
                    fs.failures);
    metrics_counter(&t, "tenant_authd_usage_noted_total",
                    "Token uses written by note_tenant_token_use.", fs.noted);
  }
  conns_stats(&cs);
  metrics_gauge(&t, "tenant_authd_connections_open",
                "Client connections open and admitted under "
                "--max-connections.",
                cs.open);
  metrics_counter(&t, "tenant_authd_connections_refused_total",
                  "Connections closed at once because --max-connections "
                  "were open.",
                  cs.refused);
  metrics_counter(&t, "tenant_authd_connections_timed_out_total",
                  "Connections closed for not sending a whole request "
                  "within --idle-timeout.",
                  cs.timed_out);
  if (t.failed || t.data == NULL) {
    metrics_text_free(&t);
    return MHD_NO;
  }
  ret = http_reply(conn, req, MHD_HTTP_OK,
                   "text/plain; version=0.0.4; charset=utf-8", t.data, NULL, 0);
  metrics_text_free(&t);
  return ret;
}

static enum MHD_Result http_not_found(struct MHD_Connection *conn,
                                      struct http_request *req)
{
  return http_reply(conn, req, MHD_HTTP_NOT_FOUND, HTTP_JSON,
                    "{\"error\":\"not_found\",\"error_description\":"
                    "\"no such route\"}",
                    NULL, 0);
}

static enum MHD_Result http_method_not_allowed(struct MHD_Connection *conn,
                                               struct http_request *req)
{
  const bool post = http_routes[req->route].post;
  const struct http_header h[] = {
      {MHD_HTTP_HEADER_ALLOW, post ? HTTP_ALLOW_POST : HTTP_ALLOW}};

  return http_reply(conn, req, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_JSON,
                    post ? "{\"error\":\"method_not_allowed\","
                           "\"error_description\":\"allowed: " HTTP_ALLOW_POST
                           "\"}"
                         : "{\"error\":\"method_not_allowed\","
                           "\"error_description\":\"allowed: " HTTP_ALLOW "\"}",
                    h, 1);
}

/* The conns.c state of conn, NULL when it has none. */
static struct conn *http_conn_state(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

  return ci != NULL ? ci->socket_context : NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: runs on the connection's own worker
 * thread, on STARTED before MHD reads from the socket and on CLOSED before
 * MHD closes it, so shutting the socket down here is safe (conns.h). */
static void http_notify_conn(void *cls, struct MHD_Connection *conn,
                             void **socket_context,
                             enum MHD_ConnectionNotificationCode toe)
{
  const union MHD_ConnectionInfo *ci;

  (void)cls;
  if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    conns_closed(*socket_context);
    *socket_context = NULL;
    return;
  }
  *socket_context = NULL;
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci == NULL)
    return; /* untracked: MHD's own limits still apply */
  *socket_context = conns_opened(ci->connect_fd);
  if (*socket_context == NULL && log_allow(&http_refused_log_limit))
    log_msg(LOG_WARN, "refusing connections: --max-connections %u reached",
            http_cfg->max_connections);
}

/* The first call of a request: allocates its state, answers nothing. */
static enum MHD_Result http_begin(const char *url, const char *method,
                                  void **req_cls)
{
  struct http_request *req = calloc(1, sizeof *req);
  size_t r = 0;

  if (req == NULL)
    return MHD_NO;
  req->start_us = clock_now_us();
  while (http_routes[r].path != NULL && strcmp(http_routes[r].path, url) != 0)
    r++;
  req->route = r;
  if (http_cfg->access_log) {
    log_escape(req->method, sizeof req->method, method, strlen(method));
    log_escape(req->path, sizeof req->path, url, strlen(url));
  }
  atomic_fetch_add(&http_in_flight, 1);
  *req_cls = req;
  return MHD_YES;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn,
                                   const char *url, const char *method,
                                   const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
  struct http_request *req = *req_cls;
  const struct http_route *route;
  struct http_scan scan;
  bool scanned;

  (void)cls;
  (void)version;
  if (req == NULL)
    return http_begin(url, method, req_cls);
  /* MHD takes an answer only once the whole request is in. POST /revoke
   * keeps the first HTTP_REVOKE_BODY_MAX bytes of its body; every other
   * body is dropped; one past HTTP_BODY_MAX closes the connection. */
  if (*upload_data_size != 0) {
    if (http_routes[req->route].post &&
        strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
        req->body_len + *upload_data_size <= HTTP_REVOKE_BODY_MAX) {
      if (req->body == NULL &&
          (req->body = malloc(HTTP_REVOKE_BODY_MAX)) == NULL)
        return MHD_NO;
      memcpy(req->body + req->body_len, upload_data, *upload_data_size);
    }
    req->body_len += *upload_data_size;
    *upload_data_size = 0;
    return req->body_len <= HTTP_BODY_MAX ? MHD_YES : MHD_NO;
  }
  switch (atomic_load_explicit(&req->phase, memory_order_acquire)) {
  case HTTP_RESUMED:
    atomic_store_explicit(&req->phase, HTTP_NEW, memory_order_relaxed);
    return http_resumed(conn, req);
  case HTTP_PARKED:
    return MHD_YES; /* not expected while suspended */
  case HTTP_NEW:
    break;
  }
  if (req->answered)
    return MHD_YES;
  req->answered = true;
  atomic_fetch_add(&http_answering, 1);
  /* The whole request is in: its connection's deadline stops, unless the
   * reaper got there first. */
  if (!conns_busy(http_conn_state(conn)))
    return MHD_NO;
  route = &http_routes[req->route];
  /* Open routes read no header; only the access log wants their client
   * (and the limiter, /revoke's). */
  scanned = http_cfg->access_log ||
            ((route->protected || route->post) && http_limiter != NULL);
  if (scanned) {
    http_scan_headers(conn, &scan);
    http_client(conn, req, &scan);
  }
  if (route->path != NULL &&
      (route->post ? strcmp(method, MHD_HTTP_METHOD_POST) != 0
                   : strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
                         strcmp(method, MHD_HTTP_METHOD_HEAD) != 0))
    return http_method_not_allowed(conn, req);
  if (!route->protected)
    return route->handler(conn, req);
  if (!scanned)
    http_scan_headers(conn, &scan);
  if (req->route == HTTP_ROUTE_AUTH)
    return http_auth_route(conn, req, &scan);
  return http_protected(conn, req, &scan);
}

static void http_completed(void *cls, struct MHD_Connection *conn,
                           void **req_cls, enum MHD_RequestTerminationCode toe)
{
  struct http_request *req = *req_cls;
  uint64_t us;

  (void)cls;
  conns_idle(http_conn_state(conn));
  if (req == NULL)
    return;
  *req_cls = NULL;
  us = clock_since_us(req->start_us);
  if (req->status >= 100 && req->status < HTTP_STATUS_MAX)
    atomic_fetch_add(&http_stats.requests[req->route][req->status], 1);
  if (http_cfg->access_log) {
    /* Who asked: the tenant when known, else the token's first bytes. */
    const char *who_key = "", *who = "";
    if (req->tenant_id[0] != '\0') {
      who_key = " tenant=";
      who = req->tenant_id;
    } else if (req->hint[0] != '\0') {
      who_key = " token=";
      who = req->hint;
    }
    log_msg(LOG_ACCESS, "method=%s path=%s status=%u ms=%.3f%s%s%s%s%s",
            req->method, req->path, req->status, (double)us / 1000.0,
            req->client_text[0] != '\0' ? " client=" : "", req->client_text,
            who_key, who,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
  }
  atomic_fetch_sub(&http_in_flight, 1);
  if (req->answered)
    atomic_fetch_sub(&http_answering, 1);
  /* The token of a protected request was copied here: no copy outlives
   * the request. */
  explicit_bzero(req->item.token, sizeof req->item.token);
  if (req->body != NULL) {
    explicit_bzero(req->body, HTTP_REVOKE_BODY_MAX);
    free(req->body);
  }
  free(req);
}

__attribute__((format(printf, 2, 0))) static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
  char msg[512], safe[512 * 4 + 1];
  size_t n;

  (void)cls;
  if (!log_allow(&http_mhd_log_limit))
    return;
  vsnprintf(msg, sizeof msg, fmt, ap);
  n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  /* MHD's messages may quote a request's path: escaped and cut like every
   * other field, so no token and no forged line gets through. */
  log_escape(safe, sizeof safe, msg, n);
  log_msg(LOG_WARN, "libmicrohttpd: %s", safe);
}

int http_start(const struct cfg *cfg, struct usage_set *usage, char *err,
               size_t err_size)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  unsigned headroom = cfg->max_connections / 10;

  if (headroom < HTTP_CONN_HEADROOM_MIN)
    headroom = HTTP_CONN_HEADROOM_MIN;
  http_cfg = cfg;
  http_usage = usage;
  snprintf(http_retry_after, sizeof http_retry_after, "%u", cfg->retry_after);
  if (client_policy_init(&http_policy, cfg->trusted.net, cfg->trusted.count,
                         cfg->client_ip_header, cfg->ipv6_prefix, err,
                         err_size) != 0)
    return -1;
  if (cfg->auth_fail_limit > 0) {
    http_limiter = limiter_new(cfg->auth_fail_limit, cfg->auth_fail_window,
                               cfg->auth_fail_table, err, err_size);
    if (http_limiter == NULL)
      return -1;
  }
  if (cfg->addr.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (conns_start(cfg->max_connections, cfg->idle_timeout * 1000U, err,
                  err_size) != 0) {
    limiter_free(http_limiter);
    http_limiter = NULL;
    return -1;
  }
  http_daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, http_access, NULL, MHD_OPTION_EXTERNAL_LOGGER,
      http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
      (const struct sockaddr *)&cfg->addr, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned int)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)cfg->idle_timeout, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)(cfg->max_connections + headroom),
      MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, NULL,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->per_ip_connections,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->header_memory,
      MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL, MHD_OPTION_END);
  if (http_daemon == NULL) {
    snprintf(err, err_size, "cannot serve on %s (see the message before)",
             cfg->listen);
    conns_stop();
    limiter_free(http_limiter);
    http_limiter = NULL;
    return -1;
  }
  return 0;
}

unsigned http_stop(void)
{
  const struct timespec tick = {0, 10 * 1000 * 1000};
  uint64_t t0;
  MHD_socket listener;
  unsigned left;

  if (http_daemon == NULL)
    return 0;
  atomic_store(&http_stopping, true);
  /* MHD's worker threads may still look at the listening socket until
   * MHD_stop_daemon returns: it is closed after that. */
  listener = MHD_quiesce_daemon(http_daemon);
  t0 = clock_now_us();
  while (atomic_load(&http_answering) > 0 &&
         clock_since_us(t0) < (uint64_t)http_cfg->shutdown_timeout * 1000000)
    nanosleep(&tick, NULL);
  left = atomic_load(&http_answering);
  /* No connection may stay suspended when MHD stops: the pool answers
   * every parked request (503 for those still queued) and MHD gets a
   * moment to send those answers. */
  pool_stop();
  t0 = clock_now_us();
  while (atomic_load(&http_answering) > 0 &&
         clock_since_us(t0) < HTTP_STOP_FLUSH_US)
    nanosleep(&tick, NULL);
  MHD_stop_daemon(http_daemon);
  http_daemon = NULL;
  if (listener != MHD_INVALID_SOCKET)
    close(listener);
  /* After MHD: every connection has been reported closed by now. */
  conns_stop();
  limiter_free(http_limiter);
  http_limiter = NULL;
  return left;
}
