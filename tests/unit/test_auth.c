/* test_auth.c: the bearer-token middleware's decisions (server/auth.c),
 * from RFC 6750 and the HTTP API's stated answers: which outcome each
 * Authorization value gets without the database, which outcome each pool
 * verdict becomes, which outcomes count against the limiter, and the exact
 * answer (status, challenge, Retry-After) of each denial. */
#include <string.h>

#include "auth.h"
#include "test.h"

/* A well-formed token: ta1_, 54 zeros, and its CRC-32 in base62. */
#define GOOD "ta1_0000000000000000000000000000000000000000000000000000003y0Fia"

static size_t cred_len; /* what the last check() said of the credential */

static enum auth_outcome check(const char *value, unsigned count,
                               const char **token)
{
  return auth_check(value, value != NULL ? strlen(value) : 0, count, token,
                    &cred_len);
}

static void check_without_database(void)
{
  const char *token;

  CHECK(check(NULL, 0, &token) == AUTH_MISSING && token == NULL);
  CHECK(check("Basic dXNlcjpw", 1, &token) == AUTH_MISSING && token == NULL);
  CHECK(check("", 1, &token) == AUTH_MISSING);
  CHECK(check("Bearer", 1, &token) == AUTH_MALFORMED && token == NULL);
  CHECK(check("Bearer   ", 1, &token) == AUTH_MALFORMED);
  CHECK(check("Bearer " GOOD "x", 1, &token) == AUTH_MALFORMED);
  /* A malformed credential is still handed back, for the access log. */
  CHECK(token != NULL && cred_len == 65 && memcmp(token, GOOD "x", 65) == 0);
  CHECK(
      check("Bearer "
            "ta1_0000000000000000000000000000000000000000000000000000003y0Fib",
            1, &token) == AUTH_MALFORMED);
  CHECK(check("Bearer \xff\x00", 1, &token) == AUTH_MALFORMED);
  /* Two headers: refused whatever they hold, even two good ones. */
  CHECK(check("Bearer " GOOD, 2, &token) == AUTH_BAD_REQUEST && token == NULL);
  CHECK(cred_len == 0);
  CHECK(check(NULL, 3, &token) == AUTH_BAD_REQUEST);

  {
    const char *v = "bearer   " GOOD "  ";
    CHECK(check(v, 1, &token) == AUTH_PENDING);
    CHECK(token == v + 9 && cred_len == 64);
    CHECK_MEM(token, GOOD, 64);
  }
}

/* A verdict becomes an outcome in one place; "granted" matters only for a
 * valid token. */
static enum auth_outcome outcome(enum verdict_state state, bool granted)
{
  struct verdict v = {.state = state, .granted = granted};

  return auth_outcome_of(&v);
}

static void check_verdicts(void)
{
  CHECK(outcome(VERDICT_VALID, true) == AUTH_OK);
  CHECK(outcome(VERDICT_VALID, false) == AUTH_FORBIDDEN);
  CHECK(outcome(VERDICT_UNKNOWN, false) == AUTH_INVALID);
  CHECK(outcome(VERDICT_REVOKED, false) == AUTH_INVALID);
  CHECK(outcome(VERDICT_EXPIRED, true) == AUTH_INVALID);
  CHECK(outcome(VERDICT_SUSPENDED, true) == AUTH_INVALID);
  CHECK(outcome(VERDICT_DB_ERROR, false) == AUTH_DB_ERROR);
  CHECK(outcome(VERDICT_STOPPING, false) == AUTH_DB_ERROR);
  CHECK(outcome(VERDICT_TIMEOUT, false) == AUTH_OVERLOADED);
  CHECK(outcome(VERDICT_STATES, true) == AUTH_DB_ERROR);
}

/* The database's words, read once into a state: only the four it sends. */
static void check_state_words(void)
{
  enum verdict_state st = VERDICT_STATES;

  CHECK(verdict_state_parse("valid", 5, &st) && st == VERDICT_VALID);
  CHECK(verdict_state_parse("revoked", 7, &st) && st == VERDICT_REVOKED);
  CHECK(verdict_state_parse("expired", 7, &st) && st == VERDICT_EXPIRED);
  CHECK(verdict_state_parse("suspended", 9, &st) && st == VERDICT_SUSPENDED);
  st = VERDICT_STATES;
  CHECK(!verdict_state_parse("unknown", 7, &st)); /* no row, not a word */
  CHECK(!verdict_state_parse("db_error", 8, &st));
  CHECK(!verdict_state_parse("Valid", 5, &st));
  CHECK(!verdict_state_parse("valid\0", 6, &st));
  CHECK(!verdict_state_parse("vali", 4, &st));
  CHECK(!verdict_state_parse("", 0, &st));
  CHECK(st == VERDICT_STATES);
  CHECK(strcmp(verdict_state_names[VERDICT_UNKNOWN], "unknown") == 0);
  CHECK(strcmp(verdict_state_names[VERDICT_SUSPENDED], "suspended") == 0);
}

