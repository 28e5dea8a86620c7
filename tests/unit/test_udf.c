/* test_udf.c: the UDF entry points of tenant_auth.so called in-process, the
 * way mariadbd calls them: x_init with crafted UDF_ARGS and a 512-byte
 * message buffer, then x. Every argument array and value is an exact-size
 * malloc (values carry no NUL), so ASan reports any read past what the
 * server would hand over. "Refused" means init returned 1 with a message. */
#include <string.h>

#include "tenant_auth.h"
#include "test.h"
#include "token.h"

#define MSG_SIZE 512    /* MYSQL_ERRMSG_SIZE, the server's buffer */
#define RESULT_SIZE 255 /* the result buffer a string UDF may fill */
#define BIG_LEN ((size_t)16 * 1024 * 1024)

typedef my_bool (*udf_init_fn)(UDF_INIT *, UDF_ARGS *, char *);
typedef char *(*udf_string_fn)(UDF_INIT *, UDF_ARGS *, char *, unsigned long *,
                               char *, char *);

static const char fixed[] =
    "ta1_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr3pGnmR";
static const char fixed_sha256[] =
    "e81dbe4d29fcefb49cf1c02fb6d6732f09bb0eed6c197f42b95573054ffa5853";

/* Arguments for one call, every array exactly arg_count long. */
struct call {
  UDF_ARGS args;
  UDF_INIT init;
  char message[MSG_SIZE];
};

/* Sets up n arguments, each an INT_RESULT "1" that maybe is NULL. */
static void call_open(struct call *c, unsigned n)
{
  memset(c, 0, sizeof *c);
  c->args.arg_count = n;
  c->args.arg_type = malloc(n * sizeof *c->args.arg_type + (n == 0));
  c->args.args = malloc(n * sizeof *c->args.args + (n == 0));
  c->args.lengths = malloc(n * sizeof *c->args.lengths + (n == 0));
  c->args.maybe_null = malloc(n + (n == 0));
  c->args.attributes = malloc(n * sizeof *c->args.attributes + (n == 0));
  c->args.attribute_lengths =
      malloc(n * sizeof *c->args.attribute_lengths + (n == 0));
  REQUIRE(c->args.arg_type && c->args.args && c->args.lengths &&
          c->args.maybe_null && c->args.attributes &&
          c->args.attribute_lengths);
  for (unsigned i = 0; i < n; i++) {
    c->args.arg_type[i] = INT_RESULT;
    c->args.args[i] = test_dup("1", 1);
    c->args.lengths[i] = 1;
    c->args.maybe_null[i] = 1;
    c->args.attributes[i] = "a";
    c->args.attribute_lengths[i] = 1;
  }
  memset(c->message, 'X', sizeof c->message);
  /* What the server puts in UDF_INIT before init, skewed so that a field
   * init should set but does not shows up. */
  c->init.maybe_null = 7;
  c->init.max_length = 12345;
  c->init.const_item = 7;
  c->init.decimals = 31;
}

/* Argument i becomes a copy of v[0..len), or SQL NULL when v is NULL. */
static void call_set(struct call *c, unsigned i, const void *v, size_t len)
{
  free(c->args.args[i]);
  c->args.args[i] = v != NULL ? test_dup(v, len) : NULL;
  c->args.lengths[i] = v != NULL ? len : 0;
}

static void call_close(struct call *c)
{
  for (unsigned i = 0; i < c->args.arg_count; i++)
    free(c->args.args[i]);
  free(c->args.arg_type);
  free(c->args.args);
  free(c->args.lengths);
  free(c->args.maybe_null);
  free((void *)c->args.attributes);
  free(c->args.attribute_lengths);
}

/* init with n arguments is refused with a short, NUL-terminated message
 * that starts with the function's name. */
static void check_refused(const char *name, udf_init_fn init, unsigned n)
{
  struct call c;
  const char *nul;

  call_open(&c, n);
  CHECKF(init(&c.init, &c.args, c.message) == 1, "%s with %u args accepted",
         name, n);
  nul = memchr(c.message, '\0', sizeof c.message);
  CHECKF(nul != NULL, "%s: message not NUL-terminated", name);
  if (nul != NULL) {
    CHECKF(nul - c.message < 80, "%s: message %zu bytes", name,
           (size_t)(nul - c.message));
    CHECKF(strncmp(c.message, name, strlen(name)) == 0 &&
               c.message[strlen(name)] == '(',
           "%s: message \"%s\" does not start with the name", name, c.message);
  }
  call_close(&c);
}

