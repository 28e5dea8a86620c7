/* tenant_auth.h: the UDF entry points MariaDB finds in tenant_auth.so, declared
 * for the unit tests and fuzzers that call them in-process. Needs the server's
 * mysql.h (libmariadbd-dev), which defines UDF_INIT and UDF_ARGS. */
#ifndef TENANT_AUTH_UDF_H
#define TENANT_AUTH_UDF_H

#include <mysql.h>

#define UDF_API __attribute__((visibility("default")))

UDF_API my_bool tenant_token_generate_init(UDF_INIT *, UDF_ARGS *, char *);
UDF_API char *tenant_token_generate(UDF_INIT *, UDF_ARGS *, char *,
                                    unsigned long *, char *, char *);
UDF_API my_bool tenant_token_valid_init(UDF_INIT *, UDF_ARGS *, char *);
UDF_API long long tenant_token_valid(UDF_INIT *, UDF_ARGS *, char *, char *);
UDF_API my_bool tenant_token_find_init(UDF_INIT *, UDF_ARGS *, char *);
UDF_API long long tenant_token_find(UDF_INIT *, UDF_ARGS *, char *, char *);
UDF_API my_bool tenant_token_hash_init(UDF_INIT *, UDF_ARGS *, char *);
UDF_API char *tenant_token_hash(UDF_INIT *, UDF_ARGS *, char *, unsigned long *,
                                char *, char *);
UDF_API my_bool tenant_uuid_init(UDF_INIT *, UDF_ARGS *, char *);
UDF_API char *tenant_uuid(UDF_INIT *, UDF_ARGS *, char *, unsigned long *,
                          char *, char *);
UDF_API my_bool tenant_auth_version_init(UDF_INIT *, UDF_ARGS *, char *);
UDF_API char *tenant_auth_version(UDF_INIT *, UDF_ARGS *, char *,
                                  unsigned long *, char *, char *);

#endif
