/* form.c: application/x-www-form-urlencoded lookup; see form.h. */
#include "form.h"

#include <string.h>
#include <strings.h>

static int form_hex(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes s[0..len) into out (room for out_size - 1 bytes and a NUL); -1
 * on a bad escape or when it does not fit. */
static long form_decode(const char *s, size_t len, char *out, size_t out_size)
{
  size_t o = 0;

  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int hi, lo;
      if (len - i < 3)
        return -1;
      hi = form_hex(s[i + 1]);
      lo = form_hex(s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (o + 1 >= out_size)
      return -1;
    out[o++] = c;
  }
  if (out_size > 0)
    out[o] = '\0';
  return (long)o;
}

enum form_result form_get(const char *body, size_t len, const char *name,
                          char *out, size_t out_size, size_t *out_len)
{
  char key[64];
  size_t i = 0;
  bool found = false;

  *out_len = 0;
  if (out_size == 0)
    return FORM_MALFORMED;
  out[0] = '\0';
  while (i <= len && body != NULL) {
    const char *pair = body + i;
    const char *end = memchr(pair, '&', len - i);
    size_t pair_len = end != NULL ? (size_t)(end - pair) : len - i;
    const char *eq = memchr(pair, '=', pair_len);
    size_t key_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
    long k = form_decode(pair, key_len, key, sizeof key);

    if (pair_len > 0 && k >= 0 && (size_t)k == strlen(name) &&
        memcmp(key, name, (size_t)k) == 0) {
      long v;
      if (found)
        return FORM_REPEATED;
      found = true;
      v = eq != NULL
              ? form_decode(eq + 1, pair_len - key_len - 1, out, out_size)
              : form_decode("", 0, out, out_size);
      if (v < 0)
        return FORM_MALFORMED;
      *out_len = (size_t)v;
    }
    if (end == NULL)
      break;
    i += pair_len + 1;
  }
  return found ? FORM_OK : FORM_ABSENT;
}

bool form_content_type_ok(const char *value)
{
  static const char type[] = "application/x-www-form-urlencoded";
  size_t n = sizeof type - 1;

  if (value == NULL || strncasecmp(value, type, n) != 0)
    return false;
  while (value[n] == ' ' || value[n] == '\t')
    n++;
  return value[n] == '\0' || value[n] == ';';
}
