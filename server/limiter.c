/* limiter.c: the failed-authentication limiter; see limiter.h. Terms: a
 * "slot" holds one address's counts; a "set" is the LIMITER_WAYS slots an
 * address may live in, chosen by SipHash-2-4 of the address under a key
 * drawn at start (so nobody can aim many addresses at one set); a "shard" is
 * the mutex guarding every set whose index is the same modulo
 * LIMITER_SHARDS. Times are milliseconds on the limiter's clock. */
#include "limiter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "siphash.h"

struct limiter_slot {
  struct client_addr addr;
  uint64_t start; /* when the current window opened; 0: the slot is empty */
  uint32_t cur;   /* failures in the current window */
  uint32_t prev;  /* failures in the window before it */
};

_Static_assert(sizeof(struct limiter_slot) == LIMITER_SLOT_BYTES,
               "LIMITER_SLOT_BYTES is the documented memory cost");

struct limiter {
  struct limiter_slot *slots; /* sets * LIMITER_WAYS */
  size_t sets;
  uint64_t window_ms;
  uint64_t limit;
  uint64_t key[2];
  uint64_t epoch_us; /* clock.h */
  atomic_uint_fast64_t evictions;
  pthread_mutex_t locks[LIMITER_SHARDS];
};

/* The set hash: SipHash-2-4 of the 16 address bytes. */
static uint64_t limiter_hash(const uint64_t key[2], const struct client_addr *a)
{
  return siphash24(key, a->b, sizeof a->b);
}

struct limiter *limiter_new(unsigned limit, unsigned window_s, unsigned table,
                            char *err, size_t err_size)
{
  struct limiter *l;
  size_t shards_ready = 0;

  if (limit == 0 || window_s == 0 || table == 0) {
    snprintf(err, err_size, "limiter: limit, window and table must be > 0");
    return NULL;
  }
  /* The weights compare limit * window_ms in 64 bits. */
  if ((uint64_t)limit > UINT64_MAX / ((uint64_t)window_s * 1000)) {
    snprintf(err, err_size, "limiter: limit times window is too large");
    return NULL;
  }
  l = calloc(1, sizeof *l);
  if (l == NULL) {
    snprintf(err, err_size, "limiter: out of memory");
    return NULL;
  }
  l->sets = ((size_t)table + LIMITER_WAYS - 1) / LIMITER_WAYS;
  l->window_ms = (uint64_t)window_s * 1000;
  l->limit = limit;
  atomic_init(&l->evictions, 0);
  l->slots = calloc(l->sets * LIMITER_WAYS, sizeof *l->slots);
  if (l->slots == NULL) {
    snprintf(err, err_size, "limiter: cannot allocate %zu slots of %d bytes",
             l->sets * LIMITER_WAYS, LIMITER_SLOT_BYTES);
    goto fail;
  }
  if (getrandom(l->key, sizeof l->key, 0) != (ssize_t)sizeof l->key) {
    snprintf(err, err_size, "limiter: getrandom failed");
    goto fail;
  }
  for (; shards_ready < LIMITER_SHARDS; shards_ready++) {
    if (pthread_mutex_init(&l->locks[shards_ready], NULL) != 0) {
      snprintf(err, err_size, "limiter: pthread_mutex_init failed");
      goto fail;
    }
  }
  l->epoch_us = clock_now_us();
  return l;
fail:
  while (shards_ready > 0)
    pthread_mutex_destroy(&l->locks[--shards_ready]);
  free(l->slots);
  free(l);
  return NULL;
}

void limiter_free(struct limiter *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < LIMITER_SHARDS; i++)
    pthread_mutex_destroy(&l->locks[i]);
  free(l->slots);
  free(l);
}

uint64_t limiter_now_ms(const struct limiter *l)
{
  /* + 1: 0 marks an empty slot, so no time is ever 0. */
  return clock_since_us(l->epoch_us) / 1000 + 1;
}

size_t limiter_slots(const struct limiter *l)
{
  return l->sets * LIMITER_WAYS;
}

uint64_t limiter_evictions(const struct limiter *l)
{
  return atomic_load(&l->evictions);
}

/* Moves an occupied slot's window forward to the one holding now. */
static void limiter_roll(struct limiter_slot *s, uint64_t now, uint64_t w)
{
  uint64_t n;

  if (s->start == 0 || now < s->start)
    return;
  n = (now - s->start) / w;
  if (n == 0)
    return;
  if (n == 1) {
    s->prev = s->cur;
    s->cur = 0;
    s->start += w;
    return;
  }
  /* Idle for a whole window: nothing is left to count. */
  s->prev = 0;
  s->cur = 0;
  s->start = now;
}

/* The estimate times the window length, for a slot rolled to now. */
static uint64_t limiter_weight(const struct limiter_slot *s, uint64_t now,
                               uint64_t w)
{
  uint64_t e = now - s->start;

  return (uint64_t)s->prev * (w - e) + (uint64_t)s->cur * w;
}

/* Milliseconds until a blocked slot's estimate drops below the limit, if no
 * failure is added. */
static uint64_t limiter_wait_ms(const struct limiter_slot *s, uint64_t now,
                                uint64_t w, uint64_t limit)
{
  uint64_t e = now - s->start;

  /* cur alone reaches the limit: wait for the next window, then until the
   * carried-over cur has faded enough. */
  if (s->cur >= limit)
    return (w - e) + (w - (limit * w - 1) / s->cur);
  if (s->prev == 0)
    return w - e;
  return w - ((limit - s->cur) * w - 1) / s->prev - e;
}

