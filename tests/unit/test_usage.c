/* test_usage.c: the set of token hashes waiting to be flushed
 * (server/usage.c), checked against usage.h alone. "Hash n" is the SHA-256
 * of the 4 bytes of n, little-endian, so hashes look like the real ones; the
 * oracle for a take is the distinct hashes added, sorted here with qsort.
 * The threaded part runs 4 adders over overlapping ranges of numbers while
 * the main thread keeps taking (and puts some batches back, as a failed
 * flush does), then checks nothing was lost, invented or flushed twice;
 * TEST_USAGE_VERBOSE=1 in the environment prints each round's counts. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "token.h"
#include "usage.h"

#define H TOKEN_HASH_LEN

/* Where an out pointer points before a call that must set it. */
static uint8_t sentinel[1];

/* Hash n into out. */
static void hash_n(uint32_t n, uint8_t out[H])
{
  uint8_t b[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                  (uint8_t)(n >> 24)};

  REQUIRE(token_sha256(b, sizeof b, out) == 0);
}

static struct usage_set *make(size_t capacity)
{
  char err[160] = "";
  struct usage_set *s = usage_new(capacity, err, sizeof err);

  if (s == NULL)
    fprintf(stderr, "usage_new: %s\n", err);
  REQUIRE(s != NULL);
  return s;
}

static int cmp_hash(const void *a, const void *b)
{
  return memcmp(a, b, H);
}

/* True when the n hashes at p are strictly ascending: sorted, no repeats. */
static bool strictly_sorted(const uint8_t *p, size_t n)
{
  for (size_t i = 1; i < n; i++)
    if (memcmp(p + (i - 1) * H, p + i * H, H) >= 0)
      return false;
  return true;
}

/* Takes everything and checks it is exactly the n hashes at want (in any
 * order, no repeats); the set is empty afterwards. */
static void check_take_equals(struct usage_set *s, const uint8_t *want,
                              size_t n, int line)
{
  uint8_t *sorted = (uint8_t *)test_dup(want, n * H), *got = sentinel;
  size_t k = usage_take(s, &got);

  qsort(sorted, n, H, cmp_hash);
  CHECKF(k == n, "line %d: took %zu, want %zu", line, k, n);
  if (n == 0)
    CHECKF(got == NULL, "line %d: out not NULL on an empty take", line);
  if (k == n && n > 0) {
    CHECKF(got != NULL, "line %d: out NULL", line);
    if (got != NULL)
      CHECKF(memcmp(got, sorted, n * H) == 0,
             "line %d: not the distinct hashes added, sorted", line);
  }
  CHECKF(usage_pending(s) == 0, "line %d: pending %zu after take", line,
         usage_pending(s));
  if (k > 0)
    free(got);
  free(sorted);
}

#define TAKE_EQUALS(s, want, n) check_take_equals((s), (want), (n), __LINE__)

/* Capacity 0 and absurd capacities are refused with a reason. */
static void check_new(void)
{
  char err[160];
  struct usage_set *s;

  err[0] = '\0';
  CHECK(usage_new(0, err, sizeof err) == NULL);
  CHECKF(strstr(err, "capacity") != NULL, "err \"%s\"", err);
  err[0] = '\0';
  CHECK(usage_new(USAGE_MAX_CAPACITY + 1, err, sizeof err) == NULL);
  CHECKF(strstr(err, "capacity") != NULL, "err \"%s\"", err);
  err[0] = '\0';
  CHECK(usage_new(SIZE_MAX, err, sizeof err) == NULL && err[0] != '\0');
  err[0] = '\0';
  CHECK(usage_new(SIZE_MAX / 2 + 1, err, sizeof err) == NULL && err[0] != '\0');

  s = make(1);
  CHECK(usage_pending(s) == 0 && usage_dropped(s) == 0);
  usage_free(s);
  usage_free(NULL);
}

