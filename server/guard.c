/* guard.c: the middleware of protected routes (route.h), and the failure
 * limiter every route asks through guard_reserve and guard_settle. Terms:
 * a request is "authenticated" once its outcome (auth.h) is known: from
 * the credentials alone (missing, malformed: no database call) or from the
 * pool's verdict after a park. A token that verifies is "noted" in the
 * usage set for the flusher. The token is hashed here, once: the pool, the
 * database and the usage set only ever see its hash. A "reservation" is a
 * failure counted when a request starts, before its outcome is known, and
 * given back if the outcome is not a failure.
 *
 * A valid token is then "admitted" by its rate limits (ratelimit.h), the
 * token's first, then its tenant's, both from the verdict: a limit the
 * tenant's refuses gives the token's count back, so a refused request
 * counts against neither. Refused, the answer is 429 rate_limited; admitted
 * under a limit, the route's answer carries RateLimit-Policy and RateLimit
 * (auth_rate_fields). Each answer, 2xx or 429 rate_limited, is counted in
 * its tenant's row of the minute (tusage.h). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "limiter.h"
#include "log.h"
#include "ratelimit.h"
#include "route.h"

/* The two limits of a request, in the order they are taken. */
enum guard_limit { GUARD_TOKEN, GUARD_TENANT, GUARD_LIMITS };
static const char *const guard_limit_names[GUARD_LIMITS] = {"token", "tenant"};

static struct {
  struct limiter *limiter;  /* NULL: --auth-fail-limit 0 */
  struct usage_set *usage;  /* NULL: --usage-interval 0 */
  struct tusage *tusage;    /* likewise */
  struct rate_table *rates; /* the rate limits' counts (ratelimit.h) */
  /* 429 rate_limited answers, by the limit that refused. */
  atomic_uint_fast64_t rate_limited[GUARD_LIMITS];
  atomic_uint_fast64_t auth[AUTH_OUTCOMES];
  atomic_uint_fast64_t invalid[VERDICT_STATES]; /* why tokens were invalid */
} guard;

int guard_start(const struct cfg *cfg, struct usage_set *usage,
                struct tusage *tusage, struct rate_table *rates, char *err,
                size_t err_size)
{
  guard.usage = usage;
  guard.tusage = tusage;
  guard.rates = rates;
  if (cfg->auth_fail_limit == 0)
    return 0;
  guard.limiter = limiter_new(cfg->auth_fail_limit, cfg->auth_fail_window,
                              cfg->auth_fail_table, err, err_size);
  return guard.limiter != NULL ? 0 : -1;
}

void guard_stop(void)
{
  limiter_free(guard.limiter);
  guard.limiter = NULL;
}

bool guard_reserve(struct MHD_Connection *conn, struct http_request *req,
                   unsigned *retry_after_s)
{
  uint64_t now;

  if (guard.limiter == NULL)
    return true;
  http_client(conn, req);
  now = limiter_now_ms(guard.limiter);
  if (!limiter_reserve(guard.limiter, &req->limit_key, now, retry_after_s))
    return false;
  req->reserved_ms = now;
  return true;
}

void guard_settle(struct http_request *req, bool failure)
{
  if (req->reserved_ms == 0)
    return;
  if (!failure)
    limiter_refund(guard.limiter, &req->limit_key, req->reserved_ms,
                   limiter_now_ms(guard.limiter));
  req->reserved_ms = 0;
}

enum MHD_Result guard_too_many(struct MHD_Connection *conn,
                               struct http_request *req, unsigned retry_after_s)
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

/* Records that a token verified, for the flusher to write later: its hash
 * goes into the usage set, or is counted as dropped when the set is full. */
void guard_note_use(const uint8_t *hash)
{
  if (guard.usage != NULL)
    (void)usage_add(guard.usage, hash);
}

/* Counts an answer in its tenant's row of the minute (tusage.h): requests
 * (a 2xx) or limited (a 429 rate_limited). The minute is the database's
 * (rate_clock_now_ms), as tenant_usage keeps it. */
static void guard_count_usage(const char *tenant_id, uint64_t requests,
                              uint64_t limited)
{
  if (guard.tusage == NULL)
    return;
  (void)tusage_add(guard.tusage, tenant_id, strlen(tenant_id),
                   (int64_t)(rate_clock_now_ms() / 1000), requests, limited);
}

/* Why a request was refused by a rate limit: which one, and its decision. */
struct guard_refusal {
  enum guard_limit limit;
  struct rate_decision d;
};

/* Takes the token's limit, then the tenant's (verdict v); true when both
 * admit the request (or none applies), and then the route's answer will
 * carry the fields of the limits taken. False: refused by *why's limit,
 * and nothing is counted against either. */
