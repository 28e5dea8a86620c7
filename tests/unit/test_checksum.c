/* test_checksum.c: the checksum encoding (CRC-32 as 6 base62 digits, most
 * significant first), token_symbol_value, and fixed tokens whose expected
 * checksums were computed outside this code base (Python's zlib.crc32 and a
 * separate base62 encoder) and are written here as literals. */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "token.h"

struct enc_case {
  uint32_t crc;
  const char *want;
};

static const struct enc_case enc_cases[] = {
    {0u, "000000"},         {1u, "000001"},          {9u, "000009"},
    {10u, "00000A"},        {35u, "00000Z"},         {36u, "00000a"},
    {61u, "00000z"},        {62u, "000010"},         {3844u, "000100"},
    {916132832u, "100000"}, {0xFFFFFFFFu, "4gfFC3"},
};

/* A body (first 58 bytes) and the checksum that completes it. */
struct fixed_token {
  const char *body;
  const char *check;
};

static const struct fixed_token fixed_tokens[] = {
    {"ta1_000000000000000000000000000000000000000000000000000000", "3y0Fia"},
    {"ta1_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "39KHbp"},
    {"ta1_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "0egte5"},
    {"ta1_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr", "3pGnmR"},
};

/* The base62 digits of crc by repeated division, written independently. */
static void reference_encode(uint32_t crc, char out[TOKEN_CHECK_LEN])
{
  uint64_t v = crc;

  for (int i = TOKEN_CHECK_LEN - 1; i >= 0; i--) {
    out[i] = TEST_ALPHABET[v % 62];
    v /= 62;
  }
}

static void check_encoding(void)
{
  char out[TOKEN_CHECK_LEN + 2];
  char want[TOKEN_CHECK_LEN];
  uint32_t x = 2463534242u; /* xorshift32 state: a spread of values */

  for (size_t i = 0; i < sizeof enc_cases / sizeof enc_cases[0]; i++) {
    memset(out, '#', sizeof out);
    token_checksum_encode(enc_cases[i].crc, out);
    CHECK_MEM(out, enc_cases[i].want, TOKEN_CHECK_LEN);
    CHECKF(out[TOKEN_CHECK_LEN] == '#' && out[TOKEN_CHECK_LEN + 1] == '#',
           "encode(%u) wrote past 6 bytes", (unsigned)enc_cases[i].crc);
    reference_encode(enc_cases[i].crc, want);
    CHECK_MEM(want, enc_cases[i].want, TOKEN_CHECK_LEN);
  }
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    token_checksum_encode(x, out);
    reference_encode(x, want);
    CHECKF(memcmp(out, want, TOKEN_CHECK_LEN) == 0,
           "encode(%u) = %.6s, "
           "want %.6s",
           (unsigned)x, out, want);
  }
}

static void check_symbol_values(void)
{
  for (int c = 0; c < 256; c++) {
    const char *at =
        test_is_symbol((unsigned char)c) ? strchr(TEST_ALPHABET, c) : NULL;
    int want = at != NULL ? (int)(at - TEST_ALPHABET) : -1;
    int got = token_symbol_value((unsigned char)c);

    CHECKF(got == want, "token_symbol_value(0x%02X) = %d, want %d", c, got,
           want);
  }
}

/* The symbol d steps after c in the alphabet, wrapping around. */
static char symbol_shift(char c, int d)
{
  int v = (int)(strchr(TEST_ALPHABET, c) - TEST_ALPHABET);

  return TEST_ALPHABET[(v + d + 62) % 62];
}

static void check_fixed_tokens(void)
{
  for (size_t i = 0; i < sizeof fixed_tokens / sizeof fixed_tokens[0]; i++) {
    const struct fixed_token *f = &fixed_tokens[i];
    char tok[TOKEN_LEN];
    char enc[TOKEN_CHECK_LEN];
    char *copy;

    REQUIRE(strlen(f->body) == TOKEN_BODY_LEN);
    REQUIRE(strlen(f->check) == TOKEN_CHECK_LEN);
    memcpy(tok, f->body, TOKEN_BODY_LEN);
    memcpy(tok + TOKEN_BODY_LEN, f->check, TOKEN_CHECK_LEN);

    token_checksum_encode(token_crc32(f->body, TOKEN_BODY_LEN), enc);
    CHECK_MEM(enc, f->check, TOKEN_CHECK_LEN);

    copy = test_dup(tok, TOKEN_LEN);
    CHECKF(token_valid(copy, TOKEN_LEN), "fixed token %zu not valid", i);
    free(copy);

    /* Each checksum symbol one step up or down in the alphabet. */
    for (int pos = TOKEN_BODY_LEN; pos < TOKEN_LEN; pos++) {
      for (int d = -1; d <= 1; d += 2) {
        char saved = tok[pos];

        tok[pos] = symbol_shift(saved, d);
        copy = test_dup(tok, TOKEN_LEN);
        CHECKF(!token_valid(copy, TOKEN_LEN),
               "fixed token %zu valid with checksum symbol %d shifted by %d", i,
               pos, d);
        free(copy);
        tok[pos] = saved;
      }
    }
  }
}

int main(void)
{
  check_encoding();
  check_symbol_values();
  check_fixed_tokens();
  return test_finish("checksum");
}
