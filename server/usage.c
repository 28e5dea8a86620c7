/* usage.c: the set of token hashes waiting to be flushed; see usage.h.
 * Terms: a "table" is a dense array of "entries" (the hashes, in the order
 * added) plus an "index" of slots found by open addressing with linear
 * probing, each slot 0 (empty) or an entry number + 1. The hashes are
 * SHA-256 outputs, uniformly random, so their first 8 bytes are the bucket.
 * The "live" table takes adds under `lock`; the "spare" is always empty
 * between takes. A take swaps the two under `lock`, then, holding only
 * `take_lock` (which makes takes one at a time), copies the old live table
 * out, empties it and keeps it as the next spare. */
#include "usage.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hashes put back per hold of the lock, so adds wait for at most this many. */
#define USAGE_PUT_BACK_BATCH 256

struct usage_table {
  uint8_t *hashes; /* capacity * TOKEN_HASH_LEN bytes, count of them used */
  uint32_t *index; /* mask + 1 slots */
  size_t count;
};

struct usage_set {
  struct usage_table tables[2];
  struct usage_table *live;  /* guarded by lock */
  struct usage_table *spare; /* guarded by take_lock, swapped under lock */
  size_t capacity;
  size_t mask;
  atomic_size_t pending; /* live->count, stored under lock */
  atomic_uint_fast64_t dropped;
  pthread_mutex_t lock;
  pthread_mutex_t take_lock;
};

static size_t usage_bucket(const uint8_t *hash, size_t mask)
{
  uint64_t b;

  memcpy(&b, hash, sizeof b);
  return (size_t)b & mask;
}

static int usage_cmp(const void *a, const void *b)
{
  return memcmp(a, b, TOKEN_HASH_LEN);
}

struct usage_set *usage_new(size_t capacity, char *err, size_t err_size)
{
  struct usage_set *s;
  size_t slots = 2;

  if (capacity == 0) {
    snprintf(err, err_size, "usage: capacity must be > 0");
    return NULL;
  }
  if (capacity > USAGE_MAX_CAPACITY) {
    snprintf(err, err_size, "usage: capacity %zu is more than the limit %zu",
             capacity, USAGE_MAX_CAPACITY);
    return NULL;
  }
  while (slots < 2 * capacity)
    slots *= 2;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, err_size, "usage: out of memory");
    return NULL;
  }
  s->capacity = capacity;
  s->mask = slots - 1;
  for (size_t i = 0; i < 2; i++) {
    s->tables[i].hashes = malloc(capacity * TOKEN_HASH_LEN);
    s->tables[i].index = calloc(slots, sizeof *s->tables[i].index);
    if (s->tables[i].hashes == NULL || s->tables[i].index == NULL) {
      snprintf(err, err_size, "usage: cannot allocate 2 tables of %zu hashes",
               capacity);
      goto fail;
    }
  }
  if (pthread_mutex_init(&s->lock, NULL) != 0) {
    snprintf(err, err_size, "usage: pthread_mutex_init failed");
    goto fail;
  }
  if (pthread_mutex_init(&s->take_lock, NULL) != 0) {
    pthread_mutex_destroy(&s->lock);
    snprintf(err, err_size, "usage: pthread_mutex_init failed");
    goto fail;
  }
  s->live = &s->tables[0];
  s->spare = &s->tables[1];
  atomic_init(&s->pending, 0);
  atomic_init(&s->dropped, 0);
  return s;
fail:
  for (size_t i = 0; i < 2; i++) {
    free(s->tables[i].hashes);
    free(s->tables[i].index);
  }
  free(s);
  return NULL;
}

void usage_free(struct usage_set *s)
{
  if (s == NULL)
    return;
  pthread_mutex_destroy(&s->lock);
  pthread_mutex_destroy(&s->take_lock);
  for (size_t i = 0; i < 2; i++) {
    free(s->tables[i].hashes);
    free(s->tables[i].index);
  }
  free(s);
}

/* Adds hash to the live table unless it is there; with lock held. False
 * (and counted) when the table is full. Expected O(1): the index is at most
 * half full. */
