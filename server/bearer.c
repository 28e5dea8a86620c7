/* bearer.c: splits an Authorization header value into scheme and token.
 * See bearer.h for the grammar accepted. */
#include "bearer.h"

#include <stdbool.h>

#define BEARER_SCHEME "bearer"
#define BEARER_SCHEME_LEN 6

static bool bearer_blank(char c)
{
  return c == ' ' || c == '\t';
}

/* ASCII-only lower-casing, independent of the locale. */
static char bearer_lower(char c)
{
  if (c >= 'A' && c <= 'Z')
    return (char)(c - 'A' + 'a');
  return c;
}

enum bearer_result http_bearer_parse(const char *value, size_t len,
                                     const char **token, size_t *token_len)
{
  size_t i = 0;

  *token = NULL;
  *token_len = 0;
  if (value == NULL || len == 0)
    return BEARER_NONE;
  while (i < len && bearer_blank(value[i]))
    i++;
  if (len - i < BEARER_SCHEME_LEN)
    return BEARER_NONE;
  for (size_t k = 0; k < BEARER_SCHEME_LEN; k++) {
    if (bearer_lower(value[i + k]) != BEARER_SCHEME[k])
      return BEARER_NONE;
  }
  i += BEARER_SCHEME_LEN;
  if (i == len)
    return BEARER_EMPTY;
  /* "Bearerx" is another scheme, not Bearer with a token. */
  if (!bearer_blank(value[i]))
    return BEARER_NONE;
  while (i < len && bearer_blank(value[i]))
    i++;
  while (len > i && bearer_blank(value[len - 1]))
    len--;
  if (i == len)
    return BEARER_EMPTY;
  *token = value + i;
  *token_len = len - i;
  return BEARER_TOKEN;
}
