/* test_frequency.c: the random symbols of generated tokens are uniform over
 * the 62-symbol alphabet. A chi-square statistic over about 2,000,000
 * symbols (df = 61) must stay under TEST_CHI2_LIMIT, the p = 1e-6 point
 * (P[chi2_61 > 130] = 6.6e-7), so a good generator fails this test about
 * once in a million runs. The same statistic must exceed the limit for a
 * deliberately biased source, which shows the test can tell them apart.
 * Seeded sources (splitmix64) make those two cases deterministic. */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "token.h"

#define TEST_CHI2_LIMIT 130.0
#define SYMBOLS_WANTED 2000000L

static uint64_t prng_state;

/* splitmix64: a small, well-mixed, seedable generator (not for secrets). */
static uint64_t prng_next(void)
{
  uint64_t z = (prng_state += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform bytes 0..255: good once the generator rejects 248..255. */
static int source_uniform(unsigned char *out, int n)
{
  for (int i = 0; i < n; i++)
    out[i] = (unsigned char)(prng_next() >> 56);
  return 1;
}

/* Bytes 0..247 only, but 0 twice as likely as any other value, so the
 * symbol '0' (bytes 0, 62, 124, 186) comes up 5/249 instead of 4/249. */
static int source_biased(unsigned char *out, int n)
{
  for (int i = 0; i < n; i++) {
    uint64_t r = prng_next() % 249;

    out[i] = (unsigned char)(r == 248 ? 0 : r);
  }
  return 1;
}

/* Pearson's statistic of counts against the uniform distribution. */
static double chi_square(const long counts[TOKEN_ALPHABET_LEN], long total)
{
  double expect = (double)total / TOKEN_ALPHABET_LEN, stat = 0;

  for (int i = 0; i < TOKEN_ALPHABET_LEN; i++) {
    double d = (double)counts[i] - expect;
    stat += d * d / expect;
  }
  return stat;
}

/* Counts the random symbols of enough tokens from fn (NULL: the real
 * token_generate); returns the statistic, or -1 on a generator failure. */
static double statistic_of(token_rand_fn fn)
{
  long counts[TOKEN_ALPHABET_LEN] = {0};
  long total = 0;
  char tok[TOKEN_LEN];

  while (total < SYMBOLS_WANTED) {
    int rc = fn != NULL ? token_generate_from(tok, fn) : token_generate(tok);

    if (rc != 0)
      return -1;
    for (int i = TOKEN_PREFIX_LEN; i < TOKEN_BODY_LEN; i++) {
      int v = token_symbol_value((unsigned char)tok[i]);
      if (v < 0)
        return -1;
      counts[v]++;
      total++;
    }
  }
  return chi_square(counts, total);
}

static void check_statistic_itself(void)
{
  long flat[TOKEN_ALPHABET_LEN], skew[TOKEN_ALPHABET_LEN];

  for (int i = 0; i < TOKEN_ALPHABET_LEN; i++)
    flat[i] = skew[i] = 1000;
  skew[0] = 1062;
  skew[1] = 938;
  CHECK(chi_square(flat, 62000) == 0.0);
  /* (62^2 + 62^2) / 1000 = 7.688 */
  CHECK(chi_square(skew, 62000) > 7.687 && chi_square(skew, 62000) < 7.689);
}

int main(void)
{
  double real, uniform, biased;

  check_statistic_itself();

  real = statistic_of(NULL);
  printf("chi2 token_generate (RAND_bytes): %.1f\n", real);
  CHECKF(real >= 0 && real < TEST_CHI2_LIMIT,
         "token_generate: chi2 = %.1f, limit %.0f", real, TEST_CHI2_LIMIT);

  prng_state = 20240601;
  uniform = statistic_of(source_uniform);
  printf("chi2 uniform bytes 0..255 (rejection at 248): %.1f\n", uniform);
  CHECKF(uniform >= 0 && uniform < TEST_CHI2_LIMIT,
         "uniform source: chi2 = %.1f, limit %.0f", uniform, TEST_CHI2_LIMIT);

  prng_state = 20240601;
  biased = statistic_of(source_biased);
  printf("chi2 biased source (byte 0 doubled): %.1f\n", biased);
  CHECKF(biased > TEST_CHI2_LIMIT,
         "biased source: chi2 = %.1f, not over the limit %.0f", biased,
         TEST_CHI2_LIMIT);
  return test_finish("frequency");
}
