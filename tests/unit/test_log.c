/* test_log.c: log_escape (server/log.c), the one function that turns request
 * bytes into an access-log field. A "run" is a stretch of consecutive base62
 * symbols ([0-9A-Za-z]); a "cut" is a run's first 8 characters then "...".
 * log.h's rule: a run after "ta1_", and any run of 54 or more symbols
 * wherever it is, is cut; every byte outside printable ASCII, space, '"' and
 * '\' becomes \xNN; the output is always NUL-terminated and stops early
 * rather than split an escape or a cut. Known answers are written out by
 * hand; every input is an exact-size copy and every output buffer an
 * exact-size malloc, so ASan reports a read or write past either. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "test.h"

/* 60 symbols: the length of a token without its "ta1_". */
#define R60 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
#define R54 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
#define R53 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
#define CUT "01234567..."

#define OUT_BIG 1024

/* log_escape of s[0..len) into an exact-size buffer of out_size bytes;
 * the result is copied to got (OUT_BIG bytes). Checks the output is
 * NUL-terminated inside the buffer. */
static void escape(char *got, const char *s, size_t len, size_t out_size)
{
  char *in = test_dup(s, len);
  char *out = malloc(out_size > 0 ? out_size : 1);

  REQUIRE(out != NULL);
  memset(out, 'Z', out_size > 0 ? out_size : 1);
  log_escape(out, out_size, in, len);
  if (out_size == 0) {
    CHECKF(out[0] == 'Z', "out_size 0 wrote a byte");
    got[0] = '\0';
  } else {
    CHECKF(memchr(out, '\0', out_size) != NULL,
           "not NUL-terminated within %zu bytes", out_size);
    memcpy(got, out, out_size < OUT_BIG ? out_size : OUT_BIG);
    got[OUT_BIG - 1] = '\0';
  }
  free(out);
  free(in);
}

/* in -> want with a buffer big enough for anything. */
static const struct {
  const char *in, *want;
} cases[] = {
    /* A whole token, and one in a path: the existing "ta1_" rule. */
    {"ta1_" R60, "ta1_0123..."},
    {"/api/v1/ta1_" R60, "/api/v1/ta1_0123..."},
    /* Short "ta1_" runs are whole: at most 8 characters. */
    {"ta1_abcd", "ta1_abcd"},
    {"ta1_abcde", "ta1_abcd..."},
    {"ta1_", "ta1_"},
    /* A token without its prefix, or with another one. */
    {R60, CUT},
    {"/api/v1/" R60, "/api/v1/" CUT},
    {"tb1_" R60, "tb1_" CUT},
    {"TA1_" R60, "TA1_" CUT},
    {"ta2_" R60 "?x=1", "ta2_" CUT "?x=1"},
    /* 54 symbols are cut wherever they are; 53 are kept whole. */
    {"/x/" R54 "/y", "/x/" CUT "/y"},
    {"/x/" R53 "/y", "/x/" R53 "/y"},
    {R54, CUT},
    {R53, R53},
    {"/x/" R54, "/x/" CUT},
    {"/x/" R53, "/x/" R53},
    {"Z" R53, "Z0123456..."},
    {R53 "-" R53, R53 "-" R53},
    /* Two runs in one string, and runs at the very end. */
    {"/a/" R60 "/b/" R54, "/a/" CUT "/b/" CUT},
    {R54 "-" R54, CUT "-" CUT},
    {R54 "_" R60, CUT "_" CUT},
    {"/a/" R53 "/b/" R60, "/a/" R53 "/b/" CUT},
    {"/a/ta1_" R60 "/b/" R60, "/a/ta1_0123.../b/" CUT},
    /* The "ta1" of a token ending a run of 52 belongs to that run (55 in
     * all, cut); ending a run of 50 (53 in all), the token rule cuts. */
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzta1_" R60,
     "ABCDEFGH..._" CUT},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxta1_" R60,
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxta1_0123..."},
    /* Escaping is still right around cut and kept runs. */
    {"\x01" R60, "\\x01" CUT},
    {R60 "\x01", CUT "\\x01"},
    {"\"" R54 " " R53 "\\", "\\x22" CUT "\\x20" R53 "\\x5c"},
    {R53 "\xff" R54, R53 "\\xff" CUT},
    {"/%41" R54, "/%41012345..."},
    /* Bytes outside the alphabet end a run: no run of 54 here. */
    {"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\xc3\xa9"
     "abcdefghijklmnopqrstuvwxyz",
     "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\\xc3\\xa9"
     "abcdefghijklmnopqrstuvwxyz"},
    {"", ""},
    {"GET", "GET"},
};

