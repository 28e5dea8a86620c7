/* fuzz_ability.c: fuzz target for the ability matcher, ability_granted
 * (server/ability.c). The input's first byte picks a layout:
 *
 *   even: raw. The bytes up to the first '\n' are the name asked for, the
 *         rest is the set, as they are.
 *   odd:  built. Every later byte picks a pattern from a table of patterns
 *         and near misses (low 5 bits) and the blanks around it (high 3
 *         bits); the set is those patterns written as a JSON array, and the
 *         name is the second byte's pick from a table of names.
 *
 * The oracle is worked out here from the rules of SQL's
 * verify_tenant_token_ability, in its own shape rather than the matcher's:
 * the set is split into JSON tokens, kept only if every element is a
 * string holding a pattern (ability.h's grammar, written again below),
 * and a name is granted when the set holds "*", the name, or LEFT(name, c)
 * followed by "*" for a colon at position c of the name (SQL's loop). Any
 * other set, and any name that is no name, is denied. */
#include <stdbool.h>
#include <string.h>

#include "ability.h"
#include "fuzz.h"

/* Patterns the model keeps before it calls a set malformed. */
#define MODEL_MAX 80

struct model_set {
  size_t n;
  const char *p[MODEL_MAX];
  size_t len[MODEL_MAX];
};

static bool model_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* segment = [a-z] *[a-z0-9_-]; s[0..len) is segments joined by ':'. */
static bool model_name(const char *s, size_t len)
{
  size_t start = 0;

  if (len == 0 || len > 64)
    return false;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != ':')
      continue;
    if (i == start || !(s[start] >= 'a' && s[start] <= 'z'))
      return false;
    for (size_t j = start + 1; j < i; j++) {
      if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", s[j]) ||
          s[j] == '\0')
        return false;
    }
    start = i + 1;
  }
  return true;
}

static bool model_pattern(const char *s, size_t len)
{
  if (len == 1 && s[0] == '*')
    return true;
  if (len >= 3 && len <= 64 && memcmp(s + len - 2, ":*", 2) == 0)
    return model_name(s, len - 2);
  return model_name(s, len);
}

/* Splits v[0..n) into the model's set; false when it is no such array. */
static bool model_parse(const char *v, size_t n, struct model_set *m)
{
  size_t i = 0;
  enum { OPEN, ELEMENT_OR_CLOSE, ELEMENT, COMMA_OR_CLOSE, END } want = OPEN;

  m->n = 0;
  if (n > ABILITY_SET_MAX)
    return false;
  for (;;) {
    while (i < n && model_blank(v[i]))
      i++;
    if (i == n)
      return want == END;
    switch (want) {
    case OPEN:
      if (v[i++] != '[')
        return false;
      want = ELEMENT_OR_CLOSE;
      break;
    case ELEMENT_OR_CLOSE:
    case ELEMENT: {
      const char *close;
      if (want == ELEMENT_OR_CLOSE && v[i] == ']') {
        i++;
        want = END;
        break;
      }
      if (v[i] != '"')
        return false;
      close = memchr(v + i + 1, '"', n - i - 1);
      if (close == NULL || m->n == MODEL_MAX)
        return false;
      m->p[m->n] = v + i + 1;
      m->len[m->n] = (size_t)(close - (v + i + 1));
      if (!model_pattern(m->p[m->n], m->len[m->n]))
        return false;
      m->n++;
      i = (size_t)(close - v) + 1;
      want = COMMA_OR_CLOSE;
      break;
    }
    case COMMA_OR_CLOSE:
      if (v[i] == ']')
        want = END;
      else if (v[i] == ',')
        want = ELEMENT;
      else
        return false;
      i++;
      break;
    case END:
      return false;
    }
  }
}

static bool model_holds(const struct model_set *m, const char *s, size_t len)
{
  for (size_t i = 0; i < m->n; i++) {
    if (m->len[i] == len && memcmp(m->p[i], s, len) == 0)
      return true;
  }
  return false;
}

static bool model_granted(const char *set, size_t set_len, const char *name,
                          size_t name_len)
{
  struct model_set m;
  char wild[ABILITY_NAME_MAX + 2];

  if (!model_name(name, name_len) || !model_parse(set, set_len, &m) ||
      m.n > ABILITY_SET_PATTERNS)
    return false;
  if (model_holds(&m, "*", 1) || model_holds(&m, name, name_len))
    return true;
  for (size_t c = 0; c < name_len; c++) {
    if (name[c] != ':')
      continue;
    memcpy(wild, name, c + 1);
    wild[c + 1] = '*';
    if (model_holds(&m, wild, c + 2))
      return true;
  }
  return false;
}

static const char *const patterns[32] = {
    "*",          "metrics",     "metrics:*",   "metrics:write",
    "metricsx:*", "metric:*",    "metrics:w:*", "metrics:write:*",
    "reports:*",  "a",           "a:b",         "a:b:*",
    "a:*",        "b:*",         "x_1:y-2",     "x_1:*",
    "Metrics:*",  "metrics:",    ":*",          "a*",
    "",           "*:*",         "metrics:*:*", "a b",
    "\\u002a",    "1a",          "a:_b",        "a::b",
    "m:*",        "metrics:raw", "z",           "a:b:c"};
static const char *const names[16] = {"metrics",
                                      "metrics:write",
                                      "metrics:write:raw",
                                      "metricsx:write",
                                      "metric:write",
                                      "a",
                                      "a:b",
                                      "a:b:c",
                                      "a:bc",
                                      "b",
                                      "x_1:y-2",
                                      "z:y:x",
                                      "metrics:*",
                                      "*",
                                      "",
                                      "Metrics:write"};
static const char *const blanks[8] = {"", "", "", " ", "\n", "\t ", "\r\n", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *v = (const char *)data;
  const char *set, *name;
  size_t set_len, name_len;
  char built[4096];
  bool got;

  if (size == 0)
    return 0;
  if ((data[0] & 1) == 0) {
    const char *nl = memchr(v + 1, '\n', size - 1);
    name = v + 1;
    name_len = nl != NULL ? (size_t)(nl - name) : size - 1;
    set = nl != NULL ? nl + 1 : v + size;
    set_len = size - 1 - name_len - (nl != NULL);
  } else {
    size_t n = 0;
    name = names[size > 1 ? data[1] % 16 : 0];
    name_len = strlen(name);
    built[n++] = '[';
    for (size_t i = 2; i < size && n < sizeof built - 100; i++) {
      n += (size_t)snprintf(built + n, sizeof built - n, "%s%s\"%s\"%s",
                            i > 2 ? "," : "", blanks[data[i] >> 5],
                            patterns[data[i] & 31], blanks[(data[i] >> 4) & 7]);
    }
    built[n++] = ']';
    set = built;
    set_len = n;
  }

  got = ability_granted(set, set_len, name, name_len);
  FUZZ_CHECK(got == model_granted(set, set_len, name, name_len));
  /* A pure function of the bytes; NULL grants nothing. */
  FUZZ_CHECK(ability_granted(set, set_len, name, name_len) == got);
  FUZZ_CHECK(!ability_granted(NULL, set_len, name, name_len));
  /* Whatever the set, an ability that is no name is denied. */
  if (!ability_name_valid(name, name_len))
    FUZZ_CHECK(!got);
  return 0;
}
