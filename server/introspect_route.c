/* introspect_route.c: POST /introspect (RFC 7662) for the introspection
 * clients of the option file (introspect.h), on the route table
 * (route.h). In order: a blocked address gets 429 before anything is
 * read; then the caller authenticates with HTTP Basic (401 and the Basic
 * challenge otherwise, counted as a failure of its address, as RFC 6749
 * section 5.2's invalid_client); then a blocked client gets 429; then the
 * form body's token (400 invalid_request when missing or malformed); a
 * token that is not well-formed is inactive at once, any other is
 * verified through the pool like a bearer token on /auth. Every answer
 * but the active one is exactly {"active":false}, and counts as one
 * failure of the client, whose limiter key is its own (introspect.h), not
 * its address: one gateway asks for all its users. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ability.h"
#include "auth.h"
#include "form.h"
#include "introspect.h"
#include "log.h"
#include "route.h"

#define INTROSPECT_CHALLENGE                                                   \
  "Basic realm=\"tenant-authd introspection\", charset=\"UTF-8\""
#define INTROSPECT_INACTIVE_BODY "{\"active\":false}"

/* How POST /introspect requests ended, counted in /metrics. */
enum introspect_outcome {
  INTROSPECT_ACTIVE,       /* 200, active */
  INTROSPECT_INACTIVE,     /* 200, {"active":false} */
  INTROSPECT_UNAUTHORIZED, /* 401: no valid client credentials */
  INTROSPECT_BAD,          /* 400 invalid_request */
  INTROSPECT_LIMITED,      /* 429: the address or the client is blocked */
  INTROSPECT_UNAVAILABLE,  /* 503: the database did not answer */
  INTROSPECT_OUTCOMES
};
static const char *const introspect_names[INTROSPECT_OUTCOMES] = {
    "active",          "inactive",     "unauthorized",
    "invalid_request", "rate_limited", "unavailable"};
static atomic_uint_fast64_t introspect_count[INTROSPECT_OUTCOMES];

static const struct introspect_clients *introspect_clients;

void introspect_route_init(const struct cfg *cfg)
{
  introspect_clients = &cfg->introspection;
}

static enum MHD_Result
introspect_answer(struct MHD_Connection *conn, struct http_request *req,
                  enum introspect_outcome o, unsigned status, const char *body,
                  const struct http_header *h, size_t n_headers)
{
  atomic_fetch_add(&introspect_count[o], 1);
  return http_reply(conn, req, status, HTTP_JSON, body, h, n_headers);
}

static enum MHD_Result introspect_inactive(struct MHD_Connection *conn,
                                           struct http_request *req)
{
  guard_settle(req, true); /* the client's key by now */
  return introspect_answer(conn, req, INTROSPECT_INACTIVE, MHD_HTTP_OK,
                           INTROSPECT_INACTIVE_BODY, NULL, 0);
}

static enum MHD_Result introspect_unavailable(struct MHD_Connection *conn,
                                              struct http_request *req)
{
  atomic_fetch_add(&introspect_count[INTROSPECT_UNAVAILABLE], 1);
  guard_settle(req, false);
  return http_unavailable(conn, req, AUTH_UNAVAILABLE_BODY);
}

static enum MHD_Result introspect_bad(struct MHD_Connection *conn,
                                      struct http_request *req,
                                      const char *description)
{
  atomic_fetch_add(&introspect_count[INTROSPECT_BAD], 1);
  guard_settle(req, false);
  return http_invalid_request(conn, req, description);
}

enum MHD_Result introspect_start(struct MHD_Connection *conn,
                                 struct http_request *req)
{
  static const struct http_header challenge[] = {
      {MHD_HTTP_HEADER_WWW_AUTHENTICATE, INTROSPECT_CHALLENGE}};
  const struct http_scan *scan;
  char value[INTROSPECT_TOKEN_MAX];
  unsigned retry_after_s, client;
  size_t len = 0;
  enum introspect_form fr;

