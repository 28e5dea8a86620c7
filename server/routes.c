/* routes.c: the route table (route.h), as libmicrohttpd's examples keep
 * theirs: one row per path, ending in the 404 entry, each with its start
 * and, when it waits on the pool, resume handler; and the handlers of the
 * routes that need no module of their own. Protected routes (/auth,
 * /api/v1/auth-test) go through guard.c and answer once authenticated;
 * POST /revoke is revoke.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "conns.h"
#include "db.h"
#include "endpoints.h"
#include "flusher.h"
#include "ratesync.h"
#include "route.h"

/* /readyz answers from the last database call when it is this recent. */
#define ROUTES_READY_FRESH_US 1000000

static struct usage_set *routes_usage;  /* NULL: --usage-interval 0 */
static struct tusage *routes_tusage;    /* likewise */
static struct rate_table *routes_rates; /* the rate limits' table */

void routes_init(struct usage_set *usage, struct tusage *tusage,
                 struct rate_table *rates)
{
  routes_usage = usage;
  routes_tusage = tusage;
  routes_rates = rates;
}

/* The decision itself, for a person or a script to read: the tenant, the
 * token id, its abilities and its limits (auth_test_body). */
static enum MHD_Result routes_auth_test_answer(struct MHD_Connection *conn,
                                               struct http_request *req)
{
  char body[ABILITY_SET_MAX * 2 + 512];

  /* A set that does not fit (it cannot: each pattern grows by at most 3
   * bytes) goes as null rather than as no answer. */
  if (auth_test_body(body, sizeof body, &req->item.verdict, req->abilities) <
          0 &&
      auth_test_body(body, sizeof body, &req->item.verdict, NULL) < 0)
    return MHD_NO;
  return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON, body, NULL, 0);
}

static enum MHD_Result routes_auth_test(struct MHD_Connection *conn,
                                        struct http_request *req)
{
  /* For the abilities; without the memory, the answer says null. */
  req->abilities = malloc(ABILITY_SET_MAX + 1);
  req->item.abilities = req->abilities;
  return guard_start_request(conn, req, routes_auth_test_answer);
}

static enum MHD_Result routes_auth_test_resumed(struct MHD_Connection *conn,
                                                struct http_request *req)
{
  return guard_resume(conn, req, routes_auth_test_answer);
}

/* For nginx auth_request, Caddy forward_auth and Traefik ForwardAuth: 204
 * plus the tenant id and the token id, for the gateway to pass on. Envoy's
 * ext_authz HTTP service asks with the client's path after /auth, and lets
 * the request through on 200 only (any other status is a denial): under
 * /auth/, 200. */
static enum MHD_Result routes_auth_answer(struct MHD_Connection *conn,
                                          struct http_request *req)
{
  char token_id[24];
  const struct http_header h[] = {{"X-Tenant-Id", req->tenant_id},
                                  {"X-Token-Id", token_id}};

  snprintf(token_id, sizeof token_id, "%llu",
           (unsigned long long)req->item.verdict.token_id);
  return http_reply(conn, req, req->subpath ? MHD_HTTP_OK : MHD_HTTP_NO_CONTENT,
                    NULL, NULL, h, 2);
}

/* The ability parameters of a query string: how many, and the first
 * one's value (NULL for a bare "?ability"). */
struct routes_ability {
  unsigned count;
  const char *value;
  size_t len;
};

/* MHD_get_connection_values_n's callback: names compared without regard
 * to case, as MHD_lookup_connection_value does. */
static enum MHD_Result routes_ability_one(void *cls, enum MHD_ValueKind kind,
                                          const char *key, size_t key_len,
                                          const char *value, size_t value_len)
{
  static const char name[] = "ability";
  struct routes_ability *a = cls;

  (void)kind;
  if (key_len != sizeof name - 1 || strncasecmp(key, name, key_len) != 0)
    return MHD_YES;
  if (a->count++ == 0) {
    a->value = value;
    a->len = value != NULL ? value_len : 0;
  }
  return MHD_YES;
}

/* /auth: the ability the proxy asks for (?ability=metrics:write), checked
 * before the credentials; none means any valid token will do. One given
 * without a value, or more than once, is refused: read as "none" or as
 * the first, it would let a proxy and this server disagree about what was
 * asked, and the disagreement would fail open. */
static enum MHD_Result routes_auth(struct MHD_Connection *conn,
                                   struct http_request *req)
{
  struct routes_ability a = {0};

  MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, routes_ability_one,
                              &a);
  if (a.count > 1 || (a.count == 1 && a.len == 0))
    return http_invalid_request(conn, req,
                                "ability must be given once, with a value");
  if (a.count == 1) {
    if (!auth_ability_valid(a.value, a.len))
      return http_invalid_request(
          conn, req,
          "ability must be a name like metrics:write: segments of a-z, "
          "0-9, _ and - (starting with a-z) joined by :, up to 64 bytes");
    memcpy(req->item.ability, a.value, a.len);
    req->item.ability[a.len] = '\0';
  }
  return guard_start_request(conn, req, routes_auth_answer);
}

static enum MHD_Result routes_auth_resumed(struct MHD_Connection *conn,
                                           struct http_request *req)
{
  return guard_resume(conn, req, routes_auth_answer);
}

static enum MHD_Result routes_healthz(struct MHD_Connection *conn,
                                      struct http_request *req)
{
  return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON, "{\"status\":\"ok\"}",
                    NULL, 0);
}

static enum MHD_Result routes_ready_answer(struct MHD_Connection *conn,
                                           struct http_request *req, bool ready)
{
  if (ready)
    return http_reply(conn, req, MHD_HTTP_OK, HTTP_JSON,
                      "{\"status\":\"ready\"}", NULL, 0);
  return http_unavailable(conn, req, "{\"status\":\"unavailable\"}");
}

/* Ready when the database answered its last call. A call less than
 * ROUTES_READY_FRESH_US old answers at once (under load every batch is
 * one), so probes cost the database at most a ping per that time each when
 * idle; otherwise the pool pings. */
static enum MHD_Result routes_readyz(struct MHD_Connection *conn,
                                     struct http_request *req)
{
  if (endpoints_age_us() < ROUTES_READY_FRESH_US)
    return routes_ready_answer(conn, req, endpoints_up() == 1);
  req->item.kind = POOL_PING;
  return http_park(conn, req);
}

static enum MHD_Result routes_readyz_resumed(struct MHD_Connection *conn,
                                             struct http_request *req)
{
  return routes_ready_answer(conn, req,
                             req->item.verdict.state == VERDICT_VALID);
}

/* Each module writes its own families, in this order. */
static enum MHD_Result routes_metrics(struct MHD_Connection *conn,
                                      struct http_request *req)
{
  struct metrics_text t = {0};
  enum MHD_Result ret;

  http_metrics_requests(&t);
  guard_metrics(&t);
  revoke_metrics(&t);
  introspect_metrics(&t);
  pool_metrics(&t);
  db_metrics(&t);
  endpoints_metrics_up(&t);
  http_metrics_in_flight(&t);
  http_metrics_client_resets(&t);
  guard_metrics_limiter(&t);
  guard_metrics_rates(&t);
  rate_metrics(&t, routes_rates);
  ratesync_metrics(&t);
  if (routes_usage != NULL) {
    usage_metrics(&t, routes_usage);
    flusher_metrics(&t);
  }
  if (routes_tusage != NULL)
    tusage_metrics(&t, routes_tusage);
  conns_metrics(&t);
  if (t.failed || t.data == NULL) {
    metrics_text_free(&t);
    return MHD_NO;
  }
  ret = http_reply(conn, req, MHD_HTTP_OK,
                   "text/plain; version=0.0.4; charset=utf-8", t.data, NULL, 0);
  metrics_text_free(&t);
  return ret;
}

static enum MHD_Result routes_not_found(struct MHD_Connection *conn,
                                        struct http_request *req)
{
  return http_reply(conn, req, MHD_HTTP_NOT_FOUND, HTTP_JSON,
                    "{\"error\":\"not_found\",\"error_description\":"
                    "\"no such route\"}",
                    NULL, 0);
}

const struct http_route http_routes[] = {
    {"/api/v1/auth-test", "/api/v1/auth-test", HTTP_METHODS_GET, false,
     routes_auth_test, routes_auth_test_resumed},
    /* Any method and any path under it: Envoy keeps the client's. */
    {"/auth", "/auth", HTTP_METHODS_ANY, true, routes_auth,
     routes_auth_resumed},
    {"/healthz", "/healthz", HTTP_METHODS_GET, false, routes_healthz, NULL},
    {"/readyz", "/readyz", HTTP_METHODS_GET, false, routes_readyz,
     routes_readyz_resumed},
    {"/metrics", "/metrics", HTTP_METHODS_GET, false, routes_metrics, NULL},
    {"/revoke", "/revoke", HTTP_METHODS_POST, false, revoke_start,
     revoke_resume},
    {"/introspect", "/introspect", HTTP_METHODS_POST, false, introspect_start,
     introspect_resume},
    {NULL, "other", HTTP_METHODS_GET, false, routes_not_found, NULL},
};

_Static_assert(sizeof http_routes / sizeof http_routes[0] <= HTTP_ROUTES_MAX,
               "http_routes has more rows than HTTP_ROUTES_MAX");
