/* http.c: libmicrohttpd callbacks, the route table and the auth middleware.
 * Terms: a "request" is the struct http_request MHD keeps in *req_cls from
 * the first access-handler call to the completion callback; a "protected"
 * route runs http_authenticate first, which binds the tenant id to the
 * request; an "outcome" is how authentication ended, counted in /metrics;
 * a "failure" is an outcome answered 401 or 400, counted by the limiter
 * against the request's client address (see client.h), which decides a 429
 * before anything else is read.
 *
 * The access handler answers on its second call, never its first: MHD
 * closes the connection after a response queued on the first call, which
 * would defeat HTTP/1.1 keep-alive.
 *
 * Each connection also has the state conns.c keeps in MHD's socket
 * context: the connection limit and the deadline for its next request. A
 * request is "in" when the access handler is about to answer it (headers
 * and any body received), which marks the connection busy; the completion
 * callback marks it waiting again. */
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

#include "bearer.h"
#include "client.h"
#include "clock.h"
#include "conns.h"
#include "db.h"
#include "flusher.h"
#include "limiter.h"
#include "log.h"
#include "token.h"
#include "usage.h"

#define HTTP_JSON "application/json"
#define HTTP_ALLOW "GET, HEAD"
#define HTTP_REALM "Bearer realm=\"tenant_auth\""
#define HTTP_STATUS_MAX 600
#define HTTP_PATH_LOG_MAX 256
#define HTTP_BODY_MAX 65536 /* request body bytes dropped before closing */
/* MHD's own connection limit is ours plus this headroom (at least
 * HTTP_CONN_HEADROOM_MIN, else a tenth of ours), so that it keeps
 * accepting past our limit and conns.c can refuse at once what would
 * otherwise wait unanswered in the listen backlog. */
#define HTTP_CONN_HEADROOM_MIN 64

enum http_outcome {
  AUTH_OK,
  AUTH_MISSING,      /* no Authorization header, or another scheme */
  AUTH_INVALID,      /* well-formed, but unknown, revoked or expired */
  AUTH_MALFORMED,    /* empty, or rejected by token_valid: no database call */
  AUTH_DB_ERROR,     /* the database did not answer: 503 */
  AUTH_BAD_REQUEST,  /* more than one Authorization header: 400 */
  AUTH_RATE_LIMITED, /* the client address is blocked: 429, nothing read */
  AUTH_OUTCOMES
};

static const char *const http_outcome_names[AUTH_OUTCOMES] = {
    "ok",       "missing",         "invalid",     "malformed",
    "db_error", "invalid_request", "rate_limited"};

struct http_request {
  uint64_t start_us; /* clock_now_us() at the first call */
  size_t route;      /* index into http_routes */
  unsigned status;   /* 0 until a response is queued */
  bool answered;
  size_t body_len;                    /* bytes of request body dropped so far */
  char tenant_id[TOKEN_UUID_LEN + 1]; /* set once authenticated */
  char hint[TOKEN_HINT_LEN * 4 + 1];  /* the token's first bytes, escaped */
  struct client_addr client;          /* set by http_client */
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
  struct client_headers fwd; /* X-Real-IP and X-Forwarded-For */
};

typedef enum MHD_Result (*http_handler)(struct MHD_Connection *conn,
                                        struct http_request *req);