  if (!guard_reserve(conn, req, &retry_after_s)) {
    atomic_fetch_add(&introspect_count[INTROSPECT_LIMITED], 1);
    return guard_too_many(conn, req, retry_after_s);
  }
  scan = http_headers(conn, req);
  if (introspect_authenticate(introspect_clients, scan->auth, scan->auth_len,
                              scan->auth_count,
                              &client) != INTROSPECT_AUTH_OK) {
    guard_settle(req, true);
    return introspect_answer(
        conn, req, INTROSPECT_UNAUTHORIZED, MHD_HTTP_UNAUTHORIZED,
        "{\"error\":\"invalid_client\",\"error_description\":\"the HTTP "
        "Basic credentials of an introspection client are required\"}",
        challenge, 1);
  }
  /* From here on the limiter counts the client, wherever it calls from:
   * the address's reservation goes back, and the client's is taken. */
  guard_settle(req, false);
  introspect_limit_key(client, req->limit_key.b);
  if (!guard_reserve(conn, req, &retry_after_s)) {
    char retry[16];
    const struct http_header h[] = {{MHD_HTTP_HEADER_RETRY_AFTER, retry}};

    snprintf(retry, sizeof retry, "%u", retry_after_s);
    return introspect_answer(
        conn, req, INTROSPECT_LIMITED, MHD_HTTP_TOO_MANY_REQUESTS,
        "{\"error\":\"too_many_requests\",\"error_description\":\"too many "
        "inactive tokens introspected by this client; retry later\"}",
        h, 1);
  }
  if (!form_content_type_ok(MHD_lookup_connection_value(
          conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
    return introspect_bad(conn, req,
                          "the body must be application/x-www-form-urlencoded");
  if (req->body_len > HTTP_BODY_KEEP)
    return introspect_bad(conn, req, "the body must be at most 4096 bytes");
  fr = introspect_token(req->body, req->body != NULL ? req->body_len : 0, value,
                        &len);
  if (fr != INTROSPECT_FORM_OK) {
    explicit_bzero(value, sizeof value);
    return introspect_bad(
        conn, req,
        fr == INTROSPECT_FORM_REPEATED    ? "the token parameter must be "
                                            "given once"
        : fr == INTROSPECT_FORM_MALFORMED ? "the token parameter must be "
                                            "form-encoded, at most 255 bytes"
                                          : "a token parameter is required");
  }
  log_escape(req->hint, sizeof req->hint, value,
             len < TOKEN_HINT_LEN ? len : TOKEN_HINT_LEN);
  if (!token_valid(value, len)) {
    explicit_bzero(value, sizeof value);
    return introspect_inactive(conn, req);
  }
  /* Only the hash goes on, as on /auth (guard.c). */
  if (token_sha256(value, TOKEN_LEN, req->item.hash) != 0) {
    explicit_bzero(value, sizeof value);
    return introspect_unavailable(conn, req);
  }
  explicit_bzero(value, sizeof value);
  req->item.kind = POOL_VERIFY;
  req->item.ability[0] = '\0';
  /* For the scope; without the memory, the answer goes without it. */
  req->abilities = malloc(ABILITY_SET_MAX + 1);
  req->item.abilities = req->abilities;
  return http_park(conn, req);
}

enum MHD_Result introspect_resume(struct MHD_Connection *conn,
                                  struct http_request *req)
{
  const struct verdict *v = &req->item.verdict;
  struct introspect_claims claims = {0};
  char scope[ABILITY_SET_MAX + 1];
  char body[ABILITY_SET_MAX + 512];

  switch (v->state) {
  case VERDICT_VALID:
    break;
  case VERDICT_UNKNOWN:
  case VERDICT_REVOKED:
  case VERDICT_EXPIRED:
  case VERDICT_SUSPENDED:
    return introspect_inactive(conn, req);
  case VERDICT_DB_ERROR:
  case VERDICT_TIMEOUT:
  case VERDICT_STOPPING:
  case VERDICT_STATES:
    return introspect_unavailable(conn, req);
  }
  memcpy(req->tenant_id, v->tenant_id, sizeof req->tenant_id);
  claims.tenant_id = req->tenant_id;
  claims.token_id = v->token_id;
  claims.iat = v->issued_at;
  claims.exp = v->expires_at != VERDICT_NEVER ? v->expires_at : 0;
  /* A set the scope grammar refuses is no scope: the answer goes without. */
  if (req->abilities != NULL &&
      introspect_scope(req->abilities, strlen(req->abilities), scope,
                       sizeof scope) >= 0)
    claims.scope = scope;
  if (introspect_render(body, sizeof body, &claims) < 0)
    return MHD_NO;
  guard_note_use(req->item.hash);
  guard_settle(req, false);
  return introspect_answer(conn, req, INTROSPECT_ACTIVE, MHD_HTTP_OK, body,
                           NULL, 0);
}

void introspect_metrics(struct metrics_text *t)
{
  metrics_outcomes(t, "tenant_authd_introspect_total",
                   "POST /introspect requests, by outcome.", introspect_names,
                   introspect_count, INTROSPECT_OUTCOMES);
}
