/* siphash.h: SipHash-2-4 (Aumasson and Bernstein), the keyed hash that
 * picks a set in the in-memory tables (limiter.c, ratelimit.c): under a
 * key drawn at start, nobody can aim many keys at one set. Words are read
 * in host order: a value only has to be stable within the process. */
#ifndef TENANT_AUTHD_SIPHASH_H
#define TENANT_AUTHD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t siphash_rotl(uint64_t x, unsigned b)
{
  return (x << b) | (x >> (64 - b));
}

static inline void siphash_round(uint64_t v[4])
{
  v[0] += v[1];
  v[1] = siphash_rotl(v[1], 13);
  v[1] ^= v[0];
  v[0] = siphash_rotl(v[0], 32);
  v[2] += v[3];
  v[3] = siphash_rotl(v[3], 16);
  v[3] ^= v[2];
  v[0] += v[3];
  v[3] = siphash_rotl(v[3], 21);
  v[3] ^= v[0];
  v[2] += v[1];
  v[1] = siphash_rotl(v[1], 17);
  v[1] ^= v[2];
  v[2] = siphash_rotl(v[2], 32);
}

/* SipHash-2-4 of the len bytes at p under key. */
static inline uint64_t siphash24(const uint64_t key[2], const void *p,
                                 size_t len)
{
  const unsigned char *b = p;
  uint64_t v[4] = {
      0x736f6d6570736575ULL ^ key[0], 0x646f72616e646f6dULL ^ key[1],
      0x6c7967656e657261ULL ^ key[0], 0x7465646279746573ULL ^ key[1]};
  uint64_t m;
  size_t i = 0;

  for (; i + 8 <= len; i += 8) {
    memcpy(&m, b + i, sizeof m);
    v[3] ^= m;
    siphash_round(v);
    siphash_round(v);
    v[0] ^= m;
  }
  m = (uint64_t)len << 56;
  for (size_t j = 0; i + j < len; j++)
    m |= (uint64_t)b[i + j] << (8 * j);
  v[3] ^= m;
  siphash_round(v);
  siphash_round(v);
  v[0] ^= m;
  v[2] ^= 0xff;
  for (size_t r = 0; r < 4; r++)
    siphash_round(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

#endif
