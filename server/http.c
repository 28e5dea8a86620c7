/* http.c: the libmicrohttpd daemon, the access and completion callbacks,
 * park and resume, and the reply helpers; the routes themselves are rows of
 * http_routes (route.h, routes.c). Terms: a "request" is the struct
 * http_request MHD keeps in *req_cls from the first access-handler call to the
 * completion callback; a "protected" route authenticates first (auth.h), which
 * binds the tenant id to the request; a request is "parked" while its
 * connection is suspended and its pool item (pool.h) waits for the database,
 * and "resumed" by the pool's done callback, after which MHD calls the access
 * handler again and the answer is queued. A worker thread never waits on the
 * database.
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
 * A POST route (POST /revoke) is the only kind that reads a body: at most
 * HTTP_BODY_KEEP bytes are kept for its start handler. */
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

#include "clock.h"
#include "conns.h"
#include "log.h"
#include "route.h"

#define HTTP_ALLOW "GET, HEAD"
#define HTTP_ALLOW_POST "POST"
#define HTTP_STATUS_MAX 600
#define HTTP_BODY_MAX 65536 /* request body bytes dropped before closing */
/* MHD's own connection limit is ours plus this headroom (at least
 * HTTP_CONN_HEADROOM_MIN, else a tenth of ours), so that it keeps
 * accepting past our limit and conns.c can refuse at once what would
 * otherwise wait unanswered in the listen backlog. */
#define HTTP_CONN_HEADROOM_MIN 64
/* After the pool has answered every parked request on shutdown, the time
 * left for MHD to send those answers before it stops (http_stop). */
#define HTTP_STOP_FLUSH_US 1000000

/* Requests answered, by route and status. */
static atomic_uint_fast64_t http_requests[HTTP_ROUTES_MAX][HTTP_STATUS_MAX];
static struct MHD_Daemon *http_daemon;
static MHD_socket http_listener = MHD_INVALID_SOCKET; /* after http_drain */
static const struct cfg *http_cfg;
static struct client_policy http_policy; /* set by http_start */
static char http_retry_after_text[16];
static atomic_bool http_stopping;
static atomic_uint http_in_flight;
/* Requests whose whole request has arrived and that are being answered
 * (parked ones included): what a shutdown waits for, not clients still
 * sending a request. */
static atomic_uint http_answering;
/* Connections the client reset while MHD read or answered (http_mhd_log). */
static atomic_uint_fast64_t http_client_resets;
static struct log_limit http_mhd_log_limit = {.per_second = 10};
static struct log_limit http_refused_log_limit = {.per_second = 1};

/* Queues a response: status, optional body with its type, extra headers.
 * Every response says Cache-Control: no-store; while stopping, every
 * response also closes its connection. */
enum MHD_Result http_reply(struct MHD_Connection *conn,
                           struct http_request *req, unsigned status,
                           const char *type, const char *body,
                           const struct http_header *headers, size_t n_headers)
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
  for (size_t i = 0; ok && i < req->n_extra; i++)
    ok = MHD_add_response_header(resp, req->extra[i].name,
                                 req->extra[i].value) == MHD_YES;
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

bool http_add_header(struct http_request *req, const char *name,
                     const char *value)
{
  struct http_extra *x;

  if (req->n_extra >= HTTP_EXTRA_MAX)
    return false;
  x = &req->extra[req->n_extra++];
  x->name = name;
  snprintf(x->value, sizeof x->value, "%s", value);
  return true;
}

enum MHD_Result http_unavailable(struct MHD_Connection *conn,
                                 struct http_request *req, const char *body)
{
  const struct http_header h[] = {
      {MHD_HTTP_HEADER_RETRY_AFTER, http_retry_after_text}};

  return http_reply(conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, HTTP_JSON, body, h,
                    1);
}

enum MHD_Result http_invalid_request(struct MHD_Connection *conn,
                                     struct http_request *req,
                                     const char *description)
{
  char body[256];

  snprintf(body, sizeof body,
           "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
           description);
  return http_reply(conn, req, MHD_HTTP_BAD_REQUEST, HTTP_JSON, body, NULL, 0);
}

const char *http_retry_after(void)
{
  return http_retry_after_text;
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

/* One pass over the request headers, the first time they are asked for.
 * MHD hands repeated headers over one by one, in the order they came. */
const struct http_scan *http_headers(struct MHD_Connection *conn,
                                     struct http_request *req)
{
  if (!req->scanned) {
    memset(&req->scan, 0, sizeof req->scan);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_scan_one,
                                &req->scan);
    req->scanned = true;
  }
  return &req->scan;
}

