/* swaptable.c: the bounded, double-buffered table; see swaptable.h.
 * Terms: a "table" is a dense array of rows (in the order first added)
 * plus an "index" of slots found by open addressing with linear probing,
 * each slot 0 (empty) or a row number + 1. The "live" table takes adds
 * under `lock`; the "spare" is always empty between takes. A take swaps
 * the two under `lock`, then, holding only `take_lock` (which makes takes
 * one at a time), copies the old live table out, empties it and keeps it
 * as the next spare. */
#include "swaptable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows put back per hold of the lock, so adds wait for at most this many. */
#define SWAPTABLE_PUT_BACK_BATCH 256

struct swaptable_rows {
  unsigned char *rows; /* capacity * row_size bytes, count rows used */
  uint32_t *index;     /* mask + 1 slots */
  size_t count;
};

struct swaptable {
  const struct swaptable_kind *kind;
  struct swaptable_rows tables[2];
  struct swaptable_rows *live;  /* guarded by lock */
  struct swaptable_rows *spare; /* guarded by take_lock, swapped under lock */
  size_t capacity;
  size_t mask;
  atomic_size_t pending; /* live->count, stored under lock */
  atomic_uint_fast64_t dropped;
  pthread_mutex_t lock;
  pthread_mutex_t take_lock;
};

static unsigned char *swaptable_row(const struct swaptable *t,
                                    const struct swaptable_rows *tb, size_t e)
{
  return tb->rows + e * t->kind->row_size;
}

static void swaptable_free_rows(struct swaptable *t)
{
  for (size_t i = 0; i < 2; i++) {
    free(t->tables[i].rows);
    free(t->tables[i].index);
  }
}

struct swaptable *swaptable_new(const struct swaptable_kind *kind,
                                size_t capacity, char *err, size_t err_size)
{
  struct swaptable *t;
  size_t slots = 2;

  if (capacity == 0 || capacity > SWAPTABLE_MAX_CAPACITY) {
    snprintf(err, err_size, "%s: capacity %zu is not from 1 to %zu", kind->name,
             capacity, SWAPTABLE_MAX_CAPACITY);
    return NULL;
  }
  while (slots < 2 * capacity)
    slots *= 2;
  t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(err, err_size, "%s: out of memory", kind->name);
    return NULL;
  }
  t->kind = kind;
  t->capacity = capacity;
  t->mask = slots - 1;
  for (size_t i = 0; i < 2; i++) {
    t->tables[i].rows = malloc(capacity * kind->row_size);
    t->tables[i].index = calloc(slots, sizeof *t->tables[i].index);
    if (t->tables[i].rows == NULL || t->tables[i].index == NULL) {
      snprintf(err, err_size, "%s: cannot allocate 2 tables of %zu rows",
               kind->name, capacity);
      goto fail;
    }
  }
  if (pthread_mutex_init(&t->lock, NULL) != 0) {
    snprintf(err, err_size, "%s: pthread_mutex_init failed", kind->name);
    goto fail;
  }
  if (pthread_mutex_init(&t->take_lock, NULL) != 0) {
    pthread_mutex_destroy(&t->lock);
    snprintf(err, err_size, "%s: pthread_mutex_init failed", kind->name);
    goto fail;
  }
  t->live = &t->tables[0];
  t->spare = &t->tables[1];
  atomic_init(&t->pending, 0);
  atomic_init(&t->dropped, 0);
  return t;
fail:
  swaptable_free_rows(t);
  free(t);
  return NULL;
}

void swaptable_free(struct swaptable *t)
{
  if (t == NULL)
    return;
  pthread_mutex_destroy(&t->lock);
  pthread_mutex_destroy(&t->take_lock);
  swaptable_free_rows(t);
  free(t);
}

/* Adds row to the live table, merged into the row of its key or made new;
 * with lock held. False (and counted) when the table is full. Expected
 * O(1): the index is at most half full. */
