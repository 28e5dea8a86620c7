/* usage.c: the set of token hashes waiting to be flushed; see usage.h.
 * Terms: the set is a swaptable (swaptable.h) whose rows are the hashes
 * alone, with no count to merge. The hashes are SHA-256 outputs, uniformly
 * random, so their first 8 bytes are the bucket. */
#include "usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swaptable.h"

_Static_assert(USAGE_MAX_CAPACITY == SWAPTABLE_MAX_CAPACITY,
               "usage.h states the swaptable's limit");

struct usage_set {
  struct swaptable *table;
};

static uint64_t usage_hash(const void *hash)
{
  uint64_t b;

  memcpy(&b, hash, sizeof b);
  return b;
}

static int usage_cmp(const void *a, const void *b)
{
  return memcmp(a, b, TOKEN_HASH_LEN);
}

static const struct swaptable_kind usage_kind = {
    .name = "usage",
    .row_size = TOKEN_HASH_LEN,
    .hash = usage_hash,
    .cmp = usage_cmp,
};

struct usage_set *usage_new(size_t capacity, char *err, size_t err_size)
{
  struct usage_set *s = malloc(sizeof *s);

  if (s == NULL) {
    snprintf(err, err_size, "usage: out of memory");
    return NULL;
  }
  s->table = swaptable_new(&usage_kind, capacity, err, err_size);
  if (s->table == NULL) {
    free(s);
    return NULL;
  }
  return s;
}

void usage_free(struct usage_set *s)
{
  if (s == NULL)
    return;
  swaptable_free(s->table);
  free(s);
}

bool usage_add(struct usage_set *s, const uint8_t hash[TOKEN_HASH_LEN])
{
  return swaptable_add(s->table, hash);
}

size_t usage_take(struct usage_set *s, uint8_t **out)
{
  size_t n;

  *out = swaptable_take(s->table, &n);
  return n;
}

void usage_put_back(struct usage_set *s, const uint8_t *hashes, size_t n)
{
  swaptable_put_back(s->table, hashes, n);
}

size_t usage_chunk_next(size_t chunk, size_t sent, uint64_t took_ms,
                        uint64_t target_ms, size_t max)
{
  if (took_ms > target_ms) {
    /* sent * target / took, without overflow: sent is at most a chunk. */
    uint64_t fit = took_ms > 0 ? (uint64_t)sent * target_ms / took_ms : sent;
    chunk = fit < USAGE_CHUNK_MIN ? USAGE_CHUNK_MIN : (size_t)fit;
  } else if (sent >= chunk && took_ms < target_ms / 4) {
    chunk = chunk > max / 2 ? max : chunk * 2;
  }
  if (chunk > max)
    chunk = max;
  return chunk < USAGE_CHUNK_MIN ? USAGE_CHUNK_MIN : chunk;
}

size_t usage_pending(const struct usage_set *s)
{
  return swaptable_pending(s->table);
}

uint64_t usage_dropped(const struct usage_set *s)
{
  return swaptable_dropped(s->table);
}

void usage_metrics(struct metrics_text *t, const struct usage_set *set)
{
  metrics_gauge(t, "tenant_authd_usage_pending",
                "Tokens whose use waits to be written to last_used_at.",
                (double)usage_pending(set));
  metrics_counter(t, "tenant_authd_usage_dropped_total",
                  "Token uses not recorded because --usage-max tokens "
                  "were pending.",
                  usage_dropped(set));
}
