/* test_generate.c: token_generate and token_generate_from. Generated tokens
 * are well-formed and distinct; the rejection sampling terminates on a source
 * that only yields rejected bytes; a failing source gives -1 and a wiped
 * output; a counting source gives a known token. "Source" is the
 * RAND_bytes-shaped function the generator draws bytes from. */
#include <string.h>

#include "test.h"
#include "token.h"

#define MANY 100000

static long source_calls;

/* Every byte 0xFF, forever: all of them are rejected. */
static int source_all_ff(unsigned char *out, int n)
{
  source_calls++;
  if (source_calls > 100000)
    return 0; /* the generator would loop forever: stop it, fail below */
  memset(out, 0xFF, (size_t)n);
  return 1;
}

static int source_fails(unsigned char *out, int n)
{
  (void)out;
  (void)n;
  source_calls++;
  return 0;
}

static int source_minus_one(unsigned char *out, int n)
{
  (void)out;
  (void)n;
  source_calls++;
  return -1; /* RAND_bytes's "not supported" */
}

/* Ten good bytes on the first call, then failure: a half-built token. */
static int source_fails_second(unsigned char *out, int n)
{
  source_calls++;
  if (source_calls > 1)
    return 0;
  memset(out, 0xFF, (size_t)n);
  memset(out, 7, n < 10 ? (size_t)n : 10);
  return 1;
}

/* 0, 1, 2, ... 247, 0, 1, ...: every byte accepted, symbol i % 62. */
static unsigned counting_next;
static int source_counting(unsigned char *out, int n)
{
  source_calls++;
  for (int i = 0; i < n; i++) {
    out[i] = (unsigned char)counting_next;
    counting_next = (counting_next + 1) % 248;
  }
  return 1;
}

/* One acceptable byte (the value 5) per call, the rest rejected. */
static int source_sparse(unsigned char *out, int n)
{
  source_calls++;
  memset(out, 0xF8, (size_t)n);
  out[n - 1] = 5;
  return 1;
}

/* out holds nothing of a token nor of its old content 'Q'. */
static int wiped(const char *out)
{
  for (int i = 0; i < TOKEN_LEN; i++) {
    if (out[i] == 'Q' || out[i] == '_' || test_is_symbol((unsigned char)out[i]))
      return 0;
  }
  return 1;
}

static void check_failing_sources(void)
{
  static const struct {
    const char *name;
    token_rand_fn fn;
  } bad[] = {
      {"all 0xFF", source_all_ff},
      {"returns 0", source_fails},
      {"returns -1", source_minus_one},
      {"fails on second call", source_fails_second},
  };
  char out[TOKEN_LEN];

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    source_calls = 0;
    memset(out, 'Q', sizeof out);
    CHECKF(token_generate_from(out, bad[i].fn) == -1, "source %s: not -1",
           bad[i].name);
    CHECKF(wiped(out), "source %s: output not wiped", bad[i].name);
    CHECKF(source_calls >= 1 && source_calls <= 1024,
           "source %s: called %ld times", bad[i].name, source_calls);
  }
}

static void check_known_sources(void)
{
  static const char want[] =
      "ta1_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr3pGnmR";
  char out[TOKEN_LEN + 1];

  counting_next = 0;
  source_calls = 0;
  out[TOKEN_LEN] = '#';
  CHECK(token_generate_from(out, source_counting) == 0);
  CHECK_MEM(out, want, TOKEN_LEN);
  CHECK(out[TOKEN_LEN] == '#');

  /* 54 symbols from 54 calls still fits the generator's bound. */
  source_calls = 0;
  CHECK(token_generate_from(out, source_sparse) == 0);
  CHECK(token_valid(out, TOKEN_LEN));
  for (int i = TOKEN_PREFIX_LEN; i < TOKEN_BODY_LEN; i++)
    CHECKF(out[i] == '5', "sparse source: symbol %d is '%c'", i, out[i]);
  CHECK(source_calls == TOKEN_RANDOM_LEN);
}

static int compare_tokens(const void *a, const void *b)
{
  return memcmp(a, b, TOKEN_LEN);
}

static void check_many(void)
{
  char *all = malloc((size_t)MANY * TOKEN_LEN + 1);
  long bad = 0, dups = 0;

  REQUIRE(all != NULL);
  all[(size_t)MANY * TOKEN_LEN] = '#';
  for (size_t i = 0; i < MANY; i++) {
    char *t = all + i * TOKEN_LEN;

    if (token_generate(t) != 0 || memcmp(t, "ta1_", 4) != 0 ||
        !token_valid(t, TOKEN_LEN)) {
      bad++;
      continue;
    }
    for (int j = TOKEN_PREFIX_LEN; j < TOKEN_LEN; j++) {
      if (!test_is_symbol((unsigned char)t[j])) {
        bad++;
        break;
      }
    }
  }
  CHECKF(bad == 0, "%ld of %d generated tokens malformed", bad, MANY);
  CHECK(all[(size_t)MANY * TOKEN_LEN] == '#');

  qsort(all, MANY, TOKEN_LEN, compare_tokens);
  for (size_t i = 1; i < MANY; i++) {
    if (memcmp(all + (i - 1) * TOKEN_LEN, all + i * TOKEN_LEN, TOKEN_LEN) == 0)
      dups++;
  }
  CHECKF(dups == 0, "%ld duplicate tokens among %d", dups, MANY);
  free(all);
}

int main(void)
{
  check_failing_sources();
  check_known_sources();
  check_many();
  return test_finish("generate");
}