static struct limiter_slot *limiter_set_of(struct limiter *l,
                                           const struct client_addr *a,
                                           pthread_mutex_t **lock)
{
  size_t set = (size_t)(limiter_hash(l->key, a) % l->sets);

  *lock = &l->locks[set % LIMITER_SHARDS];
  return &l->slots[set * LIMITER_WAYS];
}

/* The occupied slot of a in its set, rolled to now; NULL when a has none.
 * The caller holds the set's lock. */
static struct limiter_slot *limiter_find(struct limiter *l,
                                         struct limiter_slot *set,
                                         const struct client_addr *a,
                                         uint64_t now_ms)
{
  for (size_t i = 0; i < LIMITER_WAYS; i++) {
    struct limiter_slot *s = &set[i];

    if (s->start != 0 && memcmp(&s->addr, a, sizeof *a) == 0) {
      limiter_roll(s, now_ms, l->window_ms);
      return s;
    }
  }
  return NULL;
}

/* True when slot s (rolled to now) is blocked; then sets *retry_after_s. */
static bool limiter_over(const struct limiter *l, const struct limiter_slot *s,
                         uint64_t now_ms, unsigned *retry_after_s)
{
  uint64_t wait;

  if (limiter_weight(s, now_ms, l->window_ms) < l->limit * l->window_ms)
    return false;
  wait = limiter_wait_ms(s, now_ms, l->window_ms, l->limit);
  *retry_after_s = wait < 1000 ? 1 : (unsigned)((wait + 999) / 1000);
  return true;
}

/* Counts one failure of a at now_ms into its slot s, or, when s is NULL,
 * into a slot of set taken for a: an empty one, else the one with the
 * lowest estimate. The caller holds the set's lock. */
static void limiter_count(struct limiter *l, struct limiter_slot *set,
                          struct limiter_slot *s, const struct client_addr *a,
                          uint64_t now_ms)
{
  struct limiter_slot *victim = NULL;
  uint64_t best = UINT64_MAX;

  if (s != NULL) {
    if (s->cur < UINT32_MAX)
      s->cur++;
    return;
  }
  for (size_t i = 0; i < LIMITER_WAYS; i++) {
    struct limiter_slot rolled;
    uint64_t score;

    if (set[i].start == 0) {
      score = 0; /* an empty slot beats any occupied one */
    } else {
      rolled = set[i];
      limiter_roll(&rolled, now_ms, l->window_ms);
      score = limiter_weight(&rolled, now_ms, l->window_ms) + 1;
    }
    if (score < best) {
      best = score;
      victim = &set[i];
    }
  }
  if (victim->start != 0)
    atomic_fetch_add(&l->evictions, 1);
  victim->addr = *a;
  victim->start = now_ms;
  victim->cur = 1;
  victim->prev = 0;
}

bool limiter_blocked(struct limiter *l, const struct client_addr *a,
                     uint64_t now_ms, unsigned *retry_after_s)
{
  pthread_mutex_t *lock;
  struct limiter_slot *set = limiter_set_of(l, a, &lock);
  struct limiter_slot *s;
  bool blocked;

  pthread_mutex_lock(lock);
  s = limiter_find(l, set, a, now_ms);
  blocked = s != NULL && limiter_over(l, s, now_ms, retry_after_s);
  pthread_mutex_unlock(lock);
  return blocked;
}

void limiter_fail(struct limiter *l, const struct client_addr *a,
                  uint64_t now_ms)
{
  pthread_mutex_t *lock;
  struct limiter_slot *set = limiter_set_of(l, a, &lock);

  pthread_mutex_lock(lock);
  limiter_count(l, set, limiter_find(l, set, a, now_ms), a, now_ms);
  pthread_mutex_unlock(lock);
}

bool limiter_reserve(struct limiter *l, const struct client_addr *a,
                     uint64_t now_ms, unsigned *retry_after_s)
{
  pthread_mutex_t *lock;
  struct limiter_slot *set = limiter_set_of(l, a, &lock);
  struct limiter_slot *s;
  bool reserved = true;

  pthread_mutex_lock(lock);
  s = limiter_find(l, set, a, now_ms);
  if (s != NULL && limiter_over(l, s, now_ms, retry_after_s))
    reserved = false;
  else
    limiter_count(l, set, s, a, now_ms);
  pthread_mutex_unlock(lock);
  return reserved;
}

void limiter_refund(struct limiter *l, const struct client_addr *a,
                    uint64_t reserved_ms, uint64_t now_ms)
{
  pthread_mutex_t *lock;
  struct limiter_slot *set = limiter_set_of(l, a, &lock);
  struct limiter_slot *s;

  pthread_mutex_lock(lock);
  s = limiter_find(l, set, a, now_ms);
  /* Counted in the current window, or in the one before, which rolling
   * turned into prev; a slot opened after the reservation (a was evicted
   * and came back) holds nothing of it. */
  if (s != NULL && reserved_ms >= s->start) {
    if (s->cur > 0)
      s->cur--;
  } else if (s != NULL && reserved_ms + l->window_ms >= s->start &&
             s->prev > 0) {
    s->prev--;
  }
  pthread_mutex_unlock(lock);
}

void limiter_metrics(struct metrics_text *t, const struct limiter *l)
{
  metrics_counter(t, "tenant_authd_auth_fail_evictions_total",
                  "Addresses dropped from the full failure table to make "
                  "room.",
                  l != NULL ? limiter_evictions(l) : 0);
}