static void check_failures(void)
{
  /* The client's fault: counted by the limiter. */
  CHECK(auth_is_failure(AUTH_MISSING));
  CHECK(auth_is_failure(AUTH_INVALID));
  CHECK(auth_is_failure(AUTH_MALFORMED));
  CHECK(auth_is_failure(AUTH_BAD_REQUEST));
  /* Not the client's fault, or not a failure. */
  CHECK(!auth_is_failure(AUTH_OK));
  CHECK(!auth_is_failure(AUTH_DB_ERROR));
  CHECK(!auth_is_failure(AUTH_OVERLOADED));
  CHECK(!auth_is_failure(AUTH_RATE_LIMITED));
}

static void check_denials(void)
{
  const struct auth_denial *d;

  d = auth_denial(AUTH_MISSING);
  CHECK(d->status == 401 && !d->retry_after);
  CHECK(strcmp(d->challenge, "Bearer realm=\"tenant_auth\"") == 0);
  d = auth_denial(AUTH_INVALID);
  CHECK(d->status == 401 &&
        strcmp(d->challenge,
               "Bearer realm=\"tenant_auth\", error=\"invalid_token\"") == 0);
  CHECK(strstr(d->body, "\"error\":\"invalid_token\"") != NULL);
  /* Malformed and invalid look the same to a client. */
  CHECK(auth_denial(AUTH_MALFORMED) == d);
  d = auth_denial(AUTH_BAD_REQUEST);
  CHECK(d->status == 400 &&
        strcmp(d->challenge,
               "Bearer realm=\"tenant_auth\", error=\"invalid_request\"") == 0);
  d = auth_denial(AUTH_DB_ERROR);
  CHECK(d->status == 503 && d->challenge == NULL && d->retry_after);
  d = auth_denial(AUTH_OVERLOADED);
  CHECK(d->status == 503 && d->challenge == NULL && d->retry_after);
  for (int o = 0; o < AUTH_OUTCOMES; o++)
    CHECKF(auth_outcome_names[o] != NULL && auth_outcome_names[o][0] != '\0',
           "outcome %d has no name", o);
  CHECK(strcmp(auth_outcome_names[AUTH_OVERLOADED], "overloaded") == 0);
  CHECK(strcmp(auth_outcome_names[AUTH_BAD_REQUEST], "invalid_request") == 0);
  CHECK(strcmp(auth_outcome_names[AUTH_FORBIDDEN], "insufficient_scope") == 0);
  d = auth_denial(AUTH_FORBIDDEN);
  CHECK(d->status == 403 && !d->retry_after);
  CHECK(!auth_is_failure(AUTH_FORBIDDEN));
}

