/* fuzz_bearer.c: fuzz target for the Authorization header parser,
 * http_bearer_parse (server/bearer.c). Checks its contract from bearer.h:
 * on BEARER_TOKEN the token is a non-empty slice of the input without
 * leading or trailing blanks, preceded by optional blanks, the scheme
 * "Bearer" in any case and at least one blank, and followed only by blanks;
 * otherwise the outputs are NULL and 0. The result class is compared with
 * one worked out here from bearer.h's grammar. The token then goes to
 * token_valid, as tenant-authd does. "Blank" is a space or a tab. */
#include <stdbool.h>
#include <string.h>

#include "bearer.h"
#include "fuzz.h"
#include "token.h"


static bool blank(char c)
{
  return c == ' ' || c == '\t';
}


/* v[0..6) is "bearer" in any ASCII case. */
static bool bearer_word(const char *v)
{
  for (int i = 0; i < 6; i++) {
    char c = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
    if (c != "bearer"[i])
      return false;
  }
  return true;
}


/* v[0..n) is blanks, "bearer" in any case, then at least one blank. */
static bool scheme_part(const char *v, size_t n)
{
  size_t i = 0;

  while (i < n && blank(v[i]))
    i++;
  if (n - i < 7 || !bearer_word(v + i))
    return false;
  for (i += 6; i < n; i++) {
    if (!blank(v[i]))
      return false;
  }
  return blank(v[n - 1]);
}


/* The result bearer.h specifies for v[0..n), worked out independently. */
static enum bearer_result expected(const char *v, size_t n)
{
  size_t i = 0;

  while (i < n && blank(v[i]))
    i++;
  if (n - i < 6 || !bearer_word(v + i))
    return BEARER_NONE;
  i += 6;
  if (i < n && !blank(v[i]))
    return BEARER_NONE;
  for (; i < n; i++) {
    if (!blank(v[i]))
      return BEARER_TOKEN;
  }
  return BEARER_EMPTY;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *v = (const char *)data;
  const char *tok = v; /* non-NULL: the parser must reset it */
  size_t tok_len = 12345;
  enum bearer_result r = http_bearer_parse(v, size, &tok, &tok_len);
  size_t start, i;

  FUZZ_CHECK(r == expected(v, size));
  if (size == 0) {
    FUZZ_CHECK(http_bearer_parse(NULL, 0, &tok, &tok_len) == BEARER_NONE);
    FUZZ_CHECK(tok == NULL && tok_len == 0);
  }
  if (r != BEARER_TOKEN) {
    FUZZ_CHECK(tok == NULL && tok_len == 0);
    return 0;
  }
  FUZZ_CHECK(tok != NULL && tok_len > 0);
  FUZZ_CHECK(tok >= v && tok_len <= size &&
             (size_t)(tok - v) <= size - tok_len);
  FUZZ_CHECK(!blank(tok[0]) && !blank(tok[tok_len - 1]));
  start = (size_t)(tok - v);
  FUZZ_CHECK(scheme_part(v, start));
  for (i = start + tok_len; i < size; i++)
    FUZZ_CHECK(blank(v[i]));

  /* What the server does next; a valid token is exactly 64 bytes. */
  if (token_valid(tok, tok_len))
    FUZZ_CHECK(tok_len == TOKEN_LEN);

  /* Parsing is a pure function of the bytes. */
  {
    const char *again;
    size_t again_len;
    FUZZ_CHECK(http_bearer_parse(v, size, &again, &again_len) == r);
    FUZZ_CHECK(again == tok && again_len == tok_len);
  }
  return 0;
}
