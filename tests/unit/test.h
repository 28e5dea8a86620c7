/* test.h: the unit tests' tiny assertion kit, no framework. CHECK(cond)
 * records a failure with file:line and carries on, so one run reports every
 * broken case; main() ends with "return test_finish(name);", which prints a
 * summary and turns any failure into exit status 1 for CTest. Also holds the
 * helpers several tests share: exact-size copies (no NUL after the bytes, so
 * ASan sees any overread), hex formatting and an independent alphabet. */
#ifndef TENANT_AUTH_TEST_H
#define TENANT_AUTH_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Independent copy of the base62 alphabet, written out again on purpose. */
#define TEST_ALPHABET                                                          \
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* Failures printed in full; later ones are only counted. */
#define TEST_MAX_REPORTS 30

static long test_checks;
static long test_failures;

static inline void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void test_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  test_failures++;
  if (test_failures > TEST_MAX_REPORTS)
    return;
  fprintf(stderr, "%s:%d: FAIL: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* CHECK(cond): cond must hold. CHECKF adds a printf-style explanation. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    test_checks++;                                                             \
    if (!(cond))                                                               \
      test_fail(__FILE__, __LINE__, "%s", #cond);                              \
  } while (0)

#define CHECKF(cond, ...)                                                      \
  do {                                                                         \
    test_checks++;                                                             \
    if (!(cond))                                                               \
      test_fail(__FILE__, __LINE__, __VA_ARGS__);                              \
  } while (0)

/* The n bytes at a equal those at b; prints both as text on failure. */
#define CHECK_MEM(a, b, n)                                                     \
  do {                                                                         \
    test_checks++;                                                             \
    if (memcmp((a), (b), (n)) != 0)                                            \
      test_fail(__FILE__, __LINE__, "%s == %s: got \"%.*s\", want \"%.*s\"",   \
                #a, #b, (int)(n), (const char *)(a), (int)(n),                 \
                (const char *)(b));                                            \
  } while (0)

/* Prints the summary line; the return value is main()'s exit status. */
static inline int test_finish(const char *name)
{
  if (test_failures > TEST_MAX_REPORTS)
    fprintf(stderr, "... %ld more failures not shown\n",
            test_failures - TEST_MAX_REPORTS);
  printf("%s: %ld checks, %ld failed\n", name, test_checks, test_failures);
  return test_failures == 0 && test_checks > 0 ? 0 : 1;
}

/* Aborts the test on a condition that makes the rest meaningless. */
#define REQUIRE(cond)                                                          \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__,       \
              #cond);                                                          \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* A malloc'd copy of exactly n bytes with nothing after them; for n == 0 a
 * valid pointer to no bytes, as the server passes for an empty string. */
static inline char *test_dup(const void *src, size_t n)
{
  char *p = malloc(n);

  if (p == NULL && n == 0)
    p = malloc(1);

  REQUIRE(p != NULL);
  if (n > 0)
    memcpy(p, src, n);
  return p;
}

/* Writes n bytes as 2n lowercase hex digits plus a NUL into out. */
static inline void test_hex(const unsigned char *b, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 0x0F];
  }
  out[2 * n] = '\0';
}

/* True when c is one of the 62 base62 symbols (independent of token.c). */
static inline int test_is_symbol(unsigned char c)
{
  return c != '\0' && strchr(TEST_ALPHABET, c) != NULL;
}

#endif
