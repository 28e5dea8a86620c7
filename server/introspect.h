/* introspect.h: POST /introspect (RFC 7662) without libmicrohttpd types,
 * so that it is unit-tested and fuzzed directly. Terms: a "client" is a
 * resource server or gateway allowed to introspect, named in the option
 * file by introspection-client= and authenticated by the
 * introspection-secret= that follows it; its "credentials" are the value
 * of the request's Authorization header in the HTTP Basic scheme
 * (RFC 7617: "Basic" and base64 of "client:secret"); the "answer" is the
 * JSON body of RFC 7662 section 2.2.
 *
 * Client ids and secrets are made of RFC 3986's unreserved characters
 * (A-Z a-z 0-9 - . _ ~) only, so that a client which form-encodes them
 * before Basic, as RFC 6749 section 2.3.1 says, and one which does not
 * send the same bytes. Only SHA-256 hashes of them are kept, and a check
 * compares every client's hashes whatever matched, in constant time. */
#ifndef TENANT_AUTHD_INTROSPECT_H
#define TENANT_AUTHD_INTROSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

#define INTROSPECT_CLIENTS_MAX                                                 \
  16                              /* introspection-client= at most this often  \
                                   */
#define INTROSPECT_ID_MAX 64      /* a client id's bytes, at most */
#define INTROSPECT_SECRET_MIN 16  /* a secret's bytes, at least */
#define INTROSPECT_SECRET_MAX 128 /* a secret's bytes, at most */
/* The longest Authorization value looked at: "Basic ", the base64 of the
 * longest id, ':' and the longest secret, and some blanks. Longer ones are
 * malformed without being decoded. */
#define INTROSPECT_CRED_MAX                                                    \
  (16 + 4 * ((INTROSPECT_ID_MAX + 1 + INTROSPECT_SECRET_MAX + 2) / 3))
#define INTROSPECT_TOKEN_MAX 256 /* a form value longer than this is junk */

struct introspect_client {
  char id[INTROSPECT_ID_MAX + 1]; /* for logs and metrics: not a secret */
  unsigned char id_hash[TOKEN_HASH_LEN];
  unsigned char secret_hash[TOKEN_HASH_LEN];
};

struct introspect_clients {
  struct introspect_client c[INTROSPECT_CLIENTS_MAX];
  unsigned count;
};

/* Adds the client id[0..id_len) with secret[0..secret_len): 0 on success;
 * -1 when the id or the secret breaks the rules above (empty, too long or
 * short, a byte that is not unreserved), the id is already there, or
 * INTROSPECT_CLIENTS_MAX are there. The reason in err never quotes the
 * secret. */
int introspect_client_add(struct introspect_clients *cs, const char *id,
                          size_t id_len, const char *secret, size_t secret_len,
                          char *err, size_t err_size);

enum introspect_auth {
  INTROSPECT_AUTH_OK,        /* *client is the index of the client */
  INTROSPECT_AUTH_MISSING,   /* no Authorization header, or another scheme */
  INTROSPECT_AUTH_MALFORMED, /* repeated header, bad base64, no ':', too
                                long, empty id */
  INTROSPECT_AUTH_WRONG,     /* no client has that id and secret */
  INTROSPECT_AUTH_OUTCOMES
};

/* The label of each outcome in /metrics. */
extern const char *const introspect_auth_names[INTROSPECT_AUTH_OUTCOMES];

/* Checks the credentials: value[0..len) is the first Authorization header
 * (NULL when count is 0), count how many there were. Any bytes, any
 * length. The scheme "Basic" in any case, one or more blanks, then padded
 * base64 (RFC 4648 section 4; the bits under the padding zero, section 3.5)
 * with trailing blanks trimmed; it must decode
 * to id ":" secret (the first ':' splits). Every client is compared, so
 * the time taken does not depend on which one matched or how far. */
enum introspect_auth
introspect_authenticate(const struct introspect_clients *cs, const char *value,
                        size_t len, unsigned count, unsigned *client);

/* The failed-authentication limiter's key (limiter.h) for client number
 * `client`: 16 bytes of the IPv6 discard prefix 100::/64 (RFC 6666), which
 * no real client has, then "intr" and the number, so each client has a
 * budget of its own, apart from every address. */
void introspect_limit_key(unsigned client, unsigned char key[16]);

enum introspect_form {
  INTROSPECT_FORM_OK,        /* out holds the token, *out_len bytes */
  INTROSPECT_FORM_MISSING,   /* no token parameter, or an empty one */
  INTROSPECT_FORM_REPEATED,  /* token given more than once */
  INTROSPECT_FORM_MALFORMED, /* a bad %XX escape, or longer than
                                INTROSPECT_TOKEN_MAX - 1 bytes */
};

/* The token parameter of the form body body[0..len) (form.h), into
 * out[0..INTROSPECT_TOKEN_MAX); token_type_hint and any other parameter
 * are ignored (RFC 7662 section 2.1). body may be NULL when len is 0. */
enum introspect_form introspect_token(const char *body, size_t len,
                                      char out[INTROSPECT_TOKEN_MAX],
                                      size_t *out_len);

/* The scope of a token (RFC 6749 section 3.3: scope-tokens joined by one
 * space): its abilities as stored, a JSON array of strings such as
 * ["metrics:write", "reports:*"], joined into out[0..out_size),
 * NUL-terminated. Returns the length ("[]" gives 0), or -1 when json[0..len)
 * is not such an array (blanks allowed around its parts) or an element is
 * empty, holds an escape or a byte a scope-token may not hold (a space,
 * '"', '\\', a control or non-ASCII byte), or out is too small. */
long introspect_scope(const char *json, size_t len, char *out, size_t out_size);

/* Appends to out[*o..size) what printf makes of fmt, moving *o past it;
 * false when it did not fit. The JSON answers are built with it here and
 * in auth.c. */
__attribute__((format(printf, 4, 5))) bool
introspect_add(char *out, size_t size, size_t *o, const char *fmt, ...);

/* What is known of an active token. */
struct introspect_claims {
  const char *tenant_id; /* TOKEN_UUID_LEN characters */
  uint64_t token_id;     /* 0: unknown, not sent */
  const char *scope;     /* introspect_scope's; NULL: not sent */
  int64_t iat;           /* seconds since the epoch; 0: not sent */
  int64_t exp;           /* likewise; 0: never expires or unknown */
};

/* The answer into out[0..out_size), NUL-terminated: exactly
 * {"active":false} when claims is NULL, else active, scope, token_type
 * "bearer", sub and the extension member tenant_id (both the tenant id),
 * token_id, iat and exp when known. Strings are JSON-escaped. Returns the
 * length, or -1 when it does not fit (then out holds {"active":false} if that
 * fits). */
long introspect_render(char *out, size_t out_size,
                       const struct introspect_claims *claims);

#endif
