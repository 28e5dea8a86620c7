/* token.c: generate, encode, checksum, validate and hash tenant_auth tokens.
 * Terms: "body" is the first TOKEN_BODY_LEN bytes (prefix + random part), the
 * "checksum" is the last TOKEN_CHECK_LEN. See token.h for the format. */
#include "token.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char token_alphabet[TOKEN_ALPHABET_LEN + 1] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Bytes at or above this are rejected so that b % 62 is uniform: 248 = 4*62. */
#define TOKEN_REJECT_FROM (256 - 256 % TOKEN_ALPHABET_LEN)

uint32_t token_crc32(const void *data, size_t len)
{
  const unsigned char *p = data;
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int bit = 0; bit < 8; bit++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void token_checksum_encode(uint32_t crc, char out[TOKEN_CHECK_LEN])
{
  for (int i = TOKEN_CHECK_LEN - 1; i >= 0; i--) {
    out[i] = token_alphabet[crc % TOKEN_ALPHABET_LEN];
    crc /= TOKEN_ALPHABET_LEN;
  }
}

int token_symbol_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'Z')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 36;
  return -1;
}

int token_generate_from(char out[TOKEN_LEN], token_rand_fn rand_fn)
{
  unsigned char pool[64];
  size_t filled = TOKEN_PREFIX_LEN;

  memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
  /* Each round accepts about 97% of the bytes; a source that keeps handing
   * back rejected bytes is broken, so the number of rounds is bounded. */
  for (int round = 0; round < 64 && filled < TOKEN_BODY_LEN; round++) {
    if (rand_fn(pool, (int)sizeof pool) != 1)
      break;
    for (size_t i = 0; i < sizeof pool && filled < TOKEN_BODY_LEN; i++) {
      if (pool[i] < TOKEN_REJECT_FROM)
        out[filled++] = token_alphabet[pool[i] % TOKEN_ALPHABET_LEN];
    }
  }
  OPENSSL_cleanse(pool, sizeof pool);
  if (filled < TOKEN_BODY_LEN) {
    OPENSSL_cleanse(out, TOKEN_LEN);
    return -1;
  }
  token_checksum_encode(token_crc32(out, TOKEN_BODY_LEN), out + TOKEN_BODY_LEN);
  return 0;
}

int token_generate(char out[TOKEN_LEN])
{
  return token_generate_from(out, RAND_bytes);
}

bool token_valid(const char *s, size_t len)
{
  char expect[TOKEN_CHECK_LEN];

  if (s == NULL || len != TOKEN_LEN)
    return false;
  if (memcmp(s, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
    return false;
  for (size_t i = TOKEN_PREFIX_LEN; i < TOKEN_LEN; i++) {
    if (token_symbol_value((unsigned char)s[i]) < 0)
      return false;
  }
  token_checksum_encode(token_crc32(s, TOKEN_BODY_LEN), expect);
  return memcmp(expect, s + TOKEN_BODY_LEN, TOKEN_CHECK_LEN) == 0;
}

size_t token_find(const char *s, size_t len)
{
  if (s == NULL || len < TOKEN_LEN)
    return 0;
  for (size_t i = 0; i + TOKEN_LEN <= len; i++) {
    const char *p = memchr(s + i, 't', len - TOKEN_LEN + 1 - i);
    if (p == NULL)
      return 0;
    i = (size_t)(p - s);
    if (token_valid(p, TOKEN_LEN))
      return i + 1;
  }
  return 0;
}

int token_sha256(const void *s, size_t len, unsigned char out[TOKEN_HASH_LEN])
{
  unsigned int out_len = 0;

  if (s == NULL && len > 0)
    return -1;
  if (EVP_Digest(s, len, out, &out_len, EVP_sha256(), NULL) != 1 ||
      out_len != TOKEN_HASH_LEN)
    return -1;
  return 0;
}

bool token_uuid_text(const char *s, size_t len)
{
  if (s == NULL || len != TOKEN_UUID_LEN)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;

    if (dash ? c != '-'
             : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                 (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

int token_uuid_v4(char out[TOKEN_UUID_LEN])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  size_t o = 0;

  if (RAND_bytes(b, (int)sizeof b) != 1)
    return -1;
  b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
  for (size_t i = 0; i < sizeof b; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 0x0F];
  }
  return 0;
}
