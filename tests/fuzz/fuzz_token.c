/* fuzz_token.c: fuzz target for token validation. Any input goes to
 * token_valid; a valid one must be 64 bytes with the prefix and hash with
 * token_sha256. The first 58 bytes ("body") are also completed with their
 * own checksum: the result must be valid exactly when the body is the prefix
 * plus 54 symbols, and a different checksum must be refused. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "token.h"


/* The body is "ta1_" plus 54 base62 symbols (checked here independently). */
static bool body_well_formed(const char *b)
{
  if (memcmp(b, "ta1_", 4) != 0)
    return false;
  for (size_t i = TOKEN_PREFIX_LEN; i < TOKEN_BODY_LEN; i++) {
    char c = b[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
          (c >= 'a' && c <= 'z')))
      return false;
  }
  return true;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  unsigned char h1[TOKEN_HASH_LEN], h2[TOKEN_HASH_LEN];
  char t[TOKEN_LEN];
  bool body_ok;

  if (token_valid(s, size)) {
    FUZZ_CHECK(size == TOKEN_LEN);
    FUZZ_CHECK(body_well_formed(s));
    FUZZ_CHECK(token_sha256(s, size, h1) == 0);
    FUZZ_CHECK(token_sha256(s, size, h2) == 0);
    FUZZ_CHECK(memcmp(h1, h2, sizeof h1) == 0);
  }
  if (size < TOKEN_BODY_LEN)
    return 0;

  memcpy(t, s, TOKEN_BODY_LEN);
  body_ok = body_well_formed(t);
  token_checksum_encode(token_crc32(t, TOKEN_BODY_LEN), t + TOKEN_BODY_LEN);
  for (size_t i = TOKEN_BODY_LEN; i < TOKEN_LEN; i++)
    FUZZ_CHECK(token_symbol_value((unsigned char)t[i]) >= 0);
  FUZZ_CHECK(token_valid(t, TOKEN_LEN) == body_ok);
  if (size >= TOKEN_LEN &&
      memcmp(s + TOKEN_BODY_LEN, t + TOKEN_BODY_LEN, TOKEN_CHECK_LEN) != 0)
    FUZZ_CHECK(!token_valid(s, TOKEN_LEN));
  return 0;
}