/* An empty set takes nothing: 0 and NULL; putting back nothing is a no-op. */
static void check_empty(void)
{
  struct usage_set *s = make(8);
  uint8_t *out = sentinel, h[H];

  CHECK(usage_take(s, &out) == 0);
  CHECK(out == NULL);
  hash_n(1, h);
  usage_put_back(s, h, 0);
  usage_put_back(s, NULL, 0);
  CHECK(usage_pending(s) == 0);
  out = sentinel;
  CHECK(usage_take(s, &out) == 0 && out == NULL);
  CHECK(usage_dropped(s) == 0);
  usage_free(s);
}

/* The same hash added again is held once, and adding it returns true. */
static void check_duplicates(void)
{
  struct usage_set *s = make(8);
  uint8_t h[2 * H];

  hash_n(1, h);
  hash_n(2, h + H);
  CHECK(usage_add(s, h));
  CHECK(usage_add(s, h));
  CHECK(usage_pending(s) == 1);
  CHECK(usage_add(s, h + H));
  for (int i = 0; i < 100; i++)
    CHECK(usage_add(s, h + (i % 2) * H));
  CHECK(usage_pending(s) == 2);
  CHECK(usage_dropped(s) == 0);
  TAKE_EQUALS(s, h, 2);
  usage_free(s);
}

/* A full set drops new hashes (false, counted), still accepts the ones it
 * holds, and keeps them; a take makes room again. */
static void check_capacity(void)
{
  struct usage_set *s = make(3);
  uint8_t h[6 * H];

  for (uint32_t i = 0; i < 6; i++)
    hash_n(100 + i, h + i * H);
  for (int i = 0; i < 3; i++)
    CHECK(usage_add(s, h + i * H));
  CHECK(usage_pending(s) == 3);
  CHECK(!usage_add(s, h + 3 * H));
  CHECK(usage_dropped(s) == 1);
  CHECK(usage_add(s, h + 1 * H)); /* held already: not a drop */
  CHECK(usage_dropped(s) == 1);
  CHECK(!usage_add(s, h + 4 * H));
  CHECK(!usage_add(s, h + 3 * H)); /* dropped before, dropped again */
  CHECK(usage_dropped(s) == 3);
  CHECK(usage_pending(s) == 3);
  TAKE_EQUALS(s, h, 3);

  /* Room again after the take; the drop count stays. */
  CHECK(usage_add(s, h + 3 * H));
  CHECK(usage_add(s, h + 4 * H));
  CHECK(usage_add(s, h + 5 * H));
  CHECK(!usage_add(s, h));
  CHECK(usage_dropped(s) == 4);
  TAKE_EQUALS(s, h + 3 * H, 3);
  usage_free(s);

  /* Capacity 1. */
  s = make(1);
  CHECK(usage_add(s, h));
  CHECK(!usage_add(s, h + H));
  CHECK(usage_add(s, h));
  CHECK(usage_dropped(s) == 1);
  TAKE_EQUALS(s, h, 1);
  usage_free(s);
}

/* Many hashes, added in a scrambled order with repeats: a take returns each
 * distinct one once, sorted, and empties the set; a second take is empty;
 * later adds come out in the next take only. */
static void check_take(void)
{
  enum { N = 5000 };
  struct usage_set *s = make(N);
  uint8_t *h = malloc((size_t)N * H), *out = NULL;

  REQUIRE(h != NULL);
  for (uint32_t i = 0; i < N; i++)
    hash_n(i, h + (size_t)i * H);
  for (uint32_t k = 0; k < 3 * N; k++) {
    uint32_t i = (k * 7919u) % N; /* 7919 is prime: every i, 3 times */

    CHECK(usage_add(s, h + (size_t)i * H));
  }
  CHECKF(usage_pending(s) == N, "pending %zu", usage_pending(s));
  CHECK(usage_dropped(s) == 0);
  /* Full to the last hash: one more distinct is dropped. */
  {
    uint8_t extra[H];

    hash_n(N, extra);
    CHECK(!usage_add(s, extra));
    CHECK(usage_dropped(s) == 1);
  }
  TAKE_EQUALS(s, h, N);
  CHECK(usage_take(s, &out) == 0 && out == NULL);

  for (uint32_t i = 10; i < 20; i++)
    CHECK(usage_add(s, h + (size_t)i * H));
  TAKE_EQUALS(s, h + 10 * H, 10);
  free(h);
  usage_free(s);
}