static void check_cases(void)
{
  char got[OUT_BIG];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    escape(got, cases[i].in, strlen(cases[i].in), OUT_BIG);
    CHECKF(strcmp(got, cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"",
           i, got, cases[i].want);
  }
}

/* log_escape_text: the same cuts, but spaces and '"' stay plain; every
 * other byte the field form escapes is still escaped. */
static const struct {
  const char *in, *want;
} text_cases[] = {
    {"Failed to send the response headers for the request for `/auth'. "
     "Error: The connection was forcibly closed by remote peer",
     "Failed to send the response headers for the request for `/auth'. "
     "Error: The connection was forcibly closed by remote peer"},
    {"say \"hi\"", "say \"hi\""},
    {"a\tb\nc\rd", "a\\x09b\\x0ac\\x0dd"},
    {"back\\slash", "back\\x5cslash"},
    {"\x7f\xff", "\\x7f\\xff"},
    {"for `/ta1_" R60 "'", "for `/ta1_0123...'"},
    {"path /" R54 " here", "path /" CUT " here"},
    {"  ", "  "},
    {"", ""},
};

static void check_text(void)
{
  char got[OUT_BIG];

  for (size_t i = 0; i < sizeof text_cases / sizeof text_cases[0]; i++) {
    char *in = test_dup(text_cases[i].in, strlen(text_cases[i].in));

    log_escape_text(got, sizeof got, in, strlen(text_cases[i].in));
    CHECKF(strcmp(got, text_cases[i].want) == 0,
           "text case %zu: got \"%s\", want \"%s\"", i, got,
           text_cases[i].want);
    free(in);
  }
  /* The field form of the same message escapes its spaces. */
  escape(got, "a b", 3, OUT_BIG);
  CHECK(strcmp(got, "a\\x20b") == 0);
  got[0] = 'x';
  log_escape_text(got, sizeof got, NULL, 0);
  CHECK(got[0] == '\0');
  /* An escape that does not fit ends the output, as in the field form. */
  log_escape_text(got, 5, "a b\x01", 4);
  CHECK(strcmp(got, "a b") == 0);
}

/* Lengths are honoured, not NULs; a NUL is a byte like any other. */
static void check_lengths(void)
{
  char got[OUT_BIG], big[8192];

  /* A 54-run cut to 53 bytes by len is kept whole. */
  escape(got, R54, 53, OUT_BIG);
  CHECK(strcmp(got, R53) == 0);
  escape(got, R53 "\0" R53, 107, OUT_BIG);
  CHECK(strcmp(got, R53 "\\x00" R53) == 0);
  /* NULL with length 0. */
  got[0] = 'x';
  log_escape(got, sizeof got, NULL, 0);
  CHECK(got[0] == '\0');
  /* A run of 8192 symbols: one cut, nothing more of it. */
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = TEST_ALPHABET[i % 62];
  escape(got, big, sizeof big, OUT_BIG);
  CHECK(strcmp(got, CUT) == 0);
  /* Every run length around 54, at the start, in the middle, at the end. */
  for (size_t n = 1; n <= 120; n++) {
    char in[130], want[140];
    size_t k;

    in[0] = '/';
    for (k = 0; k < n; k++)
      in[1 + k] = TEST_ALPHABET[k % 62];
    in[1 + n] = '/';
    if (n >= 54)
      snprintf(want, sizeof want, "/%s/", CUT);
    else
      snprintf(want, sizeof want, "/%.*s/", (int)n, in + 1);
    escape(got, in, n + 2, OUT_BIG);
    CHECKF(strcmp(got, want) == 0, "run of %zu in the middle: \"%s\"", n, got);
    escape(got, in + 1, n, OUT_BIG);
    CHECKF(n < 54 || strcmp(got, CUT) == 0, "run of %zu alone: \"%s\"", n, got);
    CHECKF(n >= 54 || (strlen(got) == n && memcmp(got, in + 1, n) == 0),
           "run of %zu alone: \"%s\"", n, got);
  }
}

/* The buffer's edges: size 0 writes nothing, size 1 gives "", and a cut
 * (11 bytes) or an escape (4 bytes) that does not fit ends the output
 * instead of being split. */