static bool swaptable_add_locked(struct swaptable *t, const void *add)
{
  const struct swaptable_kind *k = t->kind;
  struct swaptable_rows *tb = t->live;
  size_t i = (size_t)k->hash(add) & t->mask;
  uint64_t lost = 0;
  unsigned char *row;
  uint32_t e;

  while ((e = tb->index[i]) != 0) {
    row = swaptable_row(t, tb, e - 1);
    if (k->cmp(row, add) == 0) {
      if (k->merge != NULL)
        lost = k->merge(row, add, false);
      if (lost > 0)
        atomic_fetch_add_explicit(&t->dropped, lost, memory_order_relaxed);
      return true;
    }
    i = (i + 1) & t->mask;
  }
  if (tb->count == t->capacity) {
    atomic_fetch_add_explicit(&t->dropped,
                              k->weight != NULL ? k->weight(add) : 1,
                              memory_order_relaxed);
    return false;
  }
  row = swaptable_row(t, tb, tb->count);
  if (k->merge != NULL)
    lost = k->merge(row, add, true);
  else
    memcpy(row, add, k->row_size);
  if (lost > 0)
    atomic_fetch_add_explicit(&t->dropped, lost, memory_order_relaxed);
  tb->count++;
  tb->index[i] = (uint32_t)tb->count;
  atomic_store_explicit(&t->pending, tb->count, memory_order_relaxed);
  return true;
}

bool swaptable_add(struct swaptable *t, const void *row)
{
  bool held;

  pthread_mutex_lock(&t->lock);
  held = swaptable_add_locked(t, row);
  pthread_mutex_unlock(&t->lock);
  return held;
}

/* Empties a table no other thread can reach: zeroes the slot of each row
 * (found by probing for its number, so the order does not matter). */
static void swaptable_clear(struct swaptable *t, struct swaptable_rows *tb)
{
  for (size_t e = 0; e < tb->count; e++) {
    size_t i = (size_t)t->kind->hash(swaptable_row(t, tb, e)) & t->mask;

    while (tb->index[i] != e + 1)
      i = (i + 1) & t->mask;
    tb->index[i] = 0;
  }
  tb->count = 0;
}

void *swaptable_take(struct swaptable *t, size_t *n_out)
{
  size_t row_size = t->kind->row_size;
  struct swaptable_rows *full;
  unsigned char *buf;
  size_t n, room;

  *n_out = 0;
  pthread_mutex_lock(&t->take_lock);
  n = atomic_load_explicit(&t->pending, memory_order_relaxed);
  if (n == 0) {
    pthread_mutex_unlock(&t->take_lock);
    return NULL;
  }
  /* The buffer is allocated before the swap, with a margin for adds racing
   * with us; if they outrun it, once more with room for a full table. */
  room = n + n / 4 + 64;
  if (room > t->capacity)
    room = t->capacity;
  for (;;) {
    buf = malloc(room * row_size);
    if (buf == NULL) {
      pthread_mutex_unlock(&t->take_lock);
      return NULL;
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
  memcpy(buf, full->rows, n * row_size);
  swaptable_clear(t, full);
  pthread_mutex_unlock(&t->take_lock);
  if (n == 0) {
    free(buf);
    return NULL;
  }
  qsort(buf, n, row_size, t->kind->cmp);
  *n_out = n;
  return buf;
}

void swaptable_put_back(struct swaptable *t, const void *rows, size_t n)
{
  const unsigned char *at = rows;
  size_t done = 0;

  if (rows == NULL)
    return;
  while (done < n) {
    size_t end = n - done > SWAPTABLE_PUT_BACK_BATCH
                     ? done + SWAPTABLE_PUT_BACK_BATCH
                     : n;

    pthread_mutex_lock(&t->lock);
    for (; done < end; done++)
      (void)swaptable_add_locked(t, at + done * t->kind->row_size);
    pthread_mutex_unlock(&t->lock);
  }
}

size_t swaptable_pending(const struct swaptable *t)
{
  return atomic_load_explicit(&t->pending, memory_order_relaxed);
}

uint64_t swaptable_dropped(const struct swaptable *t)
{
  return atomic_load_explicit(&t->dropped, memory_order_relaxed);
}
