/* tusage.c: tenant usage per minute, waiting to be written; see tusage.h.
 * Terms as in usage.c: a "table" is a dense array of rows (in the order
 * first added) plus an "index" of slots found by open addressing with
 * linear probing, each slot 0 (empty) or a row number + 1; the bucket is
 * FNV-1a of the tenant's text and the minute. The "live" table takes adds
 * under `lock`; the "spare" is always empty between takes. A take swaps the
 * two under `lock`, then, holding only `take_lock` (which makes takes one
 * at a time), copies the old live table out, empties it and keeps it as
 * the next spare. */
#include "tusage.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows put back per hold of the lock, so adds wait for at most this many. */
#define TUSAGE_PUT_BACK_BATCH 256

struct tusage_table {
  struct tusage_row *rows; /* capacity of them, count used */
  uint32_t *index;         /* mask + 1 slots */
  size_t count;
};

struct tusage {
  struct tusage_table tables[2];
  struct tusage_table *live;  /* guarded by lock */
  struct tusage_table *spare; /* guarded by take_lock, swapped under lock */
  size_t capacity;
  size_t mask;
  atomic_size_t pending; /* live->count, stored under lock */
  atomic_uint_fast64_t dropped;
  pthread_mutex_t lock;
  pthread_mutex_t take_lock;
};

_Static_assert(sizeof(struct tusage_row) == 64,
               "tusage.h states 64 bytes per row");

static size_t tusage_bucket(const char *tenant, int64_t minute, size_t mask)
{
  uint64_t h = 14695981039346656037ULL;

  for (size_t i = 0; i < TOKEN_UUID_LEN; i++)
    h = (h ^ (unsigned char)tenant[i]) * 1099511628211ULL;
  h = (h ^ (uint64_t)minute) * 1099511628211ULL;
  return (size_t)(h ^ (h >> 29)) & mask;
}

static int tusage_cmp(const void *a, const void *b)
{
  const struct tusage_row *x = a, *y = b;
  int c = memcmp(x->tenant, y->tenant, TOKEN_UUID_LEN);

  if (c != 0)
    return c;
  return x->minute < y->minute ? -1 : x->minute > y->minute;
}

