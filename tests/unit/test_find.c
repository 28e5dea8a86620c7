/* test_find.c: token_find finds the first well-formed token anywhere in a
 * string. The oracle is the definition itself, written apart: the smallest
 * offset whose 64-byte window token_valid accepts. Checked on hand-made
 * cases (a token at the start, the end, after a NUL, in "ta1_ta1_..."
 * overlaps, a mutated one) and on random mixes of token pieces and junk.
 * Inputs are exact-size copies so ASan reports any read past the length. */
#include <string.h>

#include "test.h"
#include "token.h"

#define BIG_LEN ((size_t)16 * 1024 * 1024)

static const char fixed[] =
    "ta1_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr3pGnmR";

/* The definition: first window that is a token, as offset + 1, else 0. */
static size_t find_by_definition(const char *s, size_t len)
{
  for (size_t i = 0; i + TOKEN_LEN <= len; i++) {
    if (token_valid(s + i, TOKEN_LEN))
      return i + 1;
  }
  return 0;
}

static size_t find_copy(const char *s, size_t len)
{
  char *copy = test_dup(s, len);
  size_t r = token_find(copy, len);

  free(copy);
  return r;
}

static void check_cases(void)
{
  char buf[4 * TOKEN_LEN], tok[TOKEN_LEN];

  CHECK(token_find(NULL, 0) == 0);
  CHECK(token_find(NULL, 100) == 0);
  CHECK(find_copy("", 0) == 0);
  CHECK(find_copy(fixed, TOKEN_LEN) == 1);
  CHECK(find_copy(fixed, TOKEN_LEN - 1) == 0);
  CHECK(find_copy(fixed + 1, TOKEN_LEN - 1) == 0);

  /* After text, a NUL and "ta1_" that starts no token. */
  memcpy(buf, "x\0ta1_", 6);
  memcpy(buf + 6, fixed, TOKEN_LEN);
  CHECK(find_copy(buf, 6 + TOKEN_LEN) == 7);
  CHECK(find_copy(buf, 6 + TOKEN_LEN - 1) == 0);

  /* Two tokens: the first one counts. */
  REQUIRE(token_generate(tok) == 0);
  memcpy(buf, tok, TOKEN_LEN);
  memcpy(buf + TOKEN_LEN, fixed, TOKEN_LEN);
  CHECK(find_copy(buf, 2 * TOKEN_LEN) == 1);
  buf[10] ^= 1; /* the first no longer checks out */
  CHECK(find_copy(buf, 2 * TOKEN_LEN) == TOKEN_LEN + 1);
}

/* Random strings built from token pieces, whole tokens and junk bytes. */
static void check_random(void)
{
  static const char *junk[] = {"t", "ta", "ta1", "ta1_",
                               " ", "\0", "=",   "\xff"};
  char buf[4 * TOKEN_LEN], tok[TOKEN_LEN];
  unsigned seed = 12345;
  long found = 0;

  for (int round = 0; round < 20000; round++) {
    size_t len = 0;
    REQUIRE(token_generate(tok) == 0);
    while (len < sizeof buf - TOKEN_LEN) {
      seed = seed * 1103515245u + 12345u;
      unsigned pick = (seed >> 16) % 10;
      if (pick < 8) {
        size_t n = strlen(junk[pick]) + (pick == 5);
        memcpy(buf + len, junk[pick], n);
        len += n;
      } else if (pick == 8) {
        memcpy(buf + len, tok, TOKEN_LEN / 2 + (seed >> 8) % (TOKEN_LEN / 2));
        len += TOKEN_LEN / 2 + (seed >> 8) % (TOKEN_LEN / 2);
      } else if ((seed >> 12) % 4 == 0) {
        memcpy(buf + len, tok, TOKEN_LEN);
        len += TOKEN_LEN;
      }
      if ((seed >> 20) % 16 == 0)
        break;
    }
    size_t want = find_by_definition(buf, len);
    size_t got = find_copy(buf, len);
    CHECKF(got == want, "round %d: token_find %zu, definition %zu", round, got,
           want);
    found += want != 0;
  }
  CHECKF(found > 100, "only %ld of the random strings held a token", found);
}

static void check_big(void)
{
  char *big = malloc(BIG_LEN);

  REQUIRE(big != NULL);
  memset(big, 't', BIG_LEN);
  CHECK(token_find(big, BIG_LEN) == 0);
  memcpy(big + BIG_LEN - TOKEN_LEN, fixed, TOKEN_LEN);
  CHECK(token_find(big, BIG_LEN) == BIG_LEN - TOKEN_LEN + 1);
  free(big);
}

int main(void)
{
  check_cases();
  check_random();
  check_big();
  return test_finish("test_find");
}
