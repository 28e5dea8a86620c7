/* test_uuid.c: token_uuid_v4 writes RFC 4122 version-4 UUIDs: 36 lowercase
 * characters, hyphens at 8, 13, 18 and 23, version nibble '4', variant
 * nibble one of 8, 9, a, b; and 10,000 of them are distinct. */
#include <string.h>

#include "test.h"
#include "token.h"

#define COUNT 10000

/* The reason u is not a well-formed v4 UUID, or NULL when it is. */
static const char *uuid_problem(const char *u)
{
  for (int i = 0; i < TOKEN_UUID_LEN; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (u[i] != '-')
        return "hyphen missing";
    } else if (u[i] == '\0' || strchr("0123456789abcdef", u[i]) == NULL) {
      return "not lowercase hex";
    }
  }
  if (u[14] != '4')
    return "version nibble not 4";
  if (strchr("89ab", u[19]) == NULL)
    return "variant nibble not 8, 9, a or b";
  return NULL;
}

static int compare_uuids(const void *a, const void *b)
{
  return memcmp(a, b, TOKEN_UUID_LEN);
}

int main(void)
{
  char *all = malloc((size_t)COUNT * TOKEN_UUID_LEN + 1);
  int variants[4] = {0};
  long dups = 0;

  REQUIRE(all != NULL);
  /* The checker itself: a known good and known bad UUIDs. */
  CHECK(uuid_problem("f47ac10b-58cc-4372-a567-0e02b2c3d479") == NULL);
  CHECK(uuid_problem("f47ac10b-58cc-1372-a567-0e02b2c3d479") != NULL);
  CHECK(uuid_problem("f47ac10b-58cc-4372-c567-0e02b2c3d479") != NULL);
  CHECK(uuid_problem("F47AC10B-58CC-4372-A567-0E02B2C3D479") != NULL);
  CHECK(uuid_problem("f47ac10b58cc-4372-a567-0e02b2c3d4790") != NULL);

  all[(size_t)COUNT * TOKEN_UUID_LEN] = '#';
  for (size_t i = 0; i < COUNT; i++) {
    char *u = all + i * TOKEN_UUID_LEN;
    const char *why;

    REQUIRE(token_uuid_v4(u) == 0);
    why = uuid_problem(u);
    CHECKF(why == NULL, "%.36s: %s", u, why);
    if (why == NULL)
      variants[strchr("89ab", u[19]) - "89ab"]++;
  }
  CHECK(all[(size_t)COUNT * TOKEN_UUID_LEN] == '#');
  /* All four variant nibbles occur (each 1/4: missing one is ~1e-1249). */
  for (int v = 0; v < 4; v++)
    CHECKF(variants[v] > 0, "variant nibble %c never seen", "89ab"[v]);

  qsort(all, COUNT, TOKEN_UUID_LEN, compare_uuids);
  for (size_t i = 1; i < COUNT; i++) {
    if (memcmp(all + (i - 1) * TOKEN_UUID_LEN, all + i * TOKEN_UUID_LEN,
               TOKEN_UUID_LEN) == 0)
      dups++;
  }
  CHECKF(dups == 0, "%ld duplicate UUIDs among %d", dups, COUNT);
  free(all);
  return test_finish("uuid");
}