static void check_buffer_edges(void)
{
  char got[OUT_BIG];

  escape(got, R60, 60, 0);
  escape(got, R60, 60, 1);
  CHECK(strcmp(got, "") == 0);
  escape(got, R60, 60, 11);
  CHECK(strcmp(got, "") == 0);
  escape(got, R60, 60, 12);
  CHECK(strcmp(got, CUT) == 0);
  escape(got, "ta1_" R60, 64, 11);
  CHECK(strcmp(got, "") == 0);
  escape(got, "ta1_" R60, 64, 12);
  CHECK(strcmp(got, "ta1_0123...") == 0);
  escape(got, "/x/" R54, 57, 14);
  CHECK(strcmp(got, "/x/") == 0);
  escape(got, "/x/" R54, 57, 15);
  CHECK(strcmp(got, "/x/" CUT) == 0);
  escape(got, "/x/" R54 "/", 58, 15);
  CHECK(strcmp(got, "/x/" CUT) == 0);
  escape(got, "/x/" R54 "/", 58, 16);
  CHECK(strcmp(got, "/x/" CUT "/") == 0);
  escape(got, "\x01", 1, 4);
  CHECK(strcmp(got, "") == 0);
  escape(got, "\x01", 1, 5);
  CHECK(strcmp(got, "\\x01") == 0);
  escape(got, "a\x01" R54, 56, 5);
  CHECK(strcmp(got, "a") == 0);
  escape(got, "a\x01" R54, 56, 16);
  CHECK(strcmp(got, "a\\x01") == 0);
  escape(got, "a\x01" R54, 56, 17);
  CHECK(strcmp(got, "a\\x01" CUT) == 0);
  /* A run under 54 may be shown in part, never a run of 54. */
  escape(got, R53, 53, 20);
  CHECK(strcmp(got, "0123456789ABCDEFGHI") == 0);
  /* The buffer http.c gives a token's first bytes (TOKEN_HINT_LEN * 4 + 1). */
  escape(got, "\x01\x02\x03\x04\x05\x06\x07\x08", 8, 33);
  CHECK(strcmp(got, "\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08") == 0);
}

/* A small deterministic generator (xorshift), so a failure replays. */
static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* Random strings of runs (0 to 80 symbols) between separators that are no
 * symbol and never '_' (so "ta1_" cannot occur): the expected output is
 * built piece by piece from the rule, each piece whole or cut. Every
 * smaller buffer gives a prefix of it that ends on a piece's edge within 11
 * bytes of the buffer's end. */
static void check_random(void)
{
  static const char seps[] = "/-. \x01\"\\\xff\x7f";
  char in[2048], want[4096], got[OUT_BIG];

  for (unsigned round = 0; round < 3000; round++) {
    size_t n = 0, w = 0, pieces = 1 + rng() % 12;
    size_t edges[1024], ne = 0;

    for (size_t p = 0; p < pieces; p++) {
      size_t run = rng() % 81;
      unsigned char sep = (unsigned char)seps[rng() % (sizeof seps - 1)];

      for (size_t k = 0; k < run; k++)
        in[n + k] = TEST_ALPHABET[rng() % 62];
      if (run >= 54) {
        memcpy(want + w, in + n, 8);
        memcpy(want + w + 8, "...", 3);
        w += 11;
        edges[ne++] = w;
      } else {
        for (size_t k = 0; k < run; k++) {
          want[w++] = in[n + k];
          edges[ne++] = w;
        }
      }
      n += run;
      if (p + 1 == pieces && rng() % 2 == 0)
        break; /* end on a run */
      in[n++] = (char)sep;
      if (sep > ' ' && sep < 0x7f && sep != '"' && sep != '\\') {
        want[w++] = (char)sep;
      } else {
        w += (size_t)snprintf(want + w, 5, "\\x%02x", sep);
      }
      edges[ne++] = w;
    }
    want[w] = '\0';
    escape(got, in, n, OUT_BIG);
    CHECKF(strcmp(got, want) == 0, "round %u: got \"%s\", want \"%s\"", round,
           got, want);
    /* A few buffer sizes below what it needs. */
    for (unsigned t = 0; t < 4 && w > 0; t++) {
      size_t size = 1 + rng() % (w + 1), len;
      bool on_edge = false;

      escape(got, in, n, size);
      len = strlen(got);
      CHECKF(len < size && memcmp(got, want, len) == 0,
             "round %u size %zu: \"%s\" is no prefix of \"%s\"", round, size,
             got, want);
      CHECKF(len + 11 >= size - 1 || len == w,
             "round %u size %zu: stopped at %zu", round, size, len);
      on_edge = len == 0;
      for (size_t e = 0; e < ne && !on_edge; e++)
        on_edge = edges[e] == len;
      CHECKF(on_edge, "round %u size %zu: split a piece at %zu", round, size,
             len);
    }
  }
}

int main(void)
{
  check_cases();
  check_text();
  check_lengths();
  check_buffer_edges();
  check_random();
  return test_finish("log");
}
