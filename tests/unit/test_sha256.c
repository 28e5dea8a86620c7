/* test_sha256.c: known-answer tests of token_sha256 against the NIST
 * FIPS 180-2 / CAVP example vectors (empty string, "abc", the 448-bit
 * two-block message and one million 'a'), plus its NULL and length rules. */
#include <string.h>

#include "test.h"
#include "token.h"

struct sha_case {
  const char *name;
  const char *input; /* NULL: one million 'a' */
  const char *want;  /* 64 lowercase hex digits */
};

static const struct sha_case sha_cases[] = {
    {"empty", "",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "abc",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"448-bit", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"million-a", NULL,
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void check_case(const struct sha_case *c)
{
  unsigned char digest[TOKEN_HASH_LEN];
  char hex[2 * TOKEN_HASH_LEN + 1];
  size_t n;
  char *copy;

  if (c->input != NULL) {
    n = strlen(c->input);
    copy = test_dup(c->input, n);
  } else {
    n = 1000000;
    copy = malloc(n);
    REQUIRE(copy != NULL);
    memset(copy, 'a', n);
  }
  memset(digest, 0xAA, sizeof digest);
  CHECKF(token_sha256(copy, n, digest) == 0, "sha256(%s) failed", c->name);
  test_hex(digest, sizeof digest, hex);
  CHECKF(strcmp(hex, c->want) == 0, "sha256(%s) = %s, want %s", c->name, hex,
         c->want);
  free(copy);
}

int main(void)
{
  unsigned char a[TOKEN_HASH_LEN], b[TOKEN_HASH_LEN];
  char hex[2 * TOKEN_HASH_LEN + 1];

  for (size_t i = 0; i < sizeof sha_cases / sizeof sha_cases[0]; i++)
    check_case(&sha_cases[i]);

  /* NULL with length 0 is the empty message; NULL with a length is refused. */
  CHECK(token_sha256(NULL, 0, a) == 0);
  test_hex(a, sizeof a, hex);
  CHECK(strcmp(hex, sha_cases[0].want) == 0);
  CHECK(token_sha256(NULL, 1, a) == -1);

  /* Only len bytes count, NULs included. */
  CHECK(token_sha256("abcdef", 3, a) == 0);
  test_hex(a, sizeof a, hex);
  CHECK(strcmp(hex, sha_cases[1].want) == 0);
  CHECK(token_sha256("abc\0", 4, b) == 0);
  CHECK(memcmp(a, b, sizeof a) != 0);
  return test_finish("sha256");
}
