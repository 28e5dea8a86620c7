/* token.h: the tenant_auth token format, shared by the UDF library, the
 * HTTP server and the tests.
 *
 * A token is 64 bytes: "ta1_", 54 random base62 symbols, then the CRC-32
 * (IEEE 802.3) of the first 58 bytes as 6 base62 digits, most significant
 * first. Base62 order: 0-9 = 0..9, A-Z = 10..35, a-z = 36..61.
 * No MariaDB types here: this file is plain C plus OpenSSL. */
#ifndef TENANT_AUTH_TOKEN_H
#define TENANT_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_LEN 64
#define TOKEN_PREFIX "ta1_"
#define TOKEN_PREFIX_LEN 4
#define TOKEN_RANDOM_LEN 54
#define TOKEN_BODY_LEN (TOKEN_PREFIX_LEN + TOKEN_RANDOM_LEN) /* 58 */
#define TOKEN_CHECK_LEN 6
#define TOKEN_HASH_LEN 32 /* SHA-256 */
#define TOKEN_HINT_LEN 8  /* the most of a token that may be shown or logged */
#define TOKEN_UUID_LEN 36
#define TOKEN_ALPHABET_LEN 62
/* The version comes from project() in CMakeLists.txt, the one place it is set.
 */
#ifndef TENANT_AUTH_VERSION
#error "TENANT_AUTH_VERSION must be defined by the build"
#endif

/* Fills out with n bytes of cryptographic randomness; 1 on success. Has the
 * shape of OpenSSL's RAND_bytes so tests can substitute a biased source. */
typedef int (*token_rand_fn)(unsigned char *out, int n);

/* CRC-32 as zlib's crc32() computes it, starting from 0. */
uint32_t token_crc32(const void *data, size_t len);

/* Writes crc as TOKEN_CHECK_LEN base62 digits, left-padded with '0'. */
void token_checksum_encode(uint32_t crc, char out[TOKEN_CHECK_LEN]);

/* Base62 value of c, or -1 when c is not in the alphabet. */
int token_symbol_value(unsigned char c);

/* Writes a new token (not NUL-terminated); 0 on success, -1 when the
 * randomness source failed (out is then wiped). */
int token_generate(char out[TOKEN_LEN]);
int token_generate_from(char out[TOKEN_LEN], token_rand_fn rand_fn);

/* True iff s[0..len) is a well-formed token. Any bytes, any length. */
bool token_valid(const char *s, size_t len);

/* Where the first well-formed token inside s[0..len) starts: its offset
 * plus 1, or 0 when no 64-byte window of s is a token. Any bytes, any
 * length, linear time: only windows that start with "ta1_" are checked. */
size_t token_find(const char *s, size_t len);

/* SHA-256 of s[0..len) into out; 0 on success, -1 on an OpenSSL failure. */
int token_sha256(const void *s, size_t len, unsigned char out[TOKEN_HASH_LEN]);

/* Writes a random version-4 UUID as 36 lowercase characters (not
 * NUL-terminated); 0 on success, -1 when the randomness source failed. */
int token_uuid_v4(char out[TOKEN_UUID_LEN]);

/* True when s[0..len) is a UUID's text: TOKEN_UUID_LEN characters, hex
 * digits of either case in groups of 8-4-4-4-12 joined by '-'. Read as
 * pointer plus length: a NUL inside is refused; NULL is refused. */
bool token_uuid_text(const char *s, size_t len);

#endif