static bool guard_admit(struct http_request *req, const struct verdict *v,
                        struct guard_refusal *why)
{
  const struct verdict_limit *tok = &v->token_limit, *ten = &v->tenant_limit;
  struct auth_rate r[GUARD_LIMITS];
  struct rate_decision d;
  char key[24], policy[AUTH_RATE_FIELD], limit[AUTH_RATE_FIELD];
  uint64_t now;
  size_t n = 0;

  if (guard.rates == NULL || (tok->requests == 0 && ten->requests == 0))
    return true;
  now = rate_clock_now_ms();
  snprintf(key, sizeof key, "%llu", (unsigned long long)v->token_id);
  if (tok->requests > 0) {
    if (!rate_take(guard.rates, RATE_TOKEN, key, tok->requests, tok->seconds,
                   now, &d)) {
      *why = (struct guard_refusal){GUARD_TOKEN, d};
      return false;
    }
    r[n++] = (struct auth_rate){"token", tok->requests, tok->seconds,
                                d.remaining, d.reset_s};
  }
  if (ten->requests > 0) {
    if (!rate_take(guard.rates, RATE_TENANT, v->tenant_id, ten->requests,
                   ten->seconds, now, &d)) {
      if (tok->requests > 0)
        rate_give_back(guard.rates, RATE_TOKEN, key, tok->seconds, now);
      *why = (struct guard_refusal){GUARD_TENANT, d};
      return false;
    }
    r[n++] = (struct auth_rate){"tenant", ten->requests, ten->seconds,
                                d.remaining, d.reset_s};
  }
  if (auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r, n)) {
    (void)http_add_header(req, "RateLimit-Policy", policy);
    (void)http_add_header(req, "RateLimit", limit);
  }
  return true;
}

/* 429 for a rate limit: Retry-After (whole seconds until one request
 * would be admitted), RateLimit-Policy with every limit of the token,
 * RateLimit naming the one that refused, at 0. */
static enum MHD_Result guard_rate_limited(struct MHD_Connection *conn,
                                          struct http_request *req,
                                          const struct verdict *v,
                                          const struct guard_refusal *why)
{
  struct auth_rate r[GUARD_LIMITS];
  char retry[16], policy[AUTH_RATE_FIELD], limit[AUTH_RATE_FIELD];
  struct http_header h[3];
  size_t n = 0, nh = 0;
  enum MHD_Result ret;

  atomic_fetch_add(&guard.rate_limited[why->limit], 1);
  /* The refusing limit first: at 0 it is the most restrictive. */
  r[n++] = (struct auth_rate){guard_limit_names[why->limit], why->d.requests,
                              why->d.seconds, 0, why->d.reset_s};
  if (why->limit == GUARD_TENANT && v->token_limit.requests > 0)
    r[n++] =
        (struct auth_rate){"token", v->token_limit.requests,
                           v->token_limit.seconds, v->token_limit.requests, 0};
  if (why->limit == GUARD_TOKEN && v->tenant_limit.requests > 0)
    r[n++] = (struct auth_rate){"tenant", v->tenant_limit.requests,
                                v->tenant_limit.seconds,
                                v->tenant_limit.requests, 0};
  snprintf(retry, sizeof retry, "%u",
           why->d.retry_after_s > 0 ? why->d.retry_after_s : 1);
  h[nh++] = (struct http_header){MHD_HTTP_HEADER_RETRY_AFTER, retry};
  if (auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r, n)) {
    h[nh++] = (struct http_header){"RateLimit-Policy", policy};
    h[nh++] = (struct http_header){"RateLimit", limit};
  }
  ret = http_reply(conn, req, MHD_HTTP_TOO_MANY_REQUESTS, HTTP_JSON,
                   why->limit == GUARD_TOKEN ? AUTH_RATE_LIMITED_BODY("token")
                                             : AUTH_RATE_LIMITED_BODY("tenant"),
                   h, nh);
  if (req->status == MHD_HTTP_TOO_MANY_REQUESTS)
    guard_count_usage(req->tenant_id, 0, 1);
  return ret;
}

/* The answer to a failed authentication (auth.h). */
static enum MHD_Result guard_deny(struct MHD_Connection *conn,
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
        (struct http_header){MHD_HTTP_HEADER_RETRY_AFTER, http_retry_after()};
  return http_reply(conn, req, d->status, HTTP_JSON, d->body, h, n);
}

/* Ends authentication with outcome: counts it, settles the request's
 * reservation (kept for a failure, else given back), then answers through
 * the route or denies. */
