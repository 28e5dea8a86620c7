/* revoke.c: POST /revoke (RFC 7009): token=... in an
 * application/x-www-form-urlencoded body (form.h), token_type_hint ignored.
 * Every request counts as a failure for the limiter, and every well-formed
 * one is answered 200 whether or not the token was known, so the route
 * tells a prober nothing and lets it ask only --auth-fail-limit times a
 * window. A well-formed token is revoked through the pool like any
 * database call. */
#include <stdatomic.h>
#include <string.h>

#include "auth.h"
#include "form.h"
#include "log.h"
#include "route.h"

#define REVOKE_VALUE_MAX 256 /* a token field longer than this is junk */

/* How POST /revoke requests ended, counted in /metrics. */
enum revoke_outcome {
  REVOKE_SENT,      /* a well-formed token: sent to the database */
  REVOKE_NOT_TOKEN, /* not a well-formed token: 200, no database call */
  REVOKE_BAD,       /* 400 invalid_request */
  REVOKE_LIMITED,   /* 429: the address is blocked */
  REVOKE_OUTCOMES
};
static const char *const revoke_names[REVOKE_OUTCOMES] = {
    "sent", "not_a_token", "invalid_request", "rate_limited"};
static atomic_uint_fast64_t revoke_count[REVOKE_OUTCOMES];

enum MHD_Result revoke_start(struct MHD_Connection *conn,
                             struct http_request *req)
{
  char value[REVOKE_VALUE_MAX];
  size_t len = 0;
  unsigned retry_after_s;
  enum form_result fr;

  /* Every request counts as a failure: reserved and never given back, so
   * the check and the count are one step. */
  if (!guard_reserve(conn, req, &retry_after_s)) {
    atomic_fetch_add(&revoke_count[REVOKE_LIMITED], 1);
    return guard_too_many(conn, req, retry_after_s);
  }
  if (!form_content_type_ok(MHD_lookup_connection_value(
          conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
    atomic_fetch_add(&revoke_count[REVOKE_BAD], 1);
    return http_invalid_request(
        conn, req, "the body must be application/x-www-form-urlencoded");
  }
  if (req->body_len > HTTP_BODY_KEEP) {
    atomic_fetch_add(&revoke_count[REVOKE_BAD], 1);
    return http_invalid_request(conn, req,
                                "the body must be at most 4096 bytes");
  }
  fr = form_get(req->body, req->body != NULL ? req->body_len : 0, "token",
                value, sizeof value, &len);
  if (fr != FORM_OK || len == 0) {
    atomic_fetch_add(&revoke_count[REVOKE_BAD], 1);
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
    atomic_fetch_add(&revoke_count[REVOKE_NOT_TOKEN], 1);
    explicit_bzero(value, sizeof value);
    return http_reply(conn, req, MHD_HTTP_OK, NULL, NULL, NULL, 0);
  }
  atomic_fetch_add(&revoke_count[REVOKE_SENT], 1);
  req->item.kind = POOL_REVOKE;
  memcpy(req->item.token, value, TOKEN_LEN);
  explicit_bzero(value, sizeof value);
  return http_park(conn, req);
}

/* RFC 7009 section 2.2: 200 whether or not the token was known; section
 * 2.2.1: 503 when the server cannot revoke now. */
enum MHD_Result revoke_resume(struct MHD_Connection *conn,
                              struct http_request *req)
{
  if (req->item.verdict.state == VERDICT_VALID)
    return http_reply(conn, req, MHD_HTTP_OK, NULL, NULL, NULL, 0);
  return http_unavailable(conn, req, AUTH_UNAVAILABLE_BODY);
}

void revoke_metrics(struct metrics_text *t)
{
  metrics_outcomes(t, "tenant_authd_revoke_total",
                   "POST /revoke requests, by outcome.", revoke_names,
                   revoke_count, REVOKE_OUTCOMES);
}