/* init accepts one argument, whatever its type, and asks for a string. */
static void check_one_arg_init(const char *name, udf_init_fn init)
{
  static const enum Item_result types[] = {STRING_RESULT, REAL_RESULT,
                                           INT_RESULT, DECIMAL_RESULT};

  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    struct call c;

    call_open(&c, 1);
    c.args.arg_type[0] = types[t];
    call_set(&c, 0, NULL, 0); /* not a constant: no value at init time */
    CHECKF(init(&c.init, &c.args, c.message) == 0, "%s refused type %d", name,
           (int)types[t]);
    CHECKF(c.args.arg_type[0] == STRING_RESULT,
           "%s left arg_type %d, want STRING_RESULT", name,
           (int)c.args.arg_type[0]);
    call_close(&c);
  }
}

/* tenant_token_valid on one argument v[0..len) (NULL: SQL NULL). */
static long long call_valid(const void *v, size_t len, char *is_null,
                            char *error)
{
  struct call c;
  long long r;

  call_open(&c, 1);
  REQUIRE(tenant_token_valid_init(&c.init, &c.args, c.message) == 0);
  call_set(&c, 0, v, len);
  *is_null = 0;
  *error = 0;
  r = tenant_token_valid(&c.init, &c.args, is_null, error);
  call_close(&c);
  return r;
}

static void check_valid(void)
{
  struct call c;
  char is_null, error, tok[TOKEN_LEN + 1], *big;
  long long r;

  for (unsigned n = 0; n <= 4; n++) {
    if (n != 1)
      check_refused("tenant_token_valid", tenant_token_valid_init, n);
  }
  check_one_arg_init("tenant_token_valid", tenant_token_valid_init);

  /* maybe_null follows the argument's; the result is one digit. */
  for (char mn = 0; mn <= 1; mn++) {
    call_open(&c, 1);
    c.args.maybe_null[0] = mn;
    REQUIRE(tenant_token_valid_init(&c.init, &c.args, c.message) == 0);
    CHECK(c.init.maybe_null == mn);
    CHECK(c.init.max_length == 1);
    call_close(&c);
  }

  r = call_valid(NULL, 0, &is_null, &error);
  CHECK(is_null == 1 && error == 0);
  r = call_valid("", 0, &is_null, &error);
  CHECK(r == 0 && is_null == 0 && error == 0);
  r = call_valid(fixed, TOKEN_LEN, &is_null, &error);
  CHECK(r == 1 && is_null == 0 && error == 0);
  REQUIRE(token_generate(tok) == 0);
  r = call_valid(tok, TOKEN_LEN, &is_null, &error);
  CHECK(r == 1 && is_null == 0);

  /* Binary: the token plus a NUL, and with a NUL inside. */
  tok[TOKEN_LEN] = '\0';
  CHECK(call_valid(tok, TOKEN_LEN + 1, &is_null, &error) == 0);
  tok[20] = '\0';
  CHECK(call_valid(tok, TOKEN_LEN, &is_null, &error) == 0 && is_null == 0);
  CHECK(call_valid(fixed, TOKEN_LEN - 1, &is_null, &error) == 0);

  big = malloc(BIG_LEN);
  REQUIRE(big != NULL);
  memset(big, 'a', BIG_LEN);
  CHECK(call_valid(big, BIG_LEN, &is_null, &error) == 0 && is_null == 0);
  free(big);
}

/* tenant_token_find on one argument v[0..len) (NULL: SQL NULL). */
static long long call_find(const void *v, size_t len, char *is_null)
{
  struct call c;
  char error = 0;
  long long r;

  call_open(&c, 1);
  REQUIRE(tenant_token_find_init(&c.init, &c.args, c.message) == 0);
  call_set(&c, 0, v, len);
  *is_null = 0;
  r = tenant_token_find(&c.init, &c.args, is_null, &error);
  CHECK(error == 0);
  call_close(&c);
  return r;
}