struct http_route {
  const char *path; /* NULL: the 404 entry, which matches anything */
  const char *label;
  bool protected;
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

#define HTTP_ROUTE_COUNT 6
static const struct http_route http_routes[HTTP_ROUTE_COUNT] = {
    {"/api/v1/auth-test", "/api/v1/auth-test", true, http_auth_test},
    {"/auth", "/auth", true, http_auth_request},
    {"/healthz", "/healthz", false, http_healthz},
    {"/readyz", "/readyz", false, http_readyz},
    {"/metrics", "/metrics", false, http_metrics},
    {NULL, "other", false, http_not_found},
};

/* Upper bounds of the database latency histogram, in microseconds, and the
 * same bounds as Prometheus "le" labels, in seconds. */
#define HTTP_DB_BUCKETS 13
static const uint64_t http_db_bucket_us[HTTP_DB_BUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,  50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const http_db_bucket_le[HTTP_DB_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5"};

static struct {
  atomic_uint_fast64_t requests[HTTP_ROUTE_COUNT][HTTP_STATUS_MAX];
  atomic_uint_fast64_t auth[AUTH_OUTCOMES];
  atomic_uint_fast64_t db_bucket[HTTP_DB_BUCKETS + 1]; /* last: +Inf only */
  atomic_uint_fast64_t db_sum_us;
  atomic_uint_fast64_t db_count;
} http_stats;

static struct MHD_Daemon *http_daemon;
static const struct cfg *http_cfg;
static struct limiter *http_limiter; /* NULL: --auth-fail-limit 0 */
static struct usage_set *http_usage; /* NULL: --usage-interval 0 */
static char http_retry_after[16];
static atomic_bool http_stopping;
static atomic_uint http_in_flight;
/* Requests whose whole request has arrived and that are being answered: what
 * a shutdown waits for (not clients still sending a request). */
static atomic_uint http_answering;
static atomic_int http_db_up = -1; /* -1 unknown, 0 down, 1 up */
static struct log_limit http_mhd_log_limit = {.per_second = 10};
static struct log_limit http_refused_log_limit = {.per_second = 1};

/* Logs when the database goes from answering to not answering or back:
 * one line per change, never one per failed request. */
static void http_note_db(enum db_result r, const char *err)
{
  int up = r == DB_OK || r == DB_NO_TENANT;
  int was;

  if (r == DB_BACKOFF)
    return;
  was = atomic_exchange(&http_db_up, up);
  if (was == up)
    return;
  if (up)
    log_msg(LOG_INFO, "database available");
  else
    log_msg(LOG_WARN, "database unavailable: %s", err);
}

static void http_observe_db(uint64_t us)
{
  size_t b = 0;

  while (b < HTTP_DB_BUCKETS && us > http_db_bucket_us[b])
    b++;
  atomic_fetch_add(&http_stats.db_bucket[b], 1);
  atomic_fetch_add(&http_stats.db_sum_us, us);
  atomic_fetch_add(&http_stats.db_count, 1);
}

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
  struct client_headers *fwd = &scan->fwd;

  (void)kind;
  if (http_name_is(key, key_len, MHD_HTTP_HEADER_AUTHORIZATION)) {
    if (scan->auth_count++ == 0) {
      scan->auth = value;
      scan->auth_len = value_len;
    }
  } else if (http_name_is(key, key_len, "X-Real-IP")) {
    if (fwd->real_ip_count++ == 0) {
      fwd->real_ip = value;
      fwd->real_ip_len = value_len;
    }
  } else if (http_name_is(key, key_len, "X-Forwarded-For")) {
    client_headers_add_xff(fwd, value, value_len);
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
  (void)client_resolve(&req->client, &peer, http_cfg->trusted.net,
                       http_cfg->trusted.count, &scan->fwd);
  if (http_cfg->access_log)
    client_addr_format(&req->client, req->client_text, sizeof req->client_text);
}

/* Records that a token verified, for the flusher to write later: its hash
 * goes into the usage set, or is counted as dropped when the set is full. A
 * hashing failure loses one usage record, never the request. */
static void http_note_use(const char *token, size_t token_len)
{
  uint8_t hash[TOKEN_HASH_LEN];

  if (http_usage == NULL)
    return;
  if (token_sha256(token, token_len, hash) == 0)
    (void)usage_add(http_usage, hash);
}

/* The middleware: reads the bearer token, rejects a malformed one without
 * touching the database, else asks the database for the tenant. A repeated
 * Authorization header is refused whatever its values: RFC 7230 section 3.2.2
 * forbids combining them, and picking one would let a proxy and this server
 * disagree about the credentials. */
static enum http_outcome http_authenticate(struct http_request *req,
                                           const struct http_scan *scan)
{
  const char *token;
  size_t token_len;
  char err[256];
  uint64_t t0;
  enum db_result r;

  if (scan->auth_count > 1)
    return AUTH_BAD_REQUEST;
  switch (http_bearer_parse(scan->auth, scan->auth_len, &token, &token_len)) {
  case BEARER_NONE:
    return AUTH_MISSING;
  case BEARER_EMPTY:
    return AUTH_MALFORMED;
  case BEARER_TOKEN:
    break;
  }
  log_escape(req->hint, sizeof req->hint, token,
             token_len < TOKEN_HINT_LEN ? token_len : TOKEN_HINT_LEN);
  if (!token_valid(token, token_len))
    return AUTH_MALFORMED;
  t0 = clock_now_us();
  r = db_verify(token, token_len, req->tenant_id, err, sizeof err);
  if (r != DB_BACKOFF)
    http_observe_db(clock_since_us(t0));
  http_note_db(r, err);
  switch (r) {
  case DB_OK:
    http_note_use(token, token_len);
    return AUTH_OK;
  case DB_NO_TENANT:
    return AUTH_INVALID;
  case DB_ERROR:
  case DB_BACKOFF:
    break;
  }
  req->tenant_id[0] = '\0';
  return AUTH_DB_ERROR;
}

static enum MHD_Result http_deny(struct MHD_Connection *conn,
                                 struct http_request *req,
                                 enum http_outcome outcome)
{
  static const struct http_header missing[] = {
      {MHD_HTTP_HEADER_WWW_AUTHENTICATE, HTTP_REALM}};
  static const struct http_header invalid[] = {
      {MHD_HTTP_HEADER_WWW_AUTHENTICATE,
       HTTP_REALM ", error=\"invalid_token\""}};
  static const struct http_header bad_request[] = {
      {MHD_HTTP_HEADER_WWW_AUTHENTICATE,
       HTTP_REALM ", error=\"invalid_request\""}};

  switch (outcome) {
  case AUTH_MISSING:
    return http_reply(conn, req, MHD_HTTP_UNAUTHORIZED, HTTP_JSON,
                      "{\"error\":\"unauthorized\",\"error_description\":"
                      "\"bearer credentials required\"}",
                      missing, 1);
  case AUTH_INVALID:
  case AUTH_MALFORMED:
    return http_reply(conn, req, MHD_HTTP_UNAUTHORIZED, HTTP_JSON,
                      "{\"error\":\"invalid_token\",\"error_description\":"
                      "\"the token is malformed, unknown, revoked or "
                      "expired\"}",
                      invalid, 1);
  case AUTH_BAD_REQUEST:
    return http_reply(conn, req, MHD_HTTP_BAD_REQUEST, HTTP_JSON,
                      "{\"error\":\"invalid_request\",\"error_description\":"
                      "\"more than one Authorization header\"}",
                      bad_request, 1);
  case AUTH_DB_ERROR:
  case AUTH_OK:
  case AUTH_RATE_LIMITED:
  case AUTH_OUTCOMES:
    break;
  }
  return http_unavailable(conn, req,
                          "{\"error\":\"unavailable\",\"error_description\":"
                          "\"the database is unavailable; retry later\"}");
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

static enum MHD_Result http_readyz(struct MHD_Connection *conn,
                                   struct http_request *req)
{
  char err[256];
  enum db_result r = db_ping(err, sizeof err);

  http_note_db(r, err);
  if (r == DB_OK)
    return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON,
                      "{\"status\":\"ready\"}", NULL, 0);
  return http_unavailable(conn, req, "{\"status\":\"unavailable\"}");
}

/* A growing text buffer for /metrics; failed is set on any allocation
 * failure, after which appends do nothing. */
struct http_text {
  char *data;
  size_t len, cap;
  bool failed;
};

__attribute__((format(printf, 2, 3))) static void
http_text_add(struct http_text *t, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (t->failed)
    return;
  for (;;) {
    size_t room = t->cap - t->len;
    va_start(ap, fmt);
    n = vsnprintf(t->data + t->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->failed = true;
      return;
    }
    if ((size_t)n < room) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap * 2 + (size_t)n + 1;
    char *p = realloc(t->data, cap);
    if (p == NULL) {
      t->failed = true;
      return;
    }
    t->data = p;
    t->cap = cap;
  }
}

static enum MHD_Result http_metrics(struct MHD_Connection *conn,
                                    struct http_request *req)
{
  struct http_text t = {NULL, 0, 0, false};
  struct conns_stats cs;
  uint64_t cumulative = 0;
  enum MHD_Result ret;

  t.cap = 8192;
  t.data = malloc(t.cap);
  if (t.data == NULL)
    return MHD_NO;
  http_text_add(&t, "# HELP tenant_authd_requests_total HTTP requests "
                    "answered, by route and status.\n"
                    "# TYPE tenant_authd_requests_total counter\n");
  for (size_t r = 0; r < HTTP_ROUTE_COUNT; r++) {
    for (unsigned s = 100; s < HTTP_STATUS_MAX; s++) {
      uint64_t n = atomic_load(&http_stats.requests[r][s]);
      if (n > 0)
        http_text_add(&t,
                      "tenant_authd_requests_total{route=\"%s\",code=\"%u\"} "
                      "%llu\n",
                      http_routes[r].label, s, (unsigned long long)n);
    }
  }
  http_text_add(&t, "# HELP tenant_authd_auth_total Authentication outcomes "
                    "on protected routes.\n"
                    "# TYPE tenant_authd_auth_total counter\n");
  for (size_t o = 0; o < AUTH_OUTCOMES; o++)
    http_text_add(&t, "tenant_authd_auth_total{outcome=\"%s\"} %llu\n",
                  http_outcome_names[o],
                  (unsigned long long)atomic_load(&http_stats.auth[o]));
  http_text_add(&t, "# HELP tenant_authd_db_call_duration_seconds Time of "
                    "each verify_tenant_token call, connecting included.\n"
                    "# TYPE tenant_authd_db_call_duration_seconds "
                    "histogram\n");
  for (size_t b = 0; b <= HTTP_DB_BUCKETS; b++) {
    cumulative += atomic_load(&http_stats.db_bucket[b]);
    http_text_add(&t,
                  "tenant_authd_db_call_duration_seconds_bucket{le=\"%s\"} "
                  "%llu\n",
                  b < HTTP_DB_BUCKETS ? http_db_bucket_le[b] : "+Inf",
                  (unsigned long long)cumulative);
  }
  http_text_add(&t,
                "tenant_authd_db_call_duration_seconds_sum %.6f\n"
                "tenant_authd_db_call_duration_seconds_count %llu\n",
                (double)atomic_load(&http_stats.db_sum_us) / 1e6,
                (unsigned long long)atomic_load(&http_stats.db_count));
  http_text_add(&t,
                "# HELP tenant_authd_db_connections_open Database "
                "connections open: one at most per worker thread, and the usage "
                "flusher's.\n"
                "# TYPE tenant_authd_db_connections_open gauge\n"
                "tenant_authd_db_connections_open %u\n"
                "# HELP tenant_authd_db_up 1 when the last database call "
                "worked, 0 when it failed.\n"
                "# TYPE tenant_authd_db_up gauge\n"
                "tenant_authd_db_up %d\n"
                "# HELP tenant_authd_requests_in_flight Requests begun and "
                "not yet completed.\n"
                "# TYPE tenant_authd_requests_in_flight gauge\n"
                "tenant_authd_requests_in_flight %u\n"
                "# HELP tenant_authd_auth_fail_evictions_total Addresses "
                "dropped from the full failure table to make room.\n"
                "# TYPE tenant_authd_auth_fail_evictions_total counter\n"
                "tenant_authd_auth_fail_evictions_total %llu\n",
                db_connections_open(), atomic_load(&http_db_up) == 1,
                atomic_load(&http_in_flight),
                http_limiter != NULL
                    ? (unsigned long long)limiter_evictions(http_limiter)
                    : 0ULL);
  if (http_usage != NULL) {
    struct flusher_stats fs;

    flusher_get_stats(&fs);
    http_text_add(
        &t,
        "# HELP tenant_authd_usage_pending Tokens whose use waits to be "
        "written to last_used_at.\n"
        "# TYPE tenant_authd_usage_pending gauge\n"
        "tenant_authd_usage_pending %zu\n"
        "# HELP tenant_authd_usage_dropped_total Token uses not recorded "
        "because --usage-max tokens were pending.\n"
        "# TYPE tenant_authd_usage_dropped_total counter\n"
        "tenant_authd_usage_dropped_total %llu\n"
        "# HELP tenant_authd_usage_flushes_total Usage flushes that wrote "
        "everything pending.\n"
        "# TYPE tenant_authd_usage_flushes_total counter\n"
        "tenant_authd_usage_flushes_total %llu\n"
        "# HELP tenant_authd_usage_flush_failures_total Usage flushes that "
        "failed and kept their tokens to retry.\n"
        "# TYPE tenant_authd_usage_flush_failures_total counter\n"
        "tenant_authd_usage_flush_failures_total %llu\n"
        "# HELP tenant_authd_usage_noted_total Token uses written by "
        "note_tenant_token_use.\n"
        "# TYPE tenant_authd_usage_noted_total counter\n"
        "tenant_authd_usage_noted_total %llu\n",
        usage_pending(http_usage),
        (unsigned long long)usage_dropped(http_usage),
        (unsigned long long)fs.flushes, (unsigned long long)fs.failures,
        (unsigned long long)fs.noted);
  }
  conns_stats(&cs);
  http_text_add(&t,
                "# HELP tenant_authd_connections_open Client connections "
                "open and admitted under --max-connections.\n"
                "# TYPE tenant_authd_connections_open gauge\n"
                "tenant_authd_connections_open %u\n"
                "# HELP tenant_authd_connections_refused_total Connections "
                "closed at once because --max-connections were open.\n"
                "# TYPE tenant_authd_connections_refused_total counter\n"
                "tenant_authd_connections_refused_total %llu\n"
                "# HELP tenant_authd_connections_timed_out_total Connections "
                "closed for not sending a whole request within "
                "--idle-timeout.\n"
                "# TYPE tenant_authd_connections_timed_out_total counter\n"
                "tenant_authd_connections_timed_out_total %llu\n",
                cs.open, (unsigned long long)cs.refused,
                (unsigned long long)cs.timed_out);
  if (t.failed) {
    free(t.data);
    return MHD_NO;
  }
  ret = http_reply(conn, req, MHD_HTTP_OK,
                   "text/plain; version=0.0.4; charset=utf-8", t.data, NULL, 0);
  free(t.data);
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
  const struct http_header h[] = {{MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW}};

  return http_reply(conn, req, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_JSON,
                    "{\"error\":\"method_not_allowed\",\"error_description\":"
                    "\"allowed: " HTTP_ALLOW "\"}",
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
  enum http_outcome outcome;
  struct http_scan scan;
  unsigned retry_after_s;
  bool scanned;

  (void)cls;
  (void)version;
  (void)upload_data;
  if (req == NULL)
    return http_begin(url, method, req_cls);
  /* No route reads a body, and MHD takes an answer only once the whole
   * request is in: a body is dropped, and one too big closes the
   * connection. */
  if (*upload_data_size != 0) {
    req->body_len += *upload_data_size;
    *upload_data_size = 0;
    return req->body_len <= HTTP_BODY_MAX ? MHD_YES : MHD_NO;
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
  /* Open routes read no header; only the access log wants their client. */
  scanned = http_cfg->access_log || (route->protected && http_limiter != NULL);
  if (scanned) {
    http_scan_headers(conn, &scan);
    http_client(conn, req, &scan);
  }
  if (route->path != NULL && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return http_method_not_allowed(conn, req);
  if (!route->protected)
    return route->handler(conn, req);
  if (!scanned)
    http_scan_headers(conn, &scan);
  /* A blocked address is answered before its credentials are even parsed:
   * a flood of guesses costs neither parsing nor a database call. */
  if (http_limiter != NULL &&
      limiter_blocked(http_limiter, &req->client, limiter_now_ms(http_limiter),
                      &retry_after_s)) {
    atomic_fetch_add(&http_stats.auth[AUTH_RATE_LIMITED], 1);
    return http_too_many(conn, req, retry_after_s);
  }
  outcome = http_authenticate(req, &scan);
  atomic_fetch_add(&http_stats.auth[outcome], 1);
  if (outcome == AUTH_OK)
    return route->handler(conn, req);
  if (http_limiter != NULL && outcome != AUTH_DB_ERROR)
    limiter_fail(http_limiter, &req->client, limiter_now_ms(http_limiter));
  return http_deny(conn, req, outcome);
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
  free(req);
}

__attribute__((format(printf, 2, 0))) static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
  char msg[512];
  size_t n;

  (void)cls;
  if (!log_allow(&http_mhd_log_limit))
    return;
  vsnprintf(msg, sizeof msg, fmt, ap);
  n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  log_msg(LOG_WARN, "libmicrohttpd: %s", msg);
}

int http_start(const struct cfg *cfg, struct usage_set *usage, char *err,
               size_t err_size)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  unsigned headroom = cfg->max_connections / 10;
  char db_err[256];
  enum db_result r;

  if (headroom < HTTP_CONN_HEADROOM_MIN)
    headroom = HTTP_CONN_HEADROOM_MIN;
  http_cfg = cfg;
  http_usage = usage;
  snprintf(http_retry_after, sizeof http_retry_after, "%u", cfg->retry_after);
  if (cfg->auth_fail_limit > 0) {
    http_limiter = limiter_new(cfg->auth_fail_limit, cfg->auth_fail_window,
                               cfg->auth_fail_table, err, err_size);
    if (http_limiter == NULL)
      return -1;
  }
  /* The probe runs on this thread's own connection, closed right after. */
  r = db_ping(db_err, sizeof db_err);
  http_note_db(r, db_err);
  db_thread_close();
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