static bool usage_insert_locked(struct usage_set *s, const uint8_t *hash)
{
  struct usage_table *t = s->live;
  size_t i = usage_bucket(hash, s->mask);
  uint32_t e;

  while ((e = t->index[i]) != 0) {
    if (memcmp(t->hashes + (size_t)(e - 1) * TOKEN_HASH_LEN, hash,
               TOKEN_HASH_LEN) == 0)
      return true;
    i = (i + 1) & s->mask;
  }
  if (t->count == s->capacity) {
    atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
    return false;
  }
  memcpy(t->hashes + t->count * TOKEN_HASH_LEN, hash, TOKEN_HASH_LEN);
  t->count++;
  t->index[i] = (uint32_t)t->count;
  atomic_store_explicit(&s->pending, t->count, memory_order_relaxed);
  return true;
}

bool usage_add(struct usage_set *s, const uint8_t hash[TOKEN_HASH_LEN])
{
  bool held;

  pthread_mutex_lock(&s->lock);
  held = usage_insert_locked(s, hash);
  pthread_mutex_unlock(&s->lock);
  return held;
}

/* Empties a table no other thread can reach: zeroes the slot of each entry
 * (found by probing for its number, so the order does not matter). */
static void usage_table_clear(struct usage_table *t, size_t mask)
{
  for (size_t e = 0; e < t->count; e++) {
    size_t i = usage_bucket(t->hashes + e * TOKEN_HASH_LEN, mask);

    while (t->index[i] != e + 1)
      i = (i + 1) & mask;
    t->index[i] = 0;
  }
  t->count = 0;
}

size_t usage_take(struct usage_set *s, uint8_t **out)
{
  struct usage_table *full;
  uint8_t *buf;
  size_t n, room;

  *out = NULL;
  pthread_mutex_lock(&s->take_lock);
  n = atomic_load_explicit(&s->pending, memory_order_relaxed);
  if (n == 0) {
    pthread_mutex_unlock(&s->take_lock);
    return 0;
  }
  /* The buffer is allocated before the swap, with a margin for adds racing
   * with us; if they outrun it, once more with room for a full table. */
  room = n + n / 4 + 64;
  if (room > s->capacity)
    room = s->capacity;
  for (;;) {
    buf = malloc(room * TOKEN_HASH_LEN);
    if (buf == NULL) {
      pthread_mutex_unlock(&s->take_lock);
      return 0;
    }
    pthread_mutex_lock(&s->lock);
    if (s->live->count <= room)
      break;
    pthread_mutex_unlock(&s->lock);
    free(buf);
    room = s->capacity;
  }
  full = s->live;
  s->live = s->spare;
  s->spare = full;
  atomic_store_explicit(&s->pending, 0, memory_order_relaxed);
  pthread_mutex_unlock(&s->lock);

  /* full is ours alone until the next take swaps it in again. */
  n = full->count;
  memcpy(buf, full->hashes, n * TOKEN_HASH_LEN);
  usage_table_clear(full, s->mask);
  pthread_mutex_unlock(&s->take_lock);
  if (n == 0) {
    free(buf);
    return 0;
  }
  qsort(buf, n, TOKEN_HASH_LEN, usage_cmp);
  *out = buf;
  return n;
}

void usage_put_back(struct usage_set *s, const uint8_t *hashes, size_t n)
{
  size_t done = 0;

  if (hashes == NULL)
    return;
  while (done < n) {
    size_t end =
        n - done > USAGE_PUT_BACK_BATCH ? done + USAGE_PUT_BACK_BATCH : n;

    pthread_mutex_lock(&s->lock);
    for (; done < end; done++)
      (void)usage_insert_locked(s, hashes + done * TOKEN_HASH_LEN);
    pthread_mutex_unlock(&s->lock);
  }
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
  return atomic_load_explicit(&s->pending, memory_order_relaxed);
}

uint64_t usage_dropped(const struct usage_set *s)
{
  return atomic_load_explicit(&s->dropped, memory_order_relaxed);
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