static void check_find(void)
{
  char is_null, buf[3 * TOKEN_LEN], *big;

  for (unsigned n = 0; n <= 4; n++) {
    if (n != 1)
      check_refused("tenant_token_find", tenant_token_find_init, n);
  }
  check_one_arg_init("tenant_token_find", tenant_token_find_init);

  CHECK(call_find(NULL, 0, &is_null) == 0 && is_null == 1);
  CHECK(call_find("", 0, &is_null) == 0 && is_null == 0);
  CHECK(call_find(fixed, TOKEN_LEN, &is_null) == 1 && is_null == 0);
  CHECK(call_find(fixed, TOKEN_LEN - 1, &is_null) == 0);
  /* "key=<token> ", with a NUL before it: position 6. */
  memcpy(buf, "k\0ey=", 6);
  memcpy(buf + 6, fixed, TOKEN_LEN);
  buf[6 + TOKEN_LEN] = ' ';
  CHECK(call_find(buf, 6 + TOKEN_LEN + 1, &is_null) == 7);
  CHECK(call_find(buf, 6 + TOKEN_LEN - 1, &is_null) == 0);

  big = malloc(BIG_LEN);
  REQUIRE(big != NULL);
  memset(big, 't', BIG_LEN);
  CHECK(call_find(big, BIG_LEN, &is_null) == 0 && is_null == 0);
  memcpy(big + BIG_LEN - TOKEN_LEN, fixed, TOKEN_LEN);
  CHECK(call_find(big, BIG_LEN, &is_null) ==
        (long long)(BIG_LEN - TOKEN_LEN + 1));
  free(big);
}

/* tenant_token_hash on v[0..len) (NULL: SQL NULL) gives SQL NULL when
 * want_null, else the 32 bytes token_sha256 gives. */
static void check_hash_of(const void *v, size_t len, int want_null)
{
  struct call c;
  char *result = malloc(RESULT_SIZE);
  unsigned long length = 99999;
  char is_null = 0, error = 0, *r;
  unsigned char want[TOKEN_HASH_LEN];

  REQUIRE(result != NULL);
  call_open(&c, 1);
  REQUIRE(tenant_token_hash_init(&c.init, &c.args, c.message) == 0);
  call_set(&c, 0, v, len);
  r = tenant_token_hash(&c.init, &c.args, result, &length, &is_null, &error);
  if (want_null) {
    CHECKF(is_null == 1 && error == 0, "hash of %zu bytes: not NULL", len);
  } else {
    CHECKF(r != NULL && is_null == 0 && error == 0 && length == TOKEN_HASH_LEN,
           "hash of a valid token: is_null %d error %d length %lu", is_null,
           error, length);
    REQUIRE(token_sha256(v, len, want) == 0);
    CHECK(r != NULL && memcmp(r, want, TOKEN_HASH_LEN) == 0);
  }
  call_close(&c);
  free(result);
}

static void check_hash(void)
{
  struct call c;
  char *result = malloc(RESULT_SIZE);
  char tok[TOKEN_LEN], hex[2 * TOKEN_HASH_LEN + 1], is_null = 0, error = 0;
  unsigned long length = 0;
  char *r, *big;

  REQUIRE(result != NULL);
  for (unsigned n = 0; n <= 4; n++) {
    if (n != 1)
      check_refused("tenant_token_hash", tenant_token_hash_init, n);
  }
  check_one_arg_init("tenant_token_hash", tenant_token_hash_init);
  call_open(&c, 1);
  c.args.maybe_null[0] = 0;
  REQUIRE(tenant_token_hash_init(&c.init, &c.args, c.message) == 0);
  CHECK(c.init.maybe_null == 1); /* malformed input gives NULL */
  CHECK(c.init.max_length == TOKEN_HASH_LEN);

  /* Known answer: SHA-256 of the fixed token, computed outside. */
  call_set(&c, 0, fixed, TOKEN_LEN);
  r = tenant_token_hash(&c.init, &c.args, result, &length, &is_null, &error);
  CHECK(r != NULL && length == TOKEN_HASH_LEN && !is_null);
  if (r != NULL) {
    test_hex((const unsigned char *)r, TOKEN_HASH_LEN, hex);
    CHECKF(strcmp(hex, fixed_sha256) == 0, "hash(fixed) = %s", hex);
  }
  call_close(&c);

  REQUIRE(token_generate(tok) == 0);
  check_hash_of(tok, TOKEN_LEN, 0);
  check_hash_of(NULL, 0, 1);
  check_hash_of("", 0, 1);
  check_hash_of(tok, TOKEN_LEN - 1, 1);
  tok[TOKEN_LEN - 1] = tok[TOKEN_LEN - 1] == '0' ? '1' : '0';
  check_hash_of(tok, TOKEN_LEN, 1);
  big = malloc(BIG_LEN);
  REQUIRE(big != NULL);
  memset(big, 'a', BIG_LEN);
  memcpy(big, fixed, TOKEN_LEN);
  check_hash_of(big, BIG_LEN, 1);
  free(big);
  free(result);
}

