/* bearer.h: the Authorization header parser (RFC 7235 section 2.1, RFC 6750
 * section 2.1). "Scheme" is the word before the first blank; "token" is what
 * follows the blanks after it. Plain C: no libmicrohttpd or MariaDB types, so
 * the fuzzer links this file alone. */
#ifndef TENANT_AUTHD_BEARER_H
#define TENANT_AUTHD_BEARER_H

#include <stddef.h>

enum bearer_result {
  BEARER_NONE,  /* NULL or empty value, or a scheme other than Bearer */
  BEARER_EMPTY, /* the Bearer scheme with nothing after it */
  BEARER_TOKEN  /* *token, *token_len hold the credentials */
};

/* Parses value[0..len): optional leading blanks, the scheme "Bearer" in any
 * case, one or more blanks (space or tab), then the token, whose trailing
 * blanks are trimmed. Any bytes, any length; value may be NULL when len is 0.
 * On BEARER_TOKEN, *token points into value (not NUL-terminated); otherwise
 * *token is NULL and *token_len 0. The token's own bytes are not checked. */
enum bearer_result http_bearer_parse(const char *value, size_t len,
                                     const char **token, size_t *token_len);

#endif
