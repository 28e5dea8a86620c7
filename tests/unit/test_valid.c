/* test_valid.c: token_valid rejects everything but a well-formed token.
 * Every single-byte change of a valid token (64 positions x 255 other byte
 * values) is caught; every length but 64 is refused, up to a 16 MB buffer;
 * a wrong prefix is refused even when the checksum matches it. Inputs are
 * exact-size copies so ASan reports any read past the given length. */
#include <string.h>

#include "test.h"
#include "token.h"

#define BIG_LEN ((size_t)16 * 1024 * 1024)

static const char fixed[] =
    "ta1_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr3pGnmR";

/* token_valid on an exact-size copy of s[0..len). */
static int valid_copy(const char *s, size_t len)
{
  char *copy = test_dup(s, len);
  int v = token_valid(copy, len);

  free(copy);
  return v;
}

/* All 64 * 255 one-byte changes of tok are refused. */
static void check_mutations(const char *tok)
{
  char *copy = test_dup(tok, TOKEN_LEN);
  long accepted = 0;

  CHECKF(token_valid(copy, TOKEN_LEN), "base token %.64s not valid", tok);
  for (int pos = 0; pos < TOKEN_LEN; pos++) {
    for (int b = 0; b < 256; b++) {
      if (b == (unsigned char)tok[pos])
        continue;
      copy[pos] = (char)b;
      if (token_valid(copy, TOKEN_LEN)) {
        accepted++;
        CHECKF(0, "%.64s with byte %d set to 0x%02X accepted", tok, pos, b);
      }
    }
    copy[pos] = tok[pos];
  }
  CHECK(accepted == 0);
  free(copy);
}

static void check_lengths(const char *tok)
{
  char longer[201];
  char *big;

  /* Prefixes of a valid token, and a valid token followed by symbols. */
  for (size_t i = 0; i < sizeof longer; i++)
    longer[i] = i < TOKEN_LEN ? tok[i] : TEST_ALPHABET[i % 62];
  for (size_t len = 0; len <= 200; len++) {
    if (len == TOKEN_LEN)
      continue;
    CHECKF(!valid_copy(longer, len), "length %zu accepted", len);
  }
  CHECK(valid_copy(longer, TOKEN_LEN));
  /* The same token twice is 128 bytes, not a token. */
  memcpy(longer + TOKEN_LEN, tok, TOKEN_LEN);
  CHECK(!valid_copy(longer, 2 * TOKEN_LEN));

  CHECK(!token_valid(NULL, 0));
  CHECK(!token_valid(NULL, TOKEN_LEN));

  /* 16 MB starting with a valid token, then 'a'. */
  big = malloc(BIG_LEN);
  REQUIRE(big != NULL);
  memset(big, 'a', BIG_LEN);
  memcpy(big, tok, TOKEN_LEN);
  CHECK(!token_valid(big, BIG_LEN));
  CHECK(!token_valid(big, TOKEN_LEN + 1));
  CHECK(token_valid(big, TOKEN_LEN));
  free(big);
}

/* Validity of tok with its prefix replaced and the checksum recomputed,
 * so that nothing but the prefix can be wrong. */
static int valid_with_prefix(const char *tok, const char *prefix)
{
  char t[TOKEN_LEN];

  memcpy(t, tok, TOKEN_LEN);
  memcpy(t, prefix, TOKEN_PREFIX_LEN);
  token_checksum_encode(token_crc32(t, TOKEN_BODY_LEN), t + TOKEN_BODY_LEN);
  return valid_copy(t, TOKEN_LEN);
}

/* Binary bodies with a matching checksum: a NUL inside the random part,
 * all-NUL and all-0xFF tokens. */
static void check_binary(const char *tok)
{
  char t[TOKEN_LEN];

  memcpy(t, tok, TOKEN_LEN);
  t[10] = '\0';
  token_checksum_encode(token_crc32(t, TOKEN_BODY_LEN), t + TOKEN_BODY_LEN);
  CHECK(!valid_copy(t, TOKEN_LEN));

  memset(t, 0, sizeof t);
  CHECK(!valid_copy(t, TOKEN_LEN));
  memset(t, 0xFF, sizeof t);
  CHECK(!valid_copy(t, TOKEN_LEN));
}

int main(void)
{
  static const char *prefixes[] = {"TA1_", "ta2_", "Ta1_",  "tA1_", "ta1-",
                                   "ta0_", "ta1 ", "ta1\0", "ta10", " ta1"};
  char gen[TOKEN_LEN];

  check_mutations(fixed);
  for (int i = 0; i < 4; i++) {
    REQUIRE(token_generate(gen) == 0);
    check_mutations(gen);
  }
  check_lengths(fixed);
  check_lengths(gen);
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    CHECKF(!valid_with_prefix(gen, prefixes[i]), "prefix \"%.4s\" accepted",
           prefixes[i]);
  CHECK(valid_with_prefix(gen, "ta1_")); /* the control */
  check_binary(gen);
  return test_finish("valid");
}