bool tusage_tenant_valid(const char *tenant, size_t len)
{
  if (tenant == NULL || len != TOKEN_UUID_LEN)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = tenant[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;

    if (dash ? c != '-'
             : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                 (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

struct tusage *tusage_new(size_t capacity, char *err, size_t err_size)
{
  struct tusage *t;
  size_t slots = 2;

  if (capacity == 0 || capacity > TUSAGE_MAX_CAPACITY) {
    snprintf(err, err_size, "tenant usage: capacity %zu is not from 1 to %zu",
             capacity, TUSAGE_MAX_CAPACITY);
    return NULL;
  }
  while (slots < 2 * capacity)
    slots *= 2;
  t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(err, err_size, "tenant usage: out of memory");
    return NULL;
  }
  t->capacity = capacity;
  t->mask = slots - 1;
  for (size_t i = 0; i < 2; i++) {
    t->tables[i].rows = malloc(capacity * sizeof *t->tables[i].rows);
    t->tables[i].index = calloc(slots, sizeof *t->tables[i].index);
    if (t->tables[i].rows == NULL || t->tables[i].index == NULL) {
      snprintf(err, err_size,
               "tenant usage: cannot allocate 2 tables of %zu rows", capacity);
      goto fail;
    }
  }
  if (pthread_mutex_init(&t->lock, NULL) != 0) {
    snprintf(err, err_size, "tenant usage: pthread_mutex_init failed");
    goto fail;
  }
  if (pthread_mutex_init(&t->take_lock, NULL) != 0) {
    pthread_mutex_destroy(&t->lock);
    snprintf(err, err_size, "tenant usage: pthread_mutex_init failed");
    goto fail;
  }
  t->live = &t->tables[0];
  t->spare = &t->tables[1];
  atomic_init(&t->pending, 0);
  atomic_init(&t->dropped, 0);
  return t;
fail:
  for (size_t i = 0; i < 2; i++) {
    free(t->tables[i].rows);
    free(t->tables[i].index);
  }
  free(t);
  return NULL;
}

void tusage_free(struct tusage *t)
{
  if (t == NULL)
    return;
  pthread_mutex_destroy(&t->lock);
  pthread_mutex_destroy(&t->take_lock);
  for (size_t i = 0; i < 2; i++) {
    free(t->tables[i].rows);
    free(t->tables[i].index);
  }
  free(t);
}

/* Adds n to *count up to TUSAGE_COUNT_MAX; returns what did not fit. */
static uint64_t tusage_saturate(uint64_t *count, uint64_t n)
{
  uint64_t room = TUSAGE_COUNT_MAX - *count;

  if (n <= room) {
    *count += n;
    return 0;
  }
  *count = TUSAGE_COUNT_MAX;
  return n - room;
}

/* Adds the counts to the live table's row of (tenant, minute), making it
 * when new; with lock held. False (and counted) when the table is full.
 * Expected O(1): the index is at most half full. */
static bool tusage_add_locked(struct tusage *t, const char *tenant,
                              int64_t minute, uint64_t requests,
                              uint64_t limited)
{
  struct tusage_table *tb = t->live;
  size_t i = tusage_bucket(tenant, minute, t->mask);
  struct tusage_row *r;
  uint32_t e;

  while ((e = tb->index[i]) != 0) {
    r = &tb->rows[e - 1];
    if (r->minute == minute && memcmp(r->tenant, tenant, TOKEN_UUID_LEN) == 0) {
      uint64_t lost = tusage_saturate(&r->requests, requests) +
                      tusage_saturate(&r->limited, limited);

      if (lost > 0)
        atomic_fetch_add_explicit(&t->dropped, lost, memory_order_relaxed);
      return true;
    }
    i = (i + 1) & t->mask;
  }
  if (tb->count == t->capacity) {
    atomic_fetch_add_explicit(&t->dropped, requests + limited,
                              memory_order_relaxed);
    return false;
  }
  r = &tb->rows[tb->count];
  memcpy(r->tenant, tenant, TOKEN_UUID_LEN);
  r->tenant[TOKEN_UUID_LEN] = '\0';
  r->minute = minute;
  r->requests = r->limited = 0;
  if (tusage_saturate(&r->requests, requests) +
          tusage_saturate(&r->limited, limited) >
      0)
    atomic_fetch_add_explicit(&t->dropped,
                              requests + limited - r->requests - r->limited,
                              memory_order_relaxed);
  tb->count++;
  tb->index[i] = (uint32_t)tb->count;
  atomic_store_explicit(&t->pending, tb->count, memory_order_relaxed);
  return true;
}

bool tusage_add(struct tusage *t, const char *tenant, size_t tenant_len,
                int64_t unix_s, uint64_t requests, uint64_t limited)
{
  bool held;

  if (!tusage_tenant_valid(tenant, tenant_len) || unix_s < 0)
    return false;
  pthread_mutex_lock(&t->lock);
  held = tusage_add_locked(t, tenant, unix_s - unix_s % 60, requests, limited);
  pthread_mutex_unlock(&t->lock);
  return held;
}

/* Empties a table no other thread can reach: zeroes the slot of each row
 * (found by probing for its number, so the order does not matter). */
static void tusage_table_clear(struct tusage_table *tb, size_t mask)
{
  for (size_t e = 0; e < tb->count; e++) {
    size_t i = tusage_bucket(tb->rows[e].tenant, tb->rows[e].minute, mask);

    while (tb->index[i] != e + 1)
      i = (i + 1) & mask;
    tb->index[i] = 0;
  }
  tb->count = 0;
}

size_t tusage_take(struct tusage *t, struct tusage_row **out)
{
  struct tusage_table *full;
  struct tusage_row *buf;
  size_t n, room;

  *out = NULL;
  pthread_mutex_lock(&t->take_lock);
  n = atomic_load_explicit(&t->pending, memory_order_relaxed);
  if (n == 0) {
    pthread_mutex_unlock(&t->take_lock);
    return 0;
  }
  /* The buffer is allocated before the swap, with a margin for adds racing
   * with us; if they outrun it, once more with room for a full table. */
  room = n + n / 4 + 16;
  if (room > t->capacity)
    room = t->capacity;
  for (;;) {
    buf = malloc(room * sizeof *buf);
    if (buf == NULL) {
      pthread_mutex_unlock(&t->take_lock);
      return 0;
    }
    pthread_mutex_lock(&t->lock);
    if (t->live->count <= room)
      break;
    pthread_mutex_unlock(&t->lock);
    free(buf);
    room = t->capacity;
  }
  full = t->live;
  t->live = t->spare;
  t->spare = full;
  atomic_store_explicit(&t->pending, 0, memory_order_relaxed);
  pthread_mutex_unlock(&t->lock);

  /* full is ours alone until the next take swaps it in again. */
  n = full->count;
  memcpy(buf, full->rows, n * sizeof *buf);
  tusage_table_clear(full, t->mask);
  pthread_mutex_unlock(&t->take_lock);
  if (n == 0) {
    free(buf);
    return 0;
  }
  qsort(buf, n, sizeof *buf, tusage_cmp);
  *out = buf;
  return n;
}

void tusage_put_back(struct tusage *t, const struct tusage_row *rows, size_t n)
{
  size_t done = 0;

  if (rows == NULL)
    return;
  while (done < n) {
    size_t end =
        n - done > TUSAGE_PUT_BACK_BATCH ? done + TUSAGE_PUT_BACK_BATCH : n;

    pthread_mutex_lock(&t->lock);
    for (; done < end; done++)
      (void)tusage_add_locked(t, rows[done].tenant, rows[done].minute,
                              rows[done].requests, rows[done].limited);
    pthread_mutex_unlock(&t->lock);
  }
}

long tusage_json(char *out, size_t out_size, const struct tusage_row *rows,
                 size_t n)
{
  size_t at = 0;
  int k;

  if (out_size < 3)
    return -1;
  out[at++] = '[';
  for (size_t i = 0; i < n; i++) {
    const struct tusage_row *r = &rows[i];

    if (!tusage_tenant_valid(r->tenant, strnlen(r->tenant, sizeof r->tenant)) ||
        r->minute < 0 || r->minute % 60 != 0 ||
        r->requests > TUSAGE_COUNT_MAX || r->limited > TUSAGE_COUNT_MAX)
      return -1;
    k = snprintf(out + at, out_size - at,
                 "%s{\"tenant\":\"%s\",\"minute\":%" PRId64
                 ",\"requests\":%" PRIu64 ",\"limited\":%" PRIu64 "}",
                 i > 0 ? "," : "", r->tenant, r->minute, r->requests,
                 r->limited);
    if (k < 0 || (size_t)k >= out_size - at)
      return -1;
    at += (size_t)k;
  }
  if (out_size - at < 2)
    return -1;
  out[at++] = ']';
  out[at] = '\0';
  return (long)at;
}

size_t tusage_pending(const struct tusage *t)
{
  return atomic_load_explicit(&t->pending, memory_order_relaxed);
}

uint64_t tusage_dropped(const struct tusage *t)
{
  return atomic_load_explicit(&t->dropped, memory_order_relaxed);
}

void tusage_metrics(struct metrics_text *out, const struct tusage *t)
{
  metrics_gauge(out, "tenant_authd_tenant_usage_pending",
                "Tenant-minutes of usage waiting to be written to "
                "tenant_usage.",
                (double)tusage_pending(t));
  metrics_counter(out, "tenant_authd_tenant_usage_dropped_total",
                  "Answers (2xx and 429 rate_limited) not counted in "
                  "tenant_usage because --usage-max tenant-minutes were "
                  "pending.",
                  tusage_dropped(t));
}