/* Hashes the set cannot tell apart by their first bytes (so every one falls
 * in the same bucket), and the all-zero and all-ones hashes, are still
 * distinct hashes: held, de-duplicated and sorted like any other. */
static void check_lookalikes(void)
{
  enum { N = 64 };
  struct usage_set *s = make(N + 2);
  uint8_t h[(N + 2) * H];

  for (size_t i = 0; i < N; i++) {
    memset(h + i * H, 0xA5, H);
    h[i * H + H - 1] = (uint8_t)(N - i);
    h[i * H + H - 2] = (uint8_t)(i * 37);
  }
  memset(h + N * H, 0x00, H);
  memset(h + (N + 1) * H, 0xFF, H);
  for (size_t i = 0; i < N + 2; i++)
    CHECK(usage_add(s, h + i * H));
  for (size_t i = N + 2; i > 0; i--)
    CHECK(usage_add(s, h + (i - 1) * H));
  CHECK(usage_pending(s) == N + 2);
  TAKE_EQUALS(s, h, N + 2);

  /* The same after a take reused the tables. */
  for (size_t i = 0; i < N + 2; i += 2)
    CHECK(usage_add(s, h + i * H));
  for (size_t i = 0; i < N + 2; i += 2)
    CHECK(usage_add(s, h + i * H));
  CHECK(usage_pending(s) == (N + 2) / 2);
  {
    uint8_t want[(N + 2) / 2 * H];

    for (size_t i = 0; i < N + 2; i += 2)
      memcpy(want + i / 2 * H, h + i * H, H);
    TAKE_EQUALS(s, want, (N + 2) / 2);
  }
  usage_free(s);
}

/* Put back after a failed flush: merged with what was added meanwhile,
 * each hash once; past capacity the rest are dropped and counted. */
static void check_put_back(void)
{
  struct usage_set *s = make(10);
  uint8_t h[12 * H], *batch = NULL, *again = NULL;
  size_t n;

  for (uint32_t i = 0; i < 12; i++)
    hash_n(200 + i, h + i * H);
  /* Take h0..h5; meanwhile h4, h6, h7 are added; put back: h0..h7. */
  for (int i = 0; i < 6; i++)
    CHECK(usage_add(s, h + i * H));
  n = usage_take(s, &batch);
  REQUIRE(n == 6 && batch != NULL);
  CHECK(usage_add(s, h + 4 * H));
  CHECK(usage_add(s, h + 6 * H));
  CHECK(usage_add(s, h + 7 * H));
  usage_put_back(s, batch, n);
  CHECK(usage_pending(s) == 8);
  CHECK(usage_dropped(s) == 0);
  /* Putting the same batch back twice changes nothing. */
  usage_put_back(s, batch, n);
  CHECK(usage_pending(s) == 8);
  CHECK(usage_dropped(s) == 0);
  TAKE_EQUALS(s, h, 8);

  /* The batch fails again: back it goes, the set holds it, a take returns
   * the same sorted batch. */
  usage_put_back(s, batch, n);
  n = usage_take(s, &again);
  CHECK(n == 6 && again != NULL && memcmp(again, batch, 6 * H) == 0);
  free(again);

  /* h0..h5 taken, then h6..h10 (5) added: room for 5 of the 6 put back. */
  for (int i = 6; i < 11; i++)
    CHECK(usage_add(s, h + i * H));
  usage_put_back(s, batch, n);
  CHECK(usage_pending(s) == 10);
  CHECK(usage_dropped(s) == 1);
  CHECK(!usage_add(s, h + 11 * H));
  CHECK(usage_dropped(s) == 2);
  free(batch);
  n = usage_take(s, &batch);
  CHECK(n == 10 && batch != NULL && strictly_sorted(batch, n));
  /* Everything added since the take is there; the put-back ones make up
   * the rest. */
  for (int i = 6; i < 11; i++)
    CHECKF(n == 10 && bsearch(h + i * H, batch, n, H, cmp_hash) != NULL,
           "h%d lost", i);
  for (size_t i = 0; i < n; i++)
    CHECK(memcmp(batch + i * H, h + 11 * H, H) != 0);
  free(batch);
  usage_free(s);
}

