/* test_ability.c: the ability matcher (server/ability.c), known answers
 * worked out from the rules of verify_tenant_token_ability in install.sql
 * and the grammar in docs/sql-reference.md: exact names, "*", prefix
 * wildcards at every colon, the near misses (metrics against metrics:*,
 * metricsx:write against metrics:*), and the stated answer for bad input:
 * deny, whatever else the set holds. */
#include <string.h>

#include "ability.h"
#include "test.h"

/* granted(set, name): both as exact-size copies, so ASan sees an overread. */
static bool granted(const char *set, const char *name)
{
  char *s = test_dup(set, strlen(set)), *n = test_dup(name, strlen(name));
  bool r = ability_granted(s, strlen(set), n, strlen(name));

  free(s);
  free(n);
  return r;
}

#define GRANTS(set, name)                                                      \
  CHECKF(granted(set, name), "%s should grant %s", set, name)
#define DENIES(set, name)                                                      \
  CHECKF(!granted(set, name), "%s should deny %s", set, name)

static void names_and_patterns(void)
{
  static const char *const names[] = {
      "a",
      "metrics",
      "metrics:write",
      "a:b:c",
      "x_1-2",
      "a0:b-_",
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"};
  static const char *const not_names[] = {
      "",
      "*",
      "metrics:*",
      "Metrics",
      "1a",
      "a:",
      ":a",
      "a::b",
      "a:1b",
      "a b",
      "a.b",
      "-a",
      "a:_b",
      "metrics:W",
      "a\tb",
      "\xc3\xa9t",
      "a:*:b",
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"};

  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    CHECKF(ability_name_valid(names[i], strlen(names[i])), "name %s", names[i]);
    CHECKF(ability_pattern_valid(names[i], strlen(names[i])), "pattern %s",
           names[i]);
  }
  for (size_t i = 0; i < sizeof not_names / sizeof *not_names; i++)
    CHECKF(!ability_name_valid(not_names[i], strlen(not_names[i])),
           "not a name: %s", not_names[i]);
  CHECK(!ability_name_valid(NULL, 0));
  CHECK(!ability_name_valid("a\0b", 3));
  CHECK(ability_pattern_valid("*", 1));
  CHECK(ability_pattern_valid("metrics:*", 9));
  CHECK(ability_pattern_valid("a:b:*", 5));
  CHECK(!ability_pattern_valid(":*", 2));
  CHECK(!ability_pattern_valid("a*", 2));
  CHECK(!ability_pattern_valid("**", 2));
  CHECK(!ability_pattern_valid("*:a", 3));
  CHECK(!ability_pattern_valid("a:*:*", 5));
  CHECK(!ability_pattern_valid(NULL, 0));
  /* 62 bytes of name and ":*" is 64: the longest pattern. */
  CHECK(ability_pattern_valid(
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij:*", 64));
  CHECK(!ability_pattern_valid(
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk:*", 65));
}

static void the_rules(void)
{
  /* Exact names. */
  GRANTS("[\"metrics:write\"]", "metrics:write");
  DENIES("[\"metrics:write\"]", "metrics:read");
  DENIES("[\"metrics:write\"]", "metrics");
  DENIES("[\"metrics:write\"]", "metrics:write:raw");
  DENIES("[\"metrics\"]", "metrics:write");
  GRANTS("[\"metrics\"]", "metrics");
  /* "*" grants every name. */
  GRANTS("[\"*\"]", "metrics:write");
  GRANTS("[\"*\"]", "a");
  GRANTS("[\"a\",\"*\"]", "z:y:x");
  /* Prefix wildcards, at every colon of the name. */
  GRANTS("[\"metrics:*\"]", "metrics:write");
  GRANTS("[\"metrics:*\"]", "metrics:write:raw");
  GRANTS("[\"metrics:write:*\"]", "metrics:write:raw");
  GRANTS("[\"a:b:*\"]", "a:b:c:d");
  DENIES("[\"metrics:write:*\"]", "metrics:write");
  DENIES("[\"metrics:write:*\"]", "metrics:read:raw");
  DENIES("[\"a:b:*\"]", "a:bc:d");
  /* Near misses. */
  DENIES("[\"metrics:*\"]", "metrics");
  DENIES("[\"metrics:*\"]", "metricsx:write");
  DENIES("[\"metrics:*\"]", "metric:write");
  DENIES("[\"metrics:*\"]", "xmetrics:write");
  DENIES("[\"metrics:*\"]", "reports:metrics:write");
  DENIES("[\"metricsx:*\"]", "metrics:write");
  DENIES("[\"metrics\"]", "metricsx");
  DENIES("[\"metricsx\"]", "metrics");
  DENIES("[\"metrics:w\"]", "metrics:write");
  /* Several patterns: any one suffices; order and spacing do not matter. */
  GRANTS("[\"metrics:write\",\"reports:*\"]", "reports:pdf:a4");
  GRANTS("[\"reports:*\",\"metrics:write\"]", "metrics:write");
  DENIES("[\"metrics:write\",\"reports:*\"]", "reports");
  GRANTS(" [ \"a\" ,\n\t\"b:*\" ] \r\n", "b:c");
  GRANTS("[\"a\", \"a\"]", "a");
  /* The empty set grants nothing. */
  DENIES("[]", "a");
  DENIES(" [ ] ", "a");
}

static void bad_input(void)
{
  static const char *const sets[] = {
      "",                      /* empty */
      " ",                     /* blanks only */
      "*",                     /* not JSON */
      "\"*\"",                 /* a string, not an array */
      "{\"a\":\"*\"}",         /* an object */
      "[\"*\"",                /* unterminated */
      "[\"*]",                 /* unterminated string */
      "[\"*\",]",              /* trailing comma */
      "[,\"*\"]",              /* leading comma */
      "[\"*\" \"a\"]",         /* missing comma */
      "[\"*\"]]",              /* trailing bytes */
      "[\"*\"] x",             /* trailing bytes */
      "[[\"*\"]]",             /* nested */
      "[\"*\",1]",             /* a number */
      "[\"*\",null]",          /* null */
      "[\"*\",\"\"]",          /* an empty pattern */
      "[\"*\",\"Metrics\"]",   /* no pattern */
      "[\"*\",\"a:*:b\"]",     /* no pattern */
      "[\"\\u002a\"]",         /* an escape, even of "*" */
      "[\"*\",\"a\\\"b\"]",    /* an escaped quote */
      "['*']",                 /* single quotes */
      "[\"*\"\x01]",           /* a control byte */
      "\xef\xbb\xbf[\"*\"]",   /* a byte order mark */
      "[\"*\", \"\xc3\xa9\"]", /* UTF-8 */
  };
  char big[ABILITY_SET_MAX + 16];
  size_t n;

  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
    DENIES(sets[i], "metrics:write");

  /* NULL and NUL: binary input is denied. */
  CHECK(!ability_granted(NULL, 0, "a", 1));
  CHECK(!ability_granted(NULL, 5, "a", 1));
  CHECK(!ability_granted("[\"*\"]\0", 6, "a", 1));
  CHECK(!ability_granted("[\"*\0\"]", 6, "a", 1));
  CHECK(ability_granted("[\"*\"]", 5, "a", 1));

  /* The name must be a name: a wildcard or worse is not looked up. */
  DENIES("[\"*\"]", "");
  DENIES("[\"*\"]", "*");
  DENIES("[\"metrics:*\"]", "metrics:*");
  DENIES("[\"*\"]", "Metrics");
  CHECK(!ability_granted("[\"*\"]", 5, NULL, 0));
  CHECK(!ability_granted("[\"*\"]", 5, "a\0", 2));

  /* 64 patterns are allowed, 65 are not, wherever "*" is. */
  n = (size_t)snprintf(big, sizeof big, "[\"*\"");
  for (int i = 1; i < ABILITY_SET_PATTERNS; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, ",\"p%d\"", i);
  CHECK(n + 1 < sizeof big);
  big[n] = ']';
  CHECK(ability_granted(big, n + 1, "z", 1));
  n += (size_t)snprintf(big + n, sizeof big - n, ",\"q\"]");
  CHECK(!ability_granted(big, n, "z", 1));

  /* Oversized: more than ABILITY_SET_MAX bytes, even of blanks. */
  memset(big, ' ', sizeof big);
  memcpy(big, "[\"*\"]", 5);
  CHECK(ability_granted(big, ABILITY_SET_MAX, "a", 1));
  CHECK(!ability_granted(big, ABILITY_SET_MAX + 1, "a", 1));
}

int main(void)
{
  names_and_patterns();
  the_rules();
  bad_input();
  return test_finish("ability");
}