/* A peer MHD cannot name counts as the address "::". */
void http_client(struct MHD_Connection *conn, struct http_request *req)
{
  const union MHD_ConnectionInfo *ci;
  const struct http_scan *scan;
  struct client_addr peer;

  if (req->have_client)
    return;
  req->have_client = true;
  scan = http_headers(conn, req);
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  memset(&peer, 0, sizeof peer);
  if (ci != NULL)
    (void)client_addr_from_sockaddr(&peer, ci->client_addr);
  (void)client_pick(&req->client, &peer, &http_policy, &scan->fwd);
  client_key(&req->limit_key, &req->client, &http_policy);
  if (http_cfg->access_log)
    client_addr_format(&req->client, req->client_text, sizeof req->client_text);
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
 * the queue refuses it, the request is resumed at once: VERDICT_TIMEOUT
 * (overloaded) for a full queue, VERDICT_STOPPING while shutting down. */
enum MHD_Result http_park(struct MHD_Connection *conn, struct http_request *req)
{
  req->conn = conn;
  req->item.done = http_item_done;
  atomic_store_explicit(&req->phase, HTTP_PARKED, memory_order_relaxed);
  MHD_suspend_connection(conn);
  switch (pool_submit(&req->item)) {
  case POOL_QUEUED:
    break;
  case POOL_FULL:
    req->item.verdict.state = VERDICT_TIMEOUT;
    http_item_done(&req->item);
    break;
  case POOL_CLOSED:
    req->item.verdict.state = VERDICT_STOPPING;
    http_item_done(&req->item);
    break;
  }
  return MHD_YES;
}

void http_metrics_requests(struct metrics_text *t)
{
  metrics_family(t, "tenant_authd_requests_total", "counter",
                 "HTTP requests answered, by route and status.");
  for (size_t r = 0;; r++) {
    for (unsigned s = 100; s < HTTP_STATUS_MAX; s++) {
      uint64_t n = atomic_load(&http_requests[r][s]);
      if (n > 0)
        metrics_add(t,
                    "tenant_authd_requests_total{route=\"%s\",code=\"%u\"} "
                    "%llu\n",
                    http_routes[r].label, s, (unsigned long long)n);
    }
    if (http_routes[r].path == NULL)
      break; /* the 404 entry ends the table */
  }
}

void http_metrics_in_flight(struct metrics_text *t)
{
  metrics_gauge(t, "tenant_authd_requests_in_flight",
                "Requests begun and not yet completed.",
                atomic_load(&http_in_flight));
}

void http_metrics_client_resets(struct metrics_text *t)
{
  metrics_counter(t, "tenant_authd_client_resets_total",
                  "Connections the client reset while a request was read "
                  "or answered.",
                  atomic_load(&http_client_resets));
}

static enum MHD_Result http_method_not_allowed(struct MHD_Connection *conn,
                                               struct http_request *req)
{
  const bool post = http_routes[req->route].methods == HTTP_METHODS_POST;
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

static bool http_method_allowed(enum http_methods methods, const char *method)
{
  switch (methods) {
  case HTTP_METHODS_GET:
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  case HTTP_METHODS_POST:
    return strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  case HTTP_METHODS_ANY:
    break;
  }
  return true;
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
  for (; http_routes[r].path != NULL; r++) {
    size_t n = strlen(http_routes[r].path);
    if (strncmp(http_routes[r].path, url, n) != 0)
      continue;
    if (url[n] == '\0')
      break;
    if (url[n] == '/' && http_routes[r].subpaths) {
      req->subpath = true;
      break;
    }
  }
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

  (void)cls;
  (void)version;
  if (req == NULL)
    return http_begin(url, method, req_cls);
  /* MHD takes an answer only once the whole request is in. A POST route
   * keeps the first HTTP_BODY_KEEP bytes of its body; every other body is
   * dropped; one past HTTP_BODY_MAX closes the connection. */
  if (*upload_data_size != 0) {
    if (http_routes[req->route].methods == HTTP_METHODS_POST &&
        strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
        req->body_len + *upload_data_size <= HTTP_BODY_KEEP) {
      if (req->body == NULL && (req->body = malloc(HTTP_BODY_KEEP)) == NULL)
        return MHD_NO;
      memcpy(req->body + req->body_len, upload_data, *upload_data_size);
    }
    req->body_len += *upload_data_size;
    *upload_data_size = 0;
    return req->body_len <= HTTP_BODY_MAX ? MHD_YES : MHD_NO;
  }
  route = &http_routes[req->route];
  switch (atomic_load_explicit(&req->phase, memory_order_acquire)) {
  case HTTP_RESUMED:
    atomic_store_explicit(&req->phase, HTTP_NEW, memory_order_relaxed);
    return route->resume(conn, req);
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
  /* Only the access log wants every request's client; the limiter asks
   * for it itself (guard.c). */
  if (http_cfg->access_log)
    http_client(conn, req);
  if (route->path != NULL && !http_method_allowed(route->methods, method))
    return http_method_not_allowed(conn, req);
  return route->start(conn, req);
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
    atomic_fetch_add(&http_requests[req->route][req->status], 1);
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
    explicit_bzero(req->body, HTTP_BODY_KEEP);
    free(req->body);
  }
  if (req->abilities != NULL) {
    free(req->abilities);
  }
  free(req);
}

/* True when an MHD message says the client reset or closed the connection
 * under it: "The connection was forcibly closed by remote peer"
 * (ECONNRESET) or "The socket is no longer available for sending" (EPIPE),
 * the errors MHD names when a read or a send fails so. */
static bool http_mhd_client_reset(const char *msg)
{
  return strstr(msg, "forcibly closed by remote peer") != NULL ||
         strstr(msg, "no longer available for sending") != NULL;
}

/* MHD's messages are warnings, at most http_mhd_log_limit a second, but
 * a client's reset, which is only counted. */
__attribute__((format(printf, 2, 0))) static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
  char msg[512], safe[512 * 4 + 1];
  size_t n;

  (void)cls;
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (http_mhd_client_reset(msg)) {
    atomic_fetch_add(&http_client_resets, 1);
    return;
  }
  if (!log_allow(&http_mhd_log_limit))
    return;
  n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  /* MHD's messages may quote a request's path: escaped and cut like every
   * other field, so no token and no forged line gets through; being the
   * end of the line, they keep their spaces. */
  log_escape_text(safe, sizeof safe, msg, n);
  log_msg(LOG_WARN, "libmicrohttpd: %s", safe);
}

int http_start(const struct cfg *cfg, struct usage_set *usage,
               struct tusage *tusage, struct rate_table *rates, char *err,
               size_t err_size)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  unsigned headroom = cfg->max_connections / 10;

  if (headroom < HTTP_CONN_HEADROOM_MIN)
    headroom = HTTP_CONN_HEADROOM_MIN;
  http_cfg = cfg;
  routes_init(usage, tusage, rates);
  introspect_route_init(cfg);
  snprintf(http_retry_after_text, sizeof http_retry_after_text, "%u",
           cfg->retry_after);
  if (client_policy_init(&http_policy, cfg->trusted.net, cfg->trusted.count,
                         cfg->client_ip_header, cfg->ipv6_prefix, err,
                         err_size) != 0)
    return -1;
  if (guard_start(cfg, usage, tusage, rates, err, err_size) != 0)
    return -1;
  if (cfg->addr.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (conns_start(cfg->max_connections, cfg->idle_timeout * 1000U, err,
                  err_size) != 0) {
    guard_stop();
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
    guard_stop();
    return -1;
  }
  return 0;
}

/* Waits up to us microseconds for every request being answered to end. */
static void http_wait_answered(uint64_t us)
{
  const struct timespec tick = {0, 10 * 1000 * 1000};
  uint64_t t0 = clock_now_us();

  while (atomic_load(&http_answering) > 0 && clock_since_us(t0) < us)
    nanosleep(&tick, NULL);
}

unsigned http_drain(void)
{
  if (http_daemon == NULL)
    return 0;
  atomic_store(&http_stopping, true);
  /* MHD's worker threads may still look at the listening socket until
   * MHD_stop_daemon returns: it is closed after that. */
  http_listener = MHD_quiesce_daemon(http_daemon);
  http_wait_answered((uint64_t)http_cfg->shutdown_timeout * 1000000);
  return atomic_load(&http_answering);
}

void http_stop(void)
{
  if (http_daemon == NULL)
    return;
  /* The pool has answered every parked request by now (503 for those
   * still queued): MHD gets a moment to send those answers. */
  http_wait_answered(HTTP_STOP_FLUSH_US);
  MHD_stop_daemon(http_daemon);
  http_daemon = NULL;
  if (http_listener != MHD_INVALID_SOCKET)
    close(http_listener);
  http_listener = MHD_INVALID_SOCKET;
  /* After MHD: every connection has been reported closed by now. */
  conns_stop();
  guard_stop();
}
