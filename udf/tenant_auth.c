/* tenant_auth.c: the UDF entry points of tenant_auth.so. Each x_init checks
 * the argument count once and fixes the result's shape; each x then trusts
 * that shape and calls into token.c. Arguments are pointer plus length: a
 * NULL argument is args->args[i] == NULL, and nothing here assumes a NUL. */
#include <string.h>

#include "tenant_auth.h"
#include "token.h"

/* Copies "name() expects ..." into the server's message buffer. */
static my_bool udf_refuse(char *message, const char *text)
{
  /* The server's buffer is MYSQL_ERRMSG_SIZE; our texts stay under 80. */
  size_t n = strlen(text);
  if (n > 79)
    n = 79;
  memcpy(message, text, n);
  message[n] = '\0';
  return 1;
}

static my_bool udf_one_string_arg(UDF_ARGS *args, char *message,
                                  const char *usage)
{
  if (args->arg_count != 1)
    return udf_refuse(message, usage);
  /* Numbers and other types are read as their string form. */
  args->arg_type[0] = STRING_RESULT;
  return 0;
}

/* The result of a function that filled result with len random bytes: rc is
 * 0, or -1 when the randomness source failed, which makes the result NULL. */
static char *udf_random_result(int rc, char *result, unsigned long len,
                               unsigned long *length, char *is_null,
                               char *error)
{
  if (rc != 0) {
    *is_null = 1;
    *error = 1;
    return NULL;
  }
  *length = len;
  return result;
}

/* tenant_token_generate(): a new 64-character token. */
UDF_API my_bool tenant_token_generate_init(UDF_INIT *initid, UDF_ARGS *args,
                                           char *message)
{
  if (args->arg_count != 0)
    return udf_refuse(message, "tenant_token_generate() takes no arguments");
  initid->max_length = TOKEN_LEN;
  initid->maybe_null = 1; /* NULL only if the randomness source fails */
  initid->const_item = 0; /* a new value on every call, every row */
  return 0;
}

UDF_API char *tenant_token_generate(UDF_INIT *initid, UDF_ARGS *args,
                                    char *result, unsigned long *length,
                                    char *is_null, char *error)
{
  (void)initid;
  (void)args;
  return udf_random_result(token_generate(result), result, TOKEN_LEN, length,
                           is_null, error);
}

/* tenant_token_valid(t): 1 when t is well-formed, 0 when not, NULL for NULL. */
UDF_API my_bool tenant_token_valid_init(UDF_INIT *initid, UDF_ARGS *args,
                                        char *message)
{
  if (udf_one_string_arg(args, message,
                         "tenant_token_valid() expects 1 argument, the token"))
    return 1;
  initid->maybe_null = args->maybe_null[0];
  initid->max_length = 1;
  return 0;
}

UDF_API long long tenant_token_valid(UDF_INIT *initid, UDF_ARGS *args,
                                     char *is_null, char *error)
{
  (void)initid;
  (void)error;
  if (args->args[0] == NULL) {
    *is_null = 1;
    return 0;
  }
  return token_valid(args->args[0], args->lengths[0]) ? 1 : 0;
}

/* tenant_token_find(s): the 1-based position of the first well-formed
 * token inside s, 0 when s holds none, NULL for NULL. The routines refuse
 * any name, label or JSON that holds a token anywhere. */
UDF_API my_bool tenant_token_find_init(UDF_INIT *initid, UDF_ARGS *args,
                                       char *message)
{
  if (udf_one_string_arg(args, message,
                         "tenant_token_find() expects 1 argument, a string"))
    return 1;
  initid->maybe_null = args->maybe_null[0];
  initid->max_length = 21;
  return 0;
}

UDF_API long long tenant_token_find(UDF_INIT *initid, UDF_ARGS *args,
                                    char *is_null, char *error)
{
  (void)initid;
  (void)error;
  if (args->args[0] == NULL) {
    *is_null = 1;
    return 0;
  }
  return (long long)token_find(args->args[0], args->lengths[0]);
}

/* tenant_token_hash(t): SHA-256 of t as 32 bytes when t is well-formed,
 * else NULL. */
UDF_API my_bool tenant_token_hash_init(UDF_INIT *initid, UDF_ARGS *args,
                                       char *message)
{
  if (udf_one_string_arg(args, message,
                         "tenant_token_hash() expects 1 argument, the token"))
    return 1;
  initid->maybe_null = 1;
  initid->max_length = TOKEN_HASH_LEN;
  return 0;
}

UDF_API char *tenant_token_hash(UDF_INIT *initid, UDF_ARGS *args, char *result,
                                unsigned long *length, char *is_null,
                                char *error)
{
  (void)initid;
  if (args->args[0] == NULL || !token_valid(args->args[0], args->lengths[0])) {
    *is_null = 1;
    return NULL;
  }
  if (token_sha256(args->args[0], TOKEN_LEN, (unsigned char *)result) != 0) {
    *is_null = 1;
    *error = 1;
    return NULL;
  }
  *length = TOKEN_HASH_LEN;
  return result;
}

/* tenant_uuid(): a random version-4 UUID, 36 lowercase characters. */
UDF_API my_bool tenant_uuid_init(UDF_INIT *initid, UDF_ARGS *args,
                                 char *message)
{
  if (args->arg_count != 0)
    return udf_refuse(message, "tenant_uuid() takes no arguments");
  initid->max_length = TOKEN_UUID_LEN;
  initid->maybe_null = 1; /* NULL only if the randomness source fails */
  initid->const_item = 0;
  return 0;
}

UDF_API char *tenant_uuid(UDF_INIT *initid, UDF_ARGS *args, char *result,
                          unsigned long *length, char *is_null, char *error)
{
  (void)initid;
  (void)args;
  return udf_random_result(token_uuid_v4(result), result, TOKEN_UUID_LEN,
                           length, is_null, error);
}

/* tenant_auth_version(): the extension's version, e.g. "1.1.0". */
UDF_API my_bool tenant_auth_version_init(UDF_INIT *initid, UDF_ARGS *args,
                                         char *message)
{
  if (args->arg_count != 0)
    return udf_refuse(message, "tenant_auth_version() takes no arguments");
  initid->max_length = sizeof TENANT_AUTH_VERSION - 1;
  initid->maybe_null = 0;
  initid->const_item = 1;
  return 0;
}

UDF_API char *tenant_auth_version(UDF_INIT *initid, UDF_ARGS *args,
                                  char *result, unsigned long *length,
                                  char *is_null, char *error)
{
  (void)initid;
  (void)args;
  (void)is_null;
  (void)error;
  memcpy(result, TENANT_AUTH_VERSION, sizeof TENANT_AUTH_VERSION - 1);
  *length = sizeof TENANT_AUTH_VERSION - 1;
  return result;
}