/* The threaded test: THREADS adders, thread t adding each number in
 * [t * SPAN / 2, t * SPAN / 2 + SPAN) once, in an order of its own, so
 * every number but the outer halves is added by two threads. */
#define THREADS 4
#define SPAN 2048
#define TOTAL ((THREADS + 1) * SPAN / 2)

struct known {
  uint8_t hash[H];
  uint32_t n;
};

static struct known known[TOTAL]; /* sorted by hash, for bsearch */
static uint8_t hash_of[TOTAL][H]; /* hash n, made before the threads run */

static int cmp_known(const void *a, const void *b)
{
  return memcmp(a, b, H);
}

/* The number whose hash is at h, or -1 when no number has it. */
static long number_of(const uint8_t *h)
{
  const struct known *k = bsearch(h, known, TOTAL, sizeof *known, cmp_known);

  return k == NULL ? -1 : (long)k->n;
}

struct adder {
  struct usage_set *s;
  pthread_barrier_t *start;
  atomic_int *running;
  unsigned id;
  bool held[SPAN]; /* add returned true for number first + i */
  unsigned long refused;
};

static void *adder_run(void *arg)
{
  struct adder *a = arg;
  uint32_t first = a->id * SPAN / 2;

  pthread_barrier_wait(a->start);
  for (uint32_t k = 0; k < SPAN; k++) {
    /* odd strides: every i in [0, SPAN) once */
    uint32_t i = (k * (2 * a->id + 3) + 17 * a->id) % SPAN;

    a->held[i] = usage_add(a->s, hash_of[first + i]);
    if (!a->held[i])
      a->refused++;
  }
  atomic_fetch_sub(a->running, 1);
  return NULL;
}

/* One round: capacity cap; every put_back_every-th batch is put back
 * instead of flushed (0: never). */
static void hammer(size_t cap, unsigned put_back_every)
{
  struct usage_set *s = make(cap);
  static struct adder ad[THREADS];
  static unsigned flushed[TOTAL], adds[TOTAL];
  static bool held[TOTAL];
  pthread_barrier_t start;
  pthread_t th[THREADS];
  atomic_int running;
  unsigned long refused = 0, batches = 0, bad_batches = 0, unknown = 0;
  unsigned long wrong = 0, empty_takes = 0, over = 0;
  bool last = false;

  memset(flushed, 0, sizeof flushed);
  memset(adds, 0, sizeof adds);
  memset(held, 0, sizeof held);
  atomic_init(&running, THREADS);
  REQUIRE(pthread_barrier_init(&start, NULL, THREADS + 1) == 0);
  for (unsigned t = 0; t < THREADS; t++) {
    memset(&ad[t], 0, sizeof ad[t]);
    ad[t].s = s;
    ad[t].start = &start;
    ad[t].running = &running;
    ad[t].id = t;
    REQUIRE(pthread_create(&th[t], NULL, adder_run, &ad[t]) == 0);
  }
  pthread_barrier_wait(&start);
  /* Take until the adders are done, then once more for what is left. */
  while (!last) {
    uint8_t *batch = NULL;
    size_t n;

    last = atomic_load(&running) == 0;
    if (usage_pending(s) > cap)
      over++;
    n = usage_take(s, &batch);
    if (n == 0) {
      empty_takes++;
      bad_batches += batch != NULL;
      sched_yield(); /* let the adders run on a machine of few CPUs */
      continue;
    }
    batches++;
    if (!strictly_sorted(batch, n) || n > cap)
      bad_batches++;
    if (put_back_every > 0 && batches % put_back_every == 0 && !last) {
      usage_put_back(s, batch, n);
      free(batch);
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      long x = number_of(batch + i * H);

      if (x < 0)
        unknown++;
      else
        flushed[x]++;
    }
    free(batch);
  }
  for (unsigned t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  pthread_barrier_destroy(&start);

  for (unsigned t = 0; t < THREADS; t++) {
    refused += ad[t].refused;
    for (uint32_t i = 0; i < SPAN; i++) {
      adds[t * SPAN / 2 + i]++;
      held[t * SPAN / 2 + i] |= ad[t].held[i];
    }
  }
  CHECKF(bad_batches == 0, "%lu of %lu batches unsorted or oversized",
         bad_batches, batches);
  CHECKF(over == 0, "cap %zu: pending over capacity %lu times", cap, over);
  CHECKF(unknown == 0, "%lu hashes taken that nobody added", unknown);
  /* Flushed at least once iff some add of it succeeded, and at most once
   * per add (a put back continues the stay it interrupted). */
  for (uint32_t x = 0; x < TOTAL; x++) {
    if (held[x] ? flushed[x] < 1 || flushed[x] > adds[x] : flushed[x] != 0)
      wrong++;
  }
  CHECKF(wrong == 0, "cap %zu: %lu numbers flushed wrongly", cap, wrong);
  CHECKF(usage_dropped(s) == refused, "cap %zu: dropped %llu, refused %lu", cap,
         (unsigned long long)usage_dropped(s), refused);
  if (cap >= TOTAL)
    CHECKF(refused == 0, "cap %zu: %lu refused", cap, refused);
  CHECK(usage_pending(s) == 0);
  CHECK(batches >= 1);
  if (getenv("TEST_USAGE_VERBOSE") != NULL)
    fprintf(stderr, "cap %zu: %lu batches, %lu empty takes, %lu refused\n", cap,
            batches, empty_takes, refused);
  usage_free(s);
}

static void check_threads(void)
{
  struct timespec t0, t;
  unsigned rounds = 0;

  for (uint32_t x = 0; x < TOTAL; x++) {
    hash_n(x, hash_of[x]);
    memcpy(known[x].hash, hash_of[x], H);
    known[x].n = x;
  }
  qsort(known, TOTAL, sizeof *known, cmp_known);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    hammer(TOTAL, 0);
    hammer(TOTAL, 3);
    hammer(256, 0); /* most adds find the set full */
    rounds++;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
               500000000L &&
           rounds < 50);
}

