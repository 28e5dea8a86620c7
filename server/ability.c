/* ability.c: the ability matcher; see ability.h for its terms and rules. */
#include "ability.h"

#include <string.h>

static bool lower(char c)
{
  return c >= 'a' && c <= 'z';
}

static bool segment_char(char c)
{
  return lower(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool ability_name_valid(const char *s, size_t len)
{
  bool segment_start = true;

  if (s == NULL || len == 0 || len > ABILITY_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    if (segment_start) {
      if (!lower(s[i]))
        return false;
      segment_start = false;
    } else if (s[i] == ':') {
      segment_start = true;
    } else if (!segment_char(s[i])) {
      return false;
    }
  }
  return !segment_start;
}

bool ability_pattern_valid(const char *s, size_t len)
{
  if (s == NULL || len == 0 || len > ABILITY_NAME_MAX)
    return false;
  if (len == 1 && s[0] == '*')
    return true;
  if (len > 2 && s[len - 2] == ':' && s[len - 1] == '*')
    return ability_name_valid(s, len - 2);
  return ability_name_valid(s, len);
}

/* Whether pattern p[0..len), already checked, grants the name n[0..n_len). */
static bool pattern_grants(const char *p, size_t len, const char *n,
                           size_t n_len)
{
  if (len == 1 && p[0] == '*')
    return true;
  if (p[len - 1] == '*') /* "x:*": "x:" must start the name, and more follow */
    return n_len > len - 1 && memcmp(n, p, len - 1) == 0;
  return n_len == len && memcmp(n, p, len) == 0;
}

static bool json_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool ability_granted(const char *set, size_t set_len, const char *name,
                     size_t name_len)
{
  size_t i = 0, count = 0;
  bool granted = false;

  if (set == NULL || set_len > ABILITY_SET_MAX ||
      !ability_name_valid(name, name_len))
    return false;
  while (i < set_len && json_blank(set[i]))
    i++;
  if (i == set_len || set[i++] != '[')
    return false;
  while (i < set_len && json_blank(set[i]))
    i++;
  if (i < set_len && set[i] == ']') {
    i++;
  } else {
    for (;;) {
      size_t start;
      if (i == set_len || set[i++] != '"')
        return false;
      start = i;
      /* No escapes: no pattern needs one, so a backslash is malformed. */
      while (i < set_len && set[i] != '"' && set[i] != '\\')
        i++;
      if (i == set_len || set[i] != '"' ||
          !ability_pattern_valid(set + start, i - start) ||
          ++count > ABILITY_SET_PATTERNS)
        return false;
      if (pattern_grants(set + start, i - start, name, name_len))
        granted = true;
      i++;
      while (i < set_len && json_blank(set[i]))
        i++;
      if (i == set_len)
        return false;
      if (set[i] == ']') {
        i++;
        break;
      }
      if (set[i++] != ',')
        return false;
      while (i < set_len && json_blank(set[i]))
        i++;
    }
  }
  while (i < set_len && json_blank(set[i]))
    i++;
  return i == set_len && granted;
}
