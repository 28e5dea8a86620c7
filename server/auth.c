/* auth.c: the middleware's decisions; see auth.h. */
#include "auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bearer.h"
#include "introspect.h"
#include "token.h"

#define AUTH_REALM "Bearer realm=\"tenant_auth\""

const char *const auth_outcome_names[AUTH_OUTCOMES] = {
    "ok",           "missing",    "invalid",
    "malformed",    "db_error",   "invalid_request",
    "rate_limited", "overloaded", "insufficient_scope"};

enum auth_outcome auth_check(const char *value, size_t len, unsigned count,
                             const char **cred, size_t *cred_len)
{
  *cred = NULL;
  *cred_len = 0;
  if (count > 1)
    return AUTH_BAD_REQUEST;
  switch (http_bearer_parse(count == 1 ? value : NULL, count == 1 ? len : 0,
                            cred, cred_len)) {
  case BEARER_NONE:
    return AUTH_MISSING;
  case BEARER_EMPTY:
    return AUTH_MALFORMED;
  case BEARER_TOKEN:
    break;
  }
  if (!token_valid(*cred, *cred_len))
    return AUTH_MALFORMED;
  return AUTH_PENDING;
}

enum auth_outcome auth_outcome_of(const struct verdict *v)
{
  switch (v->state) {
  case VERDICT_VALID:
    return v->granted ? AUTH_OK : AUTH_FORBIDDEN;
  case VERDICT_UNKNOWN:
  case VERDICT_REVOKED:
  case VERDICT_EXPIRED:
  case VERDICT_SUSPENDED:
    return AUTH_INVALID;
  case VERDICT_TIMEOUT:
    return AUTH_OVERLOADED;
  case VERDICT_DB_ERROR:
  case VERDICT_STOPPING:
  case VERDICT_STATES:
    break;
  }
  return AUTH_DB_ERROR;
}

bool auth_is_failure(enum auth_outcome o)
{
  return o == AUTH_MISSING || o == AUTH_INVALID || o == AUTH_MALFORMED ||
         o == AUTH_BAD_REQUEST;
}

bool auth_ability_valid(const char *s, size_t len)
{
  return ability_name_valid(s, len);
}

void auth_forbidden_challenge(char *out, size_t out_size, const char *ability)
{
  snprintf(out, out_size,
           AUTH_REALM ", error=\"insufficient_scope\", scope=\"%s\"", ability);
}

static const struct auth_denial auth_missing = {
    401, AUTH_REALM,
    "{\"error\":\"unauthorized\",\"error_description\":"
    "\"bearer credentials required\"}",
    false};
static const struct auth_denial auth_invalid = {
    401, AUTH_REALM ", error=\"invalid_token\"",
    "{\"error\":\"invalid_token\",\"error_description\":"
    "\"the token is malformed, unknown, revoked or expired\"}",
    false};
static const struct auth_denial auth_bad_request = {
    400, AUTH_REALM ", error=\"invalid_request\"",
    "{\"error\":\"invalid_request\",\"error_description\":"
    "\"more than one Authorization header\"}",
    false};
static const struct auth_denial auth_unavailable = {
    503, NULL, AUTH_UNAVAILABLE_BODY, true};
static const struct auth_denial auth_forbidden = {
    403, AUTH_REALM ", error=\"insufficient_scope\"",
    "{\"error\":\"insufficient_scope\",\"error_description\":"
    "\"the token does not hold the ability this request requires\"}",
    false};
static const struct auth_denial auth_overloaded = {
    503, NULL,
    "{\"error\":\"unavailable\",\"error_description\":"
    "\"too many requests are waiting for the database; retry later\"}",
    true};

const struct auth_denial *auth_denial(enum auth_outcome o)
{
  switch (o) {
  case AUTH_MISSING:
    return &auth_missing;
  case AUTH_INVALID:
  case AUTH_MALFORMED:
    return &auth_invalid;
  case AUTH_BAD_REQUEST:
    return &auth_bad_request;
  case AUTH_OVERLOADED:
    return &auth_overloaded;
  case AUTH_FORBIDDEN:
    return &auth_forbidden;
  case AUTH_OK:
  case AUTH_DB_ERROR:
  case AUTH_RATE_LIMITED:
  case AUTH_PENDING:
    break;
  }
  return &auth_unavailable;
}

/* A limit as JSON: an object, or null for none. */
static bool auth_add_limit(char *out, size_t out_size, size_t *at,
                           const char *name, const struct verdict_limit *l)
{
  if (l->requests == 0)
    return introspect_add(out, out_size, at, "\"%s\":null", name);
  return introspect_add(out, out_size, at,
                        "\"%s\":{\"requests\":%" PRIu32 ",\"seconds\":%" PRIu32
                        "}",
                        name, l->requests, l->seconds);
}

long auth_test_body(char *out, size_t out_size, const struct verdict *v,
                    const char *abilities)
{
  char scope[ABILITY_SET_MAX + 1];
  long scope_len = -1;
  size_t at = 0;
  bool ok;

  if (abilities != NULL)
    scope_len =
        introspect_scope(abilities, strlen(abilities), scope, sizeof scope);
  ok = introspect_add(out, out_size, &at,
                      "{\"tenant_id\":\"%s\",\"token_id\":%" PRIu64
                      ",\"abilities\":",
                      v->tenant_id, v->token_id);
  if (scope_len < 0) {
    ok = ok && introspect_add(out, out_size, &at, "null");
  } else {
    /* The patterns, one space apart: none holds a space, '"' or '\\'. */
    const char *p = scope, *end = scope + scope_len;

    ok = ok && introspect_add(out, out_size, &at, "[");
    while (ok && p < end) {
      const char *sp = memchr(p, ' ', (size_t)(end - p));
      const char *e = sp != NULL ? sp : end;

      ok = introspect_add(out, out_size, &at, "%s\"%.*s\"",
                          p == scope ? "" : ",", (int)(e - p), p);
      p = e + 1;
    }
    ok = ok && introspect_add(out, out_size, &at, "]");
  }
  ok = ok && introspect_add(out, out_size, &at, ",\"limits\":{") &&
       auth_add_limit(out, out_size, &at, "token", &v->token_limit) &&
       introspect_add(out, out_size, &at, ",") &&
       auth_add_limit(out, out_size, &at, "tenant", &v->tenant_limit) &&
       introspect_add(out, out_size, &at, "}}");
  return ok ? (long)at : -1;
}

bool auth_rate_fields(char *policy, size_t policy_size, char *limit,
                      size_t limit_size, const struct auth_rate *r, size_t n)
{
  size_t at = 0, most = 0;
  bool ok = n > 0;

  for (size_t i = 0; ok && i < n; i++) {
    ok = introspect_add(policy, policy_size, &at,
                        "%s\"%s\";q=%" PRIu32 ";w=%" PRIu32, i > 0 ? ", " : "",
                        r[i].name, r[i].quota, r[i].window_s);
    if (r[i].remaining < r[most].remaining ||
        (r[i].remaining == r[most].remaining && r[i].reset_s > r[most].reset_s))
      most = i;
  }
  at = 0;
  return ok && introspect_add(limit, limit_size, &at,
                              "\"%s\";r=%" PRIu32 ";t=%" PRIu32, r[most].name,
                              r[most].remaining, r[most].reset_s);
}