/* usage_chunk_next, the flusher's chunk sizing, by hand: target 15000 ms
 * (a --usage-timeout of 60 s), calls of 4096 at most. */
static void check_chunk(void)
{
  const size_t max = 4096;

  /* 10 ms a row: 256 took 2560 ms, under a quarter of 15000: double. */
  CHECK(usage_chunk_next(256, 256, 2560, 15000, max) == 512);
  /* 512 took 5120 ms: neither slow nor quick, kept. */
  CHECK(usage_chunk_next(512, 512, 5120, 15000, max) == 512);
  /* A chunk of 4096 that took 40960 ms: cut to what fits in 15000. */
  CHECK(usage_chunk_next(4096, 4096, 40960, 15000, max) == 1500);
  /* A short last call (fewer than the chunk) says nothing about growing. */
  CHECK(usage_chunk_next(512, 100, 10, 15000, max) == 512);
  /* ... but a slow one still shrinks: 100 in 30000 ms. */
  CHECK(usage_chunk_next(512, 100, 30000, 15000, max) == 50);
  /* Never below USAGE_CHUNK_MIN, never above max, whatever the numbers. */
  CHECK(usage_chunk_next(4096, 4096, UINT64_MAX / 2, 15000, max) ==
        USAGE_CHUNK_MIN);
  CHECK(usage_chunk_next(USAGE_CHUNK_MIN, 1, 1000000, 1, max) ==
        USAGE_CHUNK_MIN);
  CHECK(usage_chunk_next(4096, 4096, 0, 15000, max) == max);
  CHECK(usage_chunk_next(3000, 3000, 1, 15000, max) == max);
  CHECK(usage_chunk_next(0, 0, 0, 15000, max) == USAGE_CHUNK_MIN);
  CHECK(usage_chunk_next(9000, 9000, 20000, 15000, max) == max);
  /* A target of 0 (no time at all): every call is slow. */
  CHECK(usage_chunk_next(256, 256, 1, 0, max) == USAGE_CHUNK_MIN);
}

int main(void)
{
  check_new();
  check_empty();
  check_duplicates();
  check_capacity();
  check_take();
  check_lookalikes();
  check_put_back();
  check_threads();
  check_chunk();
  return test_finish("usage");
}
