/* auth.c: the middleware's decisions; see auth.h. */
#include "auth.h"

#include <stdio.h>

#include "bearer.h"
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