/* The ability grammar, from its definition in docs/sql-reference.md. */
static void check_abilities(void)
{
  static const char *const good[] = {"a",        "metrics", "metrics:write",
                                     "a-b_c:d0", "x:y:z",   "r2d2"};
  static const char *const bad[] = {
      "",          "Metrics", "metrics:", ":write",  "metrics::write",
      "metrics:*", "*",       "0abc",     "a b",     "a\tb",
      "m:W",       "_a",      "a:-b",     "\xc3\xa9"};
  char big[AUTH_ABILITY_MAX + 2], ch[160];

  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CHECKF(auth_ability_valid(good[i], strlen(good[i])), "refused %s", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECKF(!auth_ability_valid(bad[i], strlen(bad[i])), "accepted %s", bad[i]);
  CHECK(!auth_ability_valid(NULL, 3));
  CHECK(!auth_ability_valid("ab\0c", 4)); /* a NUL inside */
  memset(big, 'a', sizeof big);
  CHECK(auth_ability_valid(big, AUTH_ABILITY_MAX));
  CHECK(!auth_ability_valid(big, AUTH_ABILITY_MAX + 1));
  auth_forbidden_challenge(ch, sizeof ch, "metrics:write");
  CHECK(strcmp(ch,
               "Bearer realm=\"tenant_auth\", error=\"insufficient_scope\", "
               "scope=\"metrics:write\"") == 0);
}

/* GET /api/v1/auth-test's body, by hand from http-api.md: the tenant, the
 * token id, the abilities re-rendered from the stored set (null for a set
 * that grants nothing, or none), each limit or null; -1 when it does not
 * fit, never a cut body. */
static void check_auth_test_body(void)
{
  static const char tenant[] = "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1";
  struct verdict v = {.state = VERDICT_VALID, .token_id = 42};
  char out[512];
  long n;

  memcpy(v.tenant_id, tenant, sizeof tenant);
  n = auth_test_body(out, sizeof out, &v, "[\"*\"]");
  CHECKF(n > 0 &&
             strcmp(out, "{\"tenant_id\":\"0b6e7c51-4a0e-4a39-9a4e-"
                         "0cc1e3b3b0f1\",\"token_id\":42,\"abilities\":"
                         "[\"*\"],\"limits\":{\"token\":null,"
                         "\"tenant\":null}}") == 0 &&
             (size_t)n == strlen(out),
         "got %s", out);
  v.token_limit = (struct verdict_limit){5, 1};
  v.tenant_limit = (struct verdict_limit){1000000000, 86400};
  n = auth_test_body(out, sizeof out, &v,
                     " [ \"metrics:write\" , \"reports:*\" ] ");
  CHECKF(n > 0 && strstr(out, "\"abilities\":[\"metrics:write\","
                              "\"reports:*\"],\"limits\":{\"token\":{"
                              "\"requests\":5,\"seconds\":1},\"tenant\":{"
                              "\"requests\":1000000000,\"seconds\":86400}}}") !=
                      NULL,
         "got %s", out);
  n = auth_test_body(out, sizeof out, &v, "[]");
  CHECKF(n > 0 && strstr(out, "\"abilities\":[],") != NULL, "got %s", out);
  /* Unreadable sets, and none: null, never the stored text. */
  static const char *const bad[] = {
      "",    "[",         "[\"a\" \"b\"]", "[\"a\\\"\"]", "[\"\"]",
      "[1]", "[\"a b\"]", "[\"\x01\"]",    "{\"a\":1}",   "[\"</script>\"]x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = auth_test_body(out, sizeof out, &v, bad[i]);
    CHECKF(n > 0 && strstr(out, "\"abilities\":null,") != NULL, "%s gave %s",
           bad[i], out);
  }
  n = auth_test_body(out, sizeof out, &v, NULL);
  CHECKF(n > 0 && strstr(out, "\"abilities\":null,") != NULL, "got %s", out);
  /* Too small by one byte: -1, at every size below. */
  n = auth_test_body(out, sizeof out, &v, "[\"*\"]");
  REQUIRE(n > 0);
  for (size_t size = 0; size <= (size_t)n; size++)
    CHECKF(auth_test_body(out, size, &v, "[\"*\"]") == -1, "size %zu", size);
  CHECK(auth_test_body(out, (size_t)n + 1, &v, "[\"*\"]") == n);
}

/* RateLimit-Policy and RateLimit as draft-ietf-httpapi-ratelimit-headers-10
 * writes them (its section 3 and 4 examples: "default";q=100;w=10 and
 * "default";r=50;t=30): every policy in the first, the most restrictive in
 * the second. */
static void check_rate_fields(void)
{
  struct auth_rate r[2] = {{"token", 100, 60, 42, 17},
                           {"tenant", 1000000000, 86400, 999999999, 86400}};
  char policy[AUTH_RATE_FIELD], limit[AUTH_RATE_FIELD];

  CHECK(auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r, 2));
  CHECKF(strcmp(policy, "\"token\";q=100;w=60, \"tenant\";q=1000000000;"
                        "w=86400") == 0,
         "policy %s", policy);
  CHECKF(strcmp(limit, "\"token\";r=42;t=17") == 0, "limit %s", limit);
  r[1].remaining = 3;
  CHECK(auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r, 2));
  CHECKF(strcmp(limit, "\"tenant\";r=3;t=86400") == 0, "limit %s", limit);
  /* Equal remaining: the later reset is the more restrictive. */
  r[0].remaining = 0, r[1].remaining = 0, r[0].reset_s = 5, r[1].reset_s = 1;
  CHECK(auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r, 2));
  CHECKF(strcmp(limit, "\"token\";r=0;t=5") == 0, "limit %s", limit);
  CHECK(auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r + 1, 1));
  CHECK(strcmp(policy, "\"tenant\";q=1000000000;w=86400") == 0 &&
        strcmp(limit, "\"tenant\";r=0;t=1") == 0);
  CHECK(!auth_rate_fields(policy, sizeof policy, limit, sizeof limit, r, 0));
  CHECK(!auth_rate_fields(policy, 20, limit, sizeof limit, r, 2));
  CHECK(!auth_rate_fields(policy, sizeof policy, limit, 10, r, 2));
}

int main(void)
{
  check_rate_fields();
  check_auth_test_body();
  check_abilities();
  check_without_database();
  check_verdicts();
  check_state_words();
  check_failures();
  check_denials();
  return test_finish("auth");
}