static enum MHD_Result guard_authenticated(struct MHD_Connection *conn,
                                           struct http_request *req,
                                           enum auth_outcome outcome,
                                           http_handler answer)
{
  enum MHD_Result ret;

  atomic_fetch_add(&guard.auth[outcome], 1);
  guard_settle(req, auth_is_failure(outcome));
  if (outcome == AUTH_OK) {
    ret = answer(conn, req);
    if (req->status >= 200 && req->status < 300)
      guard_count_usage(req->tenant_id, 1, 0);
    return ret;
  }
  req->tenant_id[0] = '\0';
  return guard_deny(conn, req, outcome);
}

enum MHD_Result guard_start_request(struct MHD_Connection *conn,
                                    struct http_request *req,
                                    http_handler answer)
{
  const struct http_scan *scan;
  enum auth_outcome outcome;
  unsigned retry_after_s;
  const char *cred;
  size_t cred_len;

  /* A blocked address is answered before its credentials are even parsed:
   * a flood of guesses costs neither parsing nor a database call. Else
   * the request reserves its failure now, before the database is asked:
   * guesses sent at once count before their answers come back. */
  if (!guard_reserve(conn, req, &retry_after_s)) {
    atomic_fetch_add(&guard.auth[AUTH_RATE_LIMITED], 1);
    return guard_too_many(conn, req, retry_after_s);
  }
  scan = http_headers(conn, req);
  outcome = auth_check(scan->auth, scan->auth_len, scan->auth_count, &cred,
                       &cred_len);
  /* The credential's first bytes, for the access log. */
  log_escape(req->hint, sizeof req->hint, cred,
             cred_len < TOKEN_HINT_LEN ? cred_len : TOKEN_HINT_LEN);
  if (outcome != AUTH_PENDING)
    return guard_authenticated(conn, req, outcome, answer);
  /* Only the hash goes on. OpenSSL failing is tenant-authd's fault: 503,
   * as when the database cannot answer. */
  if (token_sha256(cred, TOKEN_LEN, req->item.hash) != 0)
    return guard_authenticated(conn, req, AUTH_DB_ERROR, answer);
  req->item.kind = POOL_VERIFY;
  return http_park(conn, req);
}

enum MHD_Result guard_resume(struct MHD_Connection *conn,
                             struct http_request *req, http_handler answer)
{
  const struct verdict *v = &req->item.verdict;
  enum auth_outcome outcome = auth_outcome_of(v);
  struct guard_refusal why;

  /* Why a token was invalid costs nothing more to learn: the same call
   * said it. Clients see invalid_token for all of them. */
  if (outcome == AUTH_INVALID && v->state < VERDICT_STATES)
    atomic_fetch_add(&guard.invalid[v->state], 1);
  if (outcome == AUTH_OK) {
    memcpy(req->tenant_id, v->tenant_id, sizeof req->tenant_id);
    guard_note_use(req->item.hash);
    /* A valid token, refused by a limit: 429, no failure of its address,
     * counted as a rate_limited outcome. */
    if (!guard_admit(req, v, &why)) {
      atomic_fetch_add(&guard.auth[AUTH_RATE_LIMITED], 1);
      guard_settle(req, false);
      return guard_rate_limited(conn, req, v, &why);
    }
  }
  return guard_authenticated(conn, req, outcome, answer);
}

void guard_metrics(struct metrics_text *t)
{
  metrics_outcomes(t, "tenant_authd_auth_total",
                   "Authentication outcomes on protected routes.",
                   auth_outcome_names, guard.auth, AUTH_OUTCOMES);
  metrics_family(t, "tenant_authd_invalid_tokens_total", "counter",
                 "Well-formed tokens the database refused (outcome "
                 "invalid), by why.");
  for (int w = VERDICT_UNKNOWN; w <= VERDICT_SUSPENDED; w++)
    metrics_add(t, "tenant_authd_invalid_tokens_total{reason=\"%s\"} %llu\n",
                verdict_state_names[w],
                (unsigned long long)atomic_load(&guard.invalid[w]));
  /* Since 1.3.0 the database sees hashes only, so it never finds a token
   * malformed; the series stays, at 0, for dashboards that read it. */
  metrics_add(t, "tenant_authd_invalid_tokens_total{reason=\"malformed\"} 0\n");
}

void guard_metrics_limiter(struct metrics_text *t)
{
  limiter_metrics(t, guard.limiter);
}

void guard_metrics_rates(struct metrics_text *t)
{
  metrics_family(t, "tenant_authd_rate_limited_total", "counter",
                 "Valid tokens answered 429 rate_limited, by the limit "
                 "that refused them.");
  for (int l = 0; l < GUARD_LIMITS; l++)
    metrics_add(t, "tenant_authd_rate_limited_total{limit=\"%s\"} %llu\n",
                guard_limit_names[l],
                (unsigned long long)atomic_load(&guard.rate_limited[l]));
}
