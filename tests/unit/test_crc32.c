/* test_crc32.c: known-answer tests of token_crc32, the CRC-32 of IEEE 802.3
 * as zlib's crc32() computes it (reflected, polynomial 0xEDB88320, initial
 * value and final xor 0xFFFFFFFF). Expected values are the published check
 * values and zlib's results for the same inputs. */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "token.h"

struct crc_case {
  const char *input;
  uint32_t want;
};

static const struct crc_case crc_cases[] = {
    {"123456789", 0xCBF43926u}, /* the catalogue's check value */
    {"", 0x00000000u},
    {"a", 0xE8B7BE43u},
    {"abc", 0x352441C2u},
    {"The quick brown fox jumps over the lazy dog", 0x414FA339u},
};

/* One input fed as a single call, through an exact-size copy. */
static void check_case(const struct crc_case *c)
{
  size_t n = strlen(c->input);
  char *copy = test_dup(c->input, n);
  uint32_t got = token_crc32(copy, n);

  CHECKF(got == c->want, "crc32(\"%s\") = 0x%08X, want 0x%08X", c->input,
         (unsigned)got, (unsigned)c->want);
  free(copy);
}

int main(void)
{
  unsigned char zeros[32] = {0};
  unsigned char ones[32];

  for (size_t i = 0; i < sizeof crc_cases / sizeof crc_cases[0]; i++)
    check_case(&crc_cases[i]);

  /* Binary input: NUL bytes count, and a NULL pointer with length 0 is the
   * empty message. */
  memset(ones, 0xFF, sizeof ones);
  CHECK(token_crc32(zeros, sizeof zeros) == 0x190A55ADu);
  CHECK(token_crc32(ones, sizeof ones) == 0xFF6CAB0Bu);
  CHECK(token_crc32(zeros, 1) == 0xD202EF8Du);
  CHECK(token_crc32(NULL, 0) == 0);

  /* Length is honoured: the first 3 bytes of "abcdef" are "abc". */
  CHECK(token_crc32("abcdef", 3) == 0x352441C2u);
  return test_finish("crc32");
}
