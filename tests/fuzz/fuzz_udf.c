/* fuzz_udf.c: fuzz target for the UDF entry points, called as mariadbd
 * calls them. The input is decoded as
 *   byte 0: function (0 valid, 1 hash, 2 generate, 3 uuid, 4 version,
 *   5 find)
 *   byte 1: argument count, 0..4
 *   per argument: a flags byte (bit 0 SQL NULL, bit 1 maybe_null, bit 2
 *   constant, i.e. its value is visible to init, bits 3..5 the Item_result
 *   type), a 2-byte little-endian length (cut to what is left), the bytes.
 * init runs first, with only constant values set; when it accepts, the
 * value function runs with every argument converted to the type init left
 * in arg_type (string, long long or double), each in an exact-size buffer.
 * Checks: a refusal carries a NUL-terminated message under 80 bytes that
 * starts with the function's name; an accepted call's result fits
 * max_length and matches token.c; NULL only when init said maybe_null. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "tenant_auth.h"
#include "token.h"

#define MAX_ARGS 4
#define MSG_SIZE 512
#define RESULT_SIZE 255

typedef my_bool (*udf_init_fn)(UDF_INIT *, UDF_ARGS *, char *);
typedef long long (*udf_int_fn)(UDF_INIT *, UDF_ARGS *, char *, char *);
typedef char *(*udf_string_fn)(UDF_INIT *, UDF_ARGS *, char *, unsigned long *,
                               char *, char *);

static const struct udf_entry {
  const char *name;
  udf_init_fn init;
  udf_string_fn string_fn; /* NULL: an INT function, int_fn */
  udf_int_fn int_fn;
} udf_entries[] = {
    {"tenant_token_valid", tenant_token_valid_init, NULL, tenant_token_valid},
    {"tenant_token_hash", tenant_token_hash_init, tenant_token_hash, NULL},
    {"tenant_token_generate", tenant_token_generate_init,
     tenant_token_generate, NULL},
    {"tenant_uuid", tenant_uuid_init, tenant_uuid, NULL},
    {"tenant_auth_version", tenant_auth_version_init, tenant_auth_version,
     NULL},
    {"tenant_token_find", tenant_token_find_init, NULL, tenant_token_find},
};

/* One decoded argument; bytes point into the fuzz input. */
struct fuzz_arg {
  bool is_null, maybe_null, is_const;
  enum Item_result type;
  const uint8_t *bytes;
  size_t len;
};


/* A malloc'd exact-size copy (a valid pointer even for 0 bytes). */
static char *dup_exact(const void *p, size_t n)
{
  char *c = malloc(n > 0 ? n : 1);

  FUZZ_CHECK(c != NULL);
  if (n > 0)
    memcpy(c, p, n);
  return c;
}


/* The value of a as the server would pass it for type t; NULL for NULL. */
static char *convert(const struct fuzz_arg *a, enum Item_result t,
                     unsigned long *len)
{
  long long i = 0;
  double d = 0;

  *len = 0;
  if (a->is_null)
    return NULL;
  switch (t) {
  case INT_RESULT:
    memcpy(&i, a->bytes, a->len < sizeof i ? a->len : sizeof i);
    *len = sizeof i;
    return dup_exact(&i, sizeof i);
  case REAL_RESULT:
    memcpy(&d, a->bytes, a->len < sizeof d ? a->len : sizeof d);
    *len = sizeof d;
    return dup_exact(&d, sizeof d);
  default:
    *len = a->len;
    return dup_exact(a->bytes, a->len);
  }
}


/* Decodes the arguments; returns their count. */
static unsigned decode(const uint8_t *data, size_t size, struct fuzz_arg *out)
{
  unsigned n = data[1] % (MAX_ARGS + 1);
  size_t pos = 2;

  for (unsigned i = 0; i < n; i++) {
    uint8_t flags = pos < size ? data[pos] : 0;
    size_t len = 0;

    pos = pos < size ? pos + 1 : size;
    if (size - pos >= 2) {
      len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
      pos += 2;
    } else {
      pos = size;
    }
    if (len > size - pos)
      len = size - pos;
    out[i].is_null = flags & 1;
    out[i].maybe_null = (flags & 2) || out[i].is_null;
    out[i].is_const = flags & 4;
    out[i].type = (enum Item_result)((flags >> 3 & 7) % (TIME_RESULT + 1));
    out[i].bytes = data + pos;
    out[i].len = len;
    pos += len;
  }
  return n;
}