/* A no-argument string function: refused with arguments, init sets the
 * shape, and the value is want_len bytes, copied to out for the caller. */
static void check_no_arg(const char *name, udf_init_fn init, udf_string_fn fn,
                         unsigned long want_len, int want_const, char *out)
{
  struct call c;
  char *result = malloc(RESULT_SIZE);
  unsigned long length = 0;
  char is_null = 0, error = 0, *r;

  REQUIRE(result != NULL);
  for (unsigned n = 1; n <= 4; n++)
    check_refused(name, init, n);
  call_open(&c, 0);
  c.init.const_item = (my_bool)!want_const;
  CHECKF(init(&c.init, &c.args, c.message) == 0, "%s() refused", name);
  CHECKF(c.init.max_length == want_len, "%s: max_length %lu", name,
         c.init.max_length);
  CHECKF(c.init.const_item == want_const, "%s: const_item %d", name,
         c.init.const_item);
  CHECKF(c.init.maybe_null == 0 || c.init.maybe_null == 1,
         "%s: maybe_null left at %d", name, c.init.maybe_null);

  memset(result, 'Q', RESULT_SIZE);
  r = fn(&c.init, &c.args, result, &length, &is_null, &error);
  CHECKF(r != NULL && is_null == 0 && error == 0 && length == want_len,
         "%s(): is_null %d error %d length %lu", name, is_null, error, length);
  if (r != NULL && length == want_len)
    memcpy(out, r, want_len);
  else
    memset(out, 0, want_len);
  call_close(&c);
  free(result);
}

static void check_generate(void)
{
  char a[TOKEN_LEN], b[TOKEN_LEN];

  check_no_arg("tenant_token_generate", tenant_token_generate_init,
               tenant_token_generate, TOKEN_LEN, 0, a);
  check_no_arg("tenant_token_generate", tenant_token_generate_init,
               tenant_token_generate, TOKEN_LEN, 0, b);
  CHECK(token_valid(a, TOKEN_LEN));
  CHECK(token_valid(b, TOKEN_LEN));
  CHECK(memcmp(a, b, TOKEN_LEN) != 0);
}

static void check_uuid(void)
{
  char u[TOKEN_UUID_LEN], v[TOKEN_UUID_LEN];

  check_no_arg("tenant_uuid", tenant_uuid_init, tenant_uuid, TOKEN_UUID_LEN, 0,
               u);
  check_no_arg("tenant_uuid", tenant_uuid_init, tenant_uuid, TOKEN_UUID_LEN, 0,
               v);
  CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
  CHECK(u[14] == '4' && strchr("89ab", u[19]) != NULL && u[19] != '\0');
  CHECK(memcmp(u, v, TOKEN_UUID_LEN) != 0);
}

static void check_version(void)
{
  /* The version of CMake's project(), as the build passes it. */
  char ver[sizeof TENANT_AUTH_VERSION - 1];

  check_no_arg("tenant_auth_version", tenant_auth_version_init,
               tenant_auth_version, sizeof ver, 1, ver);
  CHECK_MEM(ver, TENANT_AUTH_VERSION, sizeof ver);
}

int main(void)
{
  check_valid();
  check_hash();
  check_find();
  check_generate();
  check_uuid();
  check_version();
  return test_finish("udf");
}
