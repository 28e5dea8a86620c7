/* auth.h: the bearer-token middleware of the protected routes, without
 * libmicrohttpd types so that it is unit-tested directly. Terms: the
 * "credentials" are the request's Authorization headers (the first value
 * and how many there were); an "outcome" is how authentication ended, one
 * per request, counted in /metrics; a "denial" is the HTTP answer to every
 * outcome but AUTH_OK: status, WWW-Authenticate challenge, JSON body. */
#ifndef TENANT_AUTHD_AUTH_H
#define TENANT_AUTHD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ability.h"
#include "verdict.h"

enum auth_outcome {
  AUTH_OK,
  AUTH_MISSING,      /* no Authorization header, or another scheme: 401 */
  AUTH_INVALID,      /* well-formed, but unknown, revoked or expired: 401 */
  AUTH_MALFORMED,    /* empty, or rejected by token_valid: 401, no DB call */
  AUTH_DB_ERROR,     /* the database did not answer: 503 */
  AUTH_BAD_REQUEST,  /* more than one Authorization header: 400 */
  AUTH_RATE_LIMITED, /* the client address is blocked: 429, nothing read */
  AUTH_OVERLOADED,   /* the queue was full or the wait too long: 503 */
  AUTH_FORBIDDEN,    /* valid, but without the required ability: 403 */
  AUTH_PENDING,      /* well-formed: the database decides (not counted) */
  AUTH_OUTCOMES = AUTH_PENDING
};

/* The label of each counted outcome in /metrics. */
extern const char *const auth_outcome_names[AUTH_OUTCOMES];

/* Reads the credentials: value[0..len) is the first Authorization header
 * (NULL when count is 0). *cred, *cred_len are the bearer credential
 * (pointing into value) whenever one was sent, well-formed or not, else
 * NULL and 0. Returns AUTH_PENDING for a well-formed token (then
 * *cred_len is TOKEN_LEN); otherwise the outcome, decided without the
 * database. A repeated Authorization
 * header is refused whatever its values: RFC 7230 section 3.2.2 forbids
 * combining them, and picking one would let a proxy and this server
 * disagree about the credentials. */
enum auth_outcome auth_check(const char *value, size_t len, unsigned count,
                             const char **cred, size_t *cred_len);

/* The outcome of a token the pool was asked about, from its verdict: the
 * one place a verdict becomes an answer. */
enum auth_outcome auth_outcome_of(const struct verdict *v);

/* True when the outcome counts as a failed authentication for the
 * limiter: the client's fault, not the database's. */
bool auth_is_failure(enum auth_outcome o);

/* True when s[0..len) is an ability name: 1 to AUTH_ABILITY_MAX bytes,
 * segments of [a-z][a-z0-9_-]* joined by ':' (metrics:write). The same
 * grammar as verify_tenant_token_ability in install.sql; no wildcard.
 * ability_name_valid (ability.h) under the middleware's name. */
#define AUTH_ABILITY_MAX ABILITY_NAME_MAX

/* The body of a 503 because the database did not answer, on every route
 * that asks it. */
#define AUTH_UNAVAILABLE_BODY                                                  \
  "{\"error\":\"unavailable\",\"error_description\":"                          \
  "\"the database is unavailable; retry later\"}"
bool auth_ability_valid(const char *s, size_t len);

/* The WWW-Authenticate value of a 403 for ability (RFC 6750 section 3.1:
 * error="insufficient_scope", scope="<ability>") into out; ability must
 * have passed auth_ability_valid, so it needs no escaping. */
void auth_forbidden_challenge(char *out, size_t out_size, const char *ability);

struct auth_denial {
  unsigned status;
  const char *challenge; /* WWW-Authenticate value, NULL for none */
  const char *body;      /* JSON */
  bool retry_after;      /* send Retry-After (--retry-after) */
};

/* The answer to an outcome other than AUTH_OK, AUTH_PENDING and
 * AUTH_RATE_LIMITED (whose Retry-After the limiter decides). For
 * AUTH_FORBIDDEN the challenge names no scope: the caller sends
 * auth_forbidden_challenge instead. */
const struct auth_denial *auth_denial(enum auth_outcome o);

/* The body of GET /api/v1/auth-test for the valid token of verdict v, into
 * out[0..out_size), NUL-terminated:
 * {"tenant_id":"<uuid>","token_id":N,"abilities":[...],"limits":{"token":
 * {"requests":N,"seconds":S}|null,"tenant":...|null}}. abilities is the
 * token's set as stored (NUL-terminated); NULL, or a set the scope grammar
 * refuses (introspect_scope), is sent as null: such a set grants nothing.
 * Returns the length, or -1 when it does not fit. */
long auth_test_body(char *out, size_t out_size, const struct verdict *v,
                    const char *abilities);

/* A rate limit's state for the RateLimit-Policy and RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers-10): the policy's name ("token"
 * or "tenant"), its quota q of requests per window w seconds, what is
 * left r and the seconds t until the window ends. */
struct auth_rate {
  const char *name;
  uint32_t quota, window_s, remaining, reset_s;
};

/* The fields for the n (1 or 2) limits a request was judged by, each
 * NUL-terminated: policy lists them all (RateLimit-Policy:
 * "token";q=100;w=60, "tenant";q=1000;w=60), limit names the most
 * restrictive (RateLimit: "token";r=42;t=17): the least remaining, and of
 * equals the later reset. False when a buffer is too small (AUTH_RATE_FIELD
 * bytes always suffice for two). */
#define AUTH_RATE_FIELD 128
bool auth_rate_fields(char *policy, size_t policy_size, char *limit,
                      size_t limit_size, const struct auth_rate *r, size_t n);

/* The body of a 429 for a rate limit: the limit's name in words. */
#define AUTH_RATE_LIMITED_BODY(who)                                            \
  "{\"error\":\"rate_limited\",\"error_description\":\"the " who               \
  "'s rate limit is reached; retry after the seconds in Retry-After\"}"

#endif