/* The result of an accepted call agrees with token.c. */
static void check_result(size_t which, const UDF_INIT *init,
                         const UDF_ARGS *args, const char *r, unsigned long len)
{
  unsigned char want[TOKEN_HASH_LEN];

  FUZZ_CHECK(r != NULL);
  FUZZ_CHECK(len <= init->max_length && len <= RESULT_SIZE);
  switch (which) {
  case 1:
    FUZZ_CHECK(token_valid(args->args[0], args->lengths[0]));
    FUZZ_CHECK(len == TOKEN_HASH_LEN);
    FUZZ_CHECK(token_sha256(args->args[0], args->lengths[0], want) == 0);
    FUZZ_CHECK(memcmp(r, want, TOKEN_HASH_LEN) == 0);
    break;
  case 2:
    FUZZ_CHECK(len == TOKEN_LEN && token_valid(r, len));
    break;
  case 3:
    FUZZ_CHECK(len == TOKEN_UUID_LEN && r[8] == '-' && r[14] == '4');
    break;
  case 4:
    FUZZ_CHECK(len == 5 && memcmp(r, TENANT_AUTH_VERSION, 5) == 0);
    break;
  }
}


/* Runs the value function of entry which on args, init having accepted. */
static void run_value(size_t which, UDF_INIT *init, UDF_ARGS *args)
{
  const struct udf_entry *e = &udf_entries[which];
  char is_null = 0, error = 0;

  if (e->string_fn == NULL) {
    long long v = e->int_fn(init, args, &is_null, &error);

    FUZZ_CHECK(!error);
    if (args->args[0] == NULL) {
      FUZZ_CHECK(is_null && init->maybe_null);
    } else if (which == 0) {
      FUZZ_CHECK(!is_null);
      FUZZ_CHECK(v == (token_valid(args->args[0], args->lengths[0]) ? 1 : 0));
    } else {
      /* find: 0, or a position whose 64-byte window is a token. */
      FUZZ_CHECK(!is_null);
      FUZZ_CHECK(v >= 0);
      FUZZ_CHECK(v == 0 || ((unsigned long long)v + TOKEN_LEN - 1 <=
                                args->lengths[0] &&
                            token_valid(args->args[0] + v - 1, TOKEN_LEN)));
    }
  } else {
    char *result = malloc(RESULT_SIZE);
    unsigned long len = 0;
    char *r;

    FUZZ_CHECK(result != NULL);
    memset(result, 'Q', RESULT_SIZE);
    r = e->string_fn(init, args, result, &len, &is_null, &error);
    if (is_null) {
      FUZZ_CHECK(init->maybe_null);
      /* Only a bad token gives NULL without a randomness failure. */
      if (which == 1 && !error)
        FUZZ_CHECK(args->args[0] == NULL ||
                   !token_valid(args->args[0], args->lengths[0]));
    } else {
      FUZZ_CHECK(!error);
      check_result(which, init, args, r, len);
    }
    free(result);
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct fuzz_arg fa[MAX_ARGS];
  enum Item_result *types;
  char **values, *maybe_null, message[MSG_SIZE];
  unsigned long *lengths;
  const struct udf_entry *e;
  UDF_ARGS args;
  UDF_INIT init;
  size_t which;
  unsigned n;

  if (size < 2)
    return 0;
  which = data[0] % (sizeof udf_entries / sizeof udf_entries[0]);
  e = &udf_entries[which];
  n = decode(data, size, fa);

  /* Arrays of exactly n entries, as the server's. */
  types = malloc(n * sizeof *types + 1);
  values = malloc(n * sizeof *values + 1);
  lengths = malloc(n * sizeof *lengths + 1);
  maybe_null = malloc(n + 1);
  FUZZ_CHECK(types && values && lengths && maybe_null);
  memset(&args, 0, sizeof args);
  args.arg_count = n;
  args.arg_type = types;
  args.args = values;
  args.lengths = lengths;
  args.maybe_null = maybe_null;
  for (unsigned i = 0; i < n; i++) {
    types[i] = fa[i].type;
    maybe_null[i] = fa[i].maybe_null;
    values[i] =
        fa[i].is_const ? convert(&fa[i], fa[i].type, &lengths[i]) : NULL;
    if (!fa[i].is_const)
      lengths[i] = 0;
  }
  memset(&init, 0, sizeof init);
  init.maybe_null = 1;
  init.max_length = 12345;
  memset(message, 'X', sizeof message);

  if (e->init(&init, &args, message) != 0) {
    const char *nul = memchr(message, '\0', sizeof message);
    size_t name_len = strlen(e->name);

    FUZZ_CHECK(nul != NULL && nul - message < 80);
    FUZZ_CHECK(strncmp(message, e->name, name_len) == 0 &&
               message[name_len] == '(');
  } else {
    /* The server converts each argument to the type init asked for. */
    for (unsigned i = 0; i < n; i++) {
      free(values[i]);
      values[i] = convert(&fa[i], types[i], &lengths[i]);
    }
    run_value(which, &init, &args);
  }
  for (unsigned i = 0; i < n; i++)
    free(values[i]);
  free(types);
  free(values);
  free(lengths);
  free(maybe_null);
  return 0;
}
