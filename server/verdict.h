/* verdict.h: what tenant-authd learned of one token, from the database
 * layer to the place that answers: one type, not re-encoded on the way.
 *
 * Terms: a token's "state" is the word verify_tenant_token_hashes returns
 * for it (valid, revoked, expired, suspended), or unknown when it returns
 * no row; db.c reads the word into enum verdict_state once, by
 * verdict_state_names, and nothing translates it after. The last three
 * states are the pool's own, when no database answered. A "grant" is the
 * ability decision (ability.h) made on the token's abilities for the
 * ability the request asked for. A "limit" is a rate limit the database
 * holds for the token or for its tenant (tenant_tokens and tenants
 * rate_requests, rate_seconds, from authorize_tenant_token_hashes):
 * requests per seconds, or none. Plain C: no MariaDB or libmicrohttpd
 * types. */
#ifndef TENANT_AUTHD_VERDICT_H
#define TENANT_AUTHD_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "token.h"

enum verdict_state {
  VERDICT_VALID,     /* "valid"; for a ping or a revocation: it ran */
  VERDICT_UNKNOWN,   /* no row: the database knows no such token */
  VERDICT_REVOKED,   /* "revoked" */
  VERDICT_EXPIRED,   /* "expired", by the database's clock */
  VERDICT_SUSPENDED, /* "suspended": the tenant is */
  VERDICT_DB_ERROR,  /* no database answered (failed or timed out) */
  VERDICT_TIMEOUT,   /* waited in the queue past --queue-timeout */
  VERDICT_STOPPING,  /* tenant-authd stopped before a connection took it */
  VERDICT_STATES
};

/* The states' names: the database's words for the first five, which are
 * also the reason="..." labels of tenant_authd_invalid_tokens_total. */
extern const char *const verdict_state_names[VERDICT_STATES];

/* The state named name[0..len) among the database's words (valid,
 * revoked, expired, suspended); false for any other text. */
bool verdict_state_parse(const char *name, unsigned long len,
                         enum verdict_state *out);

#define VERDICT_NEVER INT64_MAX /* expires_at of a token that never expires */

/* A rate limit: requests per seconds; requests == 0 is no limit (then
 * seconds is 0 too). The schema bounds both: 1 to 1000000000 requests, 1
 * to 86400 seconds. */
struct verdict_limit {
  uint32_t requests, seconds;
};

struct verdict {
  enum verdict_state state;
  bool granted; /* VERDICT_VALID: it holds the ability asked for, or none was
                   asked */
  /* The token's row; set for VERDICT_VALID to VERDICT_SUSPENDED. */
  char tenant_id[TOKEN_UUID_LEN + 1];
  uint64_t token_id;  /* tenant_tokens.id */
  int64_t issued_at;  /* UNIX seconds */
  int64_t expires_at; /* UNIX seconds, VERDICT_NEVER when it never expires */
  struct verdict_limit token_limit;  /* tenant_tokens.rate_* */
  struct verdict_limit tenant_limit; /* tenants.rate_* */
};

#endif
