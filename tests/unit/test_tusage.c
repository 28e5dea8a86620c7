/* test_tusage.c: tenant usage per minute (server/tusage.c), checked against
 * tusage.h alone. "Tenant n" is a UUID text made of n's digits; the oracle
 * of a take is a plain array of counts per (tenant, minute) kept here. The
 * threaded part runs 4 adders over the same tenants and minutes while the
 * main thread keeps taking and puts every other take back, as a failed
 * flush does; in the end every count added is in exactly one take: none
 * lost, none invented, none written twice. The "fake database" plays
 * add_tenant_usage for tusage_flush: it honours batch numbers (a batch at
 * or below the last one applied adds nothing), can be down (writes
 * nothing) or lose its answer (writes, then fails, as a timeout after a
 * commit does). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "tusage.h"

#define UUID TOKEN_UUID_LEN

/* Tenant n's id into out (UUID + 1 bytes): "00000000-0000-0000-0000-0000000n"
 * with n in hex in the last group. */
static void tenant_n(unsigned n, char out[UUID + 1])
{
  snprintf(out, UUID + 1, "00000000-0000-4000-8000-%012x", n);
}

static struct tusage *make(size_t capacity)
{
  char err[160] = "";
  struct tusage *t = tusage_new(capacity, err, sizeof err);

  if (t == NULL)
    fprintf(stderr, "tusage_new: %s\n", err);
  REQUIRE(t != NULL);
  return t;
}

static void check_new(void)
{
  char err[160];

  err[0] = '\0';
  CHECK(tusage_new(0, err, sizeof err) == NULL && err[0] != '\0');
  err[0] = '\0';
  CHECK(tusage_new(TUSAGE_MAX_CAPACITY + 1, err, sizeof err) == NULL &&
        err[0] != '\0');
  tusage_free(NULL);
}

/* The tenant is data: only UUID text is counted, read as pointer plus
 * length. */
static void check_tenant_valid(void)
{
  static const char *const good[] = {"0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1",
                                     "0B6E7C51-4A0E-4A39-9A4E-0CC1E3B3B0F1",
                                     "00000000-0000-0000-0000-000000000000"};
  static const char *const bad[] = {
      "",
      "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f",   /* 35 */
      "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1a", /* 37 */
      "0b6e7c51x4a0e-4a39-9a4e-0cc1e3b3b0f1",
      "0b6e7c514-a0e-4a39-9a4e-0cc1e3b3b0f1",
      "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0fg",
      "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0\"1",
      "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0\\1",
      "{\"tenant\":1}-4a39-9a4e-0cc1e3b3b0f1"};
  struct tusage *t = make(8);

  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CHECKF(token_uuid_text(good[i], strlen(good[i])), "refused %s", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECKF(!token_uuid_text(bad[i], strlen(bad[i])), "took %s", bad[i]);
    CHECKF(!tusage_add(t, bad[i], strlen(bad[i]), 60, 1, 0), "added %s",
           bad[i]);
  }
  CHECK(!token_uuid_text(NULL, UUID));
  CHECK(!tusage_add(t, NULL, UUID, 60, 1, 0));
  CHECK(!token_uuid_text("0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3\0\0f1", UUID));
  CHECK(!tusage_add(t, good[0], UUID, -1, 1, 0)); /* before 1970 */
  CHECK(tusage_pending(t) == 0 && tusage_dropped(t) == 0);
  tusage_free(t);
}

/* Adds fold into the row of their tenant and minute; a take gives every
 * row once, sorted by tenant then minute, and empties the table. */
static void check_add_take(void)
{
  struct tusage *t = make(16);
  struct tusage_row *rows = (struct tusage_row *)&rows;
  char a[UUID + 1], b[UUID + 1];
  size_t n;

  tenant_n(2, a);
  tenant_n(1, b);
  CHECK(tusage_take(t, &rows) == 0 && rows == NULL);
  CHECK(tusage_add(t, a, UUID, 120, 1, 0));
  CHECK(tusage_add(t, a, UUID, 179, 1, 0)); /* the same minute */
  CHECK(tusage_add(t, a, UUID, 180, 0, 1)); /* the next */
  CHECK(tusage_add(t, b, UUID, 1764939659, 5, 2));
  CHECK(tusage_add(t, a, UUID, 121, 0, 3));
  CHECK(tusage_pending(t) == 3);
  n = tusage_take(t, &rows);
  REQUIRE(n == 3 && rows != NULL);
  CHECK(strcmp(rows[0].tenant, b) == 0 && rows[0].minute == 1764939600 &&
        rows[0].requests == 5 && rows[0].limited == 2);
  CHECK(strcmp(rows[1].tenant, a) == 0 && rows[1].minute == 120 &&
        rows[1].requests == 2 && rows[1].limited == 3);
  CHECK(strcmp(rows[2].tenant, a) == 0 && rows[2].minute == 180 &&
        rows[2].requests == 0 && rows[2].limited == 1);
  CHECK(tusage_pending(t) == 0);
  free(rows);
  CHECK(tusage_take(t, &rows) == 0 && rows == NULL);
  /* After a take the table takes rows again, the same ones too. */
  CHECK(tusage_add(t, a, UUID, 120, 1, 0));
  n = tusage_take(t, &rows);
  CHECK(n == 1 && rows != NULL && rows[0].requests == 1);
  free(rows);
  tusage_free(t);
}

/* Full: a new row is dropped and its counts counted; an existing row
 * still adds. Put back adds to the rows that came since and drops what no
 * longer fits. */
static void check_capacity_put_back(void)
{
  struct tusage *t = make(2);
  struct tusage_row *rows, *again;
  char a[UUID + 1], b[UUID + 1], c[UUID + 1];
  size_t n;

  tenant_n(1, a);
  tenant_n(2, b);
  tenant_n(3, c);
  CHECK(tusage_add(t, a, UUID, 60, 1, 0));
  CHECK(tusage_add(t, b, UUID, 60, 1, 0));
  CHECK(!tusage_add(t, c, UUID, 60, 4, 3));
  CHECK(!tusage_add(t, a, UUID, 120, 1, 0)); /* a new minute is a new row */
  CHECK(tusage_dropped(t) == 8);
  CHECK(tusage_add(t, a, UUID, 60, 1, 1));
  n = tusage_take(t, &rows);
  REQUIRE(n == 2);
  CHECK(rows[0].requests == 2 && rows[0].limited == 1);
  /* A failed write: the rows go back, added to what came since. */
  CHECK(tusage_add(t, a, UUID, 60, 10, 0));
  tusage_put_back(t, rows, n);
  CHECK(tusage_pending(t) == 2);
  n = tusage_take(t, &again);
  REQUIRE(n == 2);
  CHECK(strcmp(again[0].tenant, a) == 0 && again[0].requests == 12 &&
        again[0].limited == 1);
  CHECK(strcmp(again[1].tenant, b) == 0 && again[1].requests == 1);
  free(again);
  /* Put back into a table that filled meanwhile: dropped and counted. */
  CHECK(tusage_add(t, c, UUID, 60, 1, 0));
  CHECK(tusage_add(t, c, UUID, 120, 1, 0));
  tusage_put_back(t, rows, n); /* a: 3 answers, b: 1 */
  CHECK(tusage_dropped(t) == 8 + 4);
  tusage_put_back(t, NULL, 5);
  free(rows);
  tusage_free(t);
  /* A count stops at what add_tenant_usage takes; the rest is dropped. */
  t = make(2);
  CHECK(tusage_add(t, a, UUID, 60, TUSAGE_COUNT_MAX - 1, 5));
  CHECK(tusage_add(t, a, UUID, 60, 3, 0));
  CHECK(tusage_add(t, b, UUID, 60, UINT64_MAX, 0));
  CHECK(tusage_dropped(t) == 2 + (UINT64_MAX - TUSAGE_COUNT_MAX));
  n = tusage_take(t, &rows);
  REQUIRE(n == 2);
  CHECK(rows[0].requests == TUSAGE_COUNT_MAX && rows[0].limited == 5 &&
        rows[1].requests == TUSAGE_COUNT_MAX);
  free(rows);
  tusage_free(t);
}

/* The JSON add_tenant_usage takes, by hand from iface and sql-reference:
 * rows in their order, numbers as numbers; a row tusage_add would not make
 * refuses the whole call; every size below the length is -1, never a cut
 * array. */
static void check_json(void)
{
  struct tusage_row rows[2] = {0};
  char out[2 * TUSAGE_JSON_ROW_MAX + 3];
  static const char want[] =
      "[{\"tenant\":\"00000000-0000-4000-8000-000000000001\",\"minute\":60,"
      "\"requests\":1,\"limited\":0},{\"tenant\":\"00000000-0000-4000-8000-"
      "000000000002\",\"minute\":9223372036854775800,\"requests\":"
      "4294967295,\"limited\":4294967295}]";
  long n;

  CHECK(tusage_json(out, sizeof out, rows, 0) == 2 && strcmp(out, "[]") == 0);
  tenant_n(1, rows[0].tenant);
  rows[0].minute = 60;
  rows[0].requests = 1;
  tenant_n(2, rows[1].tenant);
  rows[1].minute = INT64_MAX - INT64_MAX % 60;
  rows[1].requests = rows[1].limited = TUSAGE_COUNT_MAX;
  n = tusage_json(out, sizeof out, rows, 2);
  CHECKF(n == (long)strlen(want) && strcmp(out, want) == 0, "got %s", out);
  /* Each row fits its bound, at its largest. */
  CHECK(n + 1 <= 2 * TUSAGE_JSON_ROW_MAX + 3);
  for (size_t size = 0; size <= (size_t)n; size++)
    CHECKF(tusage_json(out, size, rows, 2) == -1, "size %zu", size);
  rows[1].limited = (uint64_t)TUSAGE_COUNT_MAX + 1;
  CHECK(tusage_json(out, sizeof out, rows, 2) == -1);
  rows[1].limited = 0;
  rows[1].minute = 61;
  CHECK(tusage_json(out, sizeof out, rows, 2) == -1);
  rows[1].minute = -60;
  CHECK(tusage_json(out, sizeof out, rows, 2) == -1);
  rows[1].minute = 60;
  rows[1].tenant[3] = '"';
  CHECK(tusage_json(out, sizeof out, rows, 2) == -1);
  memset(rows[1].tenant, 'a', sizeof rows[1].tenant); /* no NUL */
  CHECK(tusage_json(out, sizeof out, rows, 2) == -1);
}

/* Threads: adders and a taker at once. */
#define THREADS 4
#define TENANTS 50
#define MINUTES 4
#define ADDS 20000

static atomic_uint adders_done;

struct adder {
  struct tusage *t;
  unsigned seed;
  pthread_barrier_t *start;
  uint64_t added[TENANTS][MINUTES]; /* requests + limited this thread added */
  uint64_t dropped;
};

static void *adder_run(void *arg)
{
  struct adder *a = arg;
  char ids[TENANTS][UUID + 1];
  unsigned x = a->seed;

  for (unsigned i = 0; i < TENANTS; i++)
    tenant_n(i, ids[i]);
  pthread_barrier_wait(a->start);
  for (unsigned i = 0; i < ADDS; i++) {
    unsigned tn, m;
    uint64_t req, lim;

    x = x * 1103515245u + 12345u;
    tn = (x >> 8) % TENANTS;
    m = (x >> 20) % MINUTES;
    req = (x >> 3) & 1;
    lim = 1 - req;
    if (tusage_add(a->t, ids[tn], UUID, (int64_t)(m * 60 + (x % 60)), req, lim))
      a->added[tn][m] += req + lim;
    else
      a->dropped += req + lim;
  }
  atomic_fetch_add(&adders_done, 1);
  return NULL;
}

/* Adds a take's counts into got. */
static void tally(uint64_t got[TENANTS][MINUTES], const struct tusage_row *r,
                  size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned tn = (unsigned)strtoul(r[i].tenant + 24, NULL, 16);
    int64_t m = r[i].minute / 60;

    REQUIRE(tn < TENANTS && m >= 0 && m < MINUTES && r[i].minute % 60 == 0);
    got[tn][m] += r[i].requests + r[i].limited;
  }
}

static void hammer(size_t capacity)
{
  struct tusage *t = make(capacity);
  struct adder ad[THREADS];
  pthread_barrier_t start;
  pthread_t th[THREADS];
  static uint64_t got[TENANTS][MINUTES];
  uint64_t want_dropped = 0;
  unsigned takes = 0;
  bool running = true;

  atomic_store(&adders_done, 0);

  memset(got, 0, sizeof got);
  memset(ad, 0, sizeof ad);
  REQUIRE(pthread_barrier_init(&start, NULL, THREADS + 1) == 0);
  for (unsigned i = 0; i < THREADS; i++) {
    ad[i].t = t;
    ad[i].seed = 7 + i;
    ad[i].start = &start;
    REQUIRE(pthread_create(&th[i], NULL, adder_run, &ad[i]) == 0);
  }
  pthread_barrier_wait(&start);
  while (running) {
    struct tusage_row *rows;
    size_t n = tusage_take(t, &rows);

    /* Every other take fails to be written: back it goes. */
    if (n > 0 && takes++ % 2 == 0)
      tusage_put_back(t, rows, n);
    else
      tally(got, rows, n);
    free(rows);
    running = atomic_load(&adders_done) < THREADS;
  }
  for (unsigned i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  for (;;) {
    struct tusage_row *rows;
    size_t n = tusage_take(t, &rows);

    if (n == 0)
      break;
    tally(got, rows, n);
    free(rows);
  }
  for (unsigned tn = 0; tn < TENANTS; tn++) {
    for (unsigned m = 0; m < MINUTES; m++) {
      uint64_t want = 0;

      for (unsigned i = 0; i < THREADS; i++)
        want += ad[i].added[tn][m];
      CHECKF(got[tn][m] <= want,
             "tenant %u minute %u: %" PRIu64 " taken, %" PRIu64 " added", tn, m,
             got[tn][m], want);
      if (capacity >= TENANTS * MINUTES)
        CHECKF(got[tn][m] == want,
               "tenant %u minute %u: %" PRIu64 " taken, %" PRIu64 " added", tn,
               m, got[tn][m], want);
    }
  }
  for (unsigned i = 0; i < THREADS; i++)
    want_dropped += ad[i].dropped;
  /* With room for every row nothing is dropped; else what was dropped
   * (at an add or a put back) is exactly what was not taken. */
  if (capacity >= TENANTS * MINUTES)
    CHECK(tusage_dropped(t) == 0 && want_dropped == 0);
  else {
    uint64_t taken = 0;

    for (unsigned tn = 0; tn < TENANTS; tn++)
      for (unsigned m = 0; m < MINUTES; m++)
        taken += got[tn][m];
    CHECKF(taken + tusage_dropped(t) == (uint64_t)THREADS * ADDS,
           "%" PRIu64 " taken + %" PRIu64 " dropped != %d", taken,
           tusage_dropped(t), THREADS * ADDS);
  }
  pthread_barrier_destroy(&start);
  tusage_free(t);
}

/* The fake database of add_tenant_usage. */
struct fake_usage {
  uint64_t seq;               /* the last batch applied */
  uint64_t requests, limited; /* summed over the rows applied */
  uint64_t calls, skipped;    /* calls; batches applied already */
  uint64_t last_batch;        /* the number of the last call */
  bool down, answer_lost;
};

/* add_tenant_usage, played (tusage_write_fn). */
static bool fake_write(void *ctx, const struct tusage_row *rows, size_t n,
                       uint64_t seq, char *err, size_t err_size)
{
  struct fake_usage *f = ctx;

  if (f->down) {
    snprintf(err, err_size, "fake: down");
    return false;
  }
  REQUIRE(seq > 0 && n > 0);
  f->calls++;
  f->last_batch = seq;
  if (seq > f->seq) {
    f->seq = seq;
    for (size_t i = 0; i < n; i++) {
      f->requests += rows[i].requests;
      f->limited += rows[i].limited;
    }
  } else {
    f->skipped++;
  }
  if (f->answer_lost) {
    snprintf(err, err_size, "fake: answer lost");
    return false;
  }
  return true;
}

/* A write that committed but lost its answer is kept as is and sent again
 * first, under its number: counted once; new counts wait meanwhile. */
static void check_flush_exactly_once(void)
{
  struct tusage *t = make(64);
  struct batches b = {0};
  struct fake_usage f = {0};
  size_t chunk = 2, written = 9;
  char err[80] = "", id[UUID + 1];

  for (unsigned i = 0; i < 3; i++) {
    tenant_n(i, id);
    CHECK(tusage_add(t, id, UUID, 60, 1, 0));
  }
  /* Nothing pending: no call. */
  {
    struct tusage *empty = make(4);

    CHECK(tusage_flush(empty, &b, &chunk, fake_write, &f, &written, err,
                       sizeof err));
    CHECK(written == 0 && f.calls == 0 && b.kept_n == 0);
    tusage_free(empty);
  }
  f.answer_lost = true;
  CHECK(
      !tusage_flush(t, &b, &chunk, fake_write, &f, &written, err, sizeof err));
  CHECK(strstr(err, "answer lost") != NULL && written == 0);
  CHECK(b.kept_n == 2 && b.kept_seq == 1 && f.requests == 2);
  CHECK(tusage_pending(t) == 1); /* the row after the batch waits */
  tenant_n(0, id);
  CHECK(tusage_add(t, id, UUID, 60, 5, 0));
  /* Lost again: the kept batch only, nothing newer taken. */
  CHECK(
      !tusage_flush(t, &b, &chunk, fake_write, &f, &written, err, sizeof err));
  CHECK(f.last_batch == 1 && f.skipped == 1 && f.requests == 2);
  CHECK(b.kept_n == 2 && b.kept_seq == 1 && tusage_pending(t) == 2);
  f.answer_lost = false;
  CHECK(tusage_flush(t, &b, &chunk, fake_write, &f, &written, err, sizeof err));
  CHECKF(f.requests == 8 && f.skipped == 2 && f.last_batch == 2,
         "requests %" PRIu64 " skipped %" PRIu64, f.requests, f.skipped);
  CHECK(written == 4 && b.kept_n == 0 && tusage_pending(t) == 0);
  /* The database down: nothing written, the batch kept and sent later. */
  CHECK(tusage_add(t, id, UUID, 120, 3, 1));
  f.down = true;
  CHECK(
      !tusage_flush(t, &b, &chunk, fake_write, &f, &written, err, sizeof err));
  CHECK(strstr(err, "down") != NULL && b.kept_n == 1 && b.kept_seq == 3);
  f.down = false;
  CHECK(tusage_flush(t, &b, &chunk, fake_write, &f, &written, err, sizeof err));
  CHECK(f.requests == 11 && f.limited == 1 && f.skipped == 2);
  CHECK(f.last_batch == 3 && written == 1 && b.kept_n == 0);
  batches_free(&b);
  tusage_free(t);
}

int main(void)
{
  check_new();
  check_tenant_valid();
  check_add_take();
  check_capacity_put_back();
  check_json();
  check_flush_exactly_once();
  hammer(TENANTS * MINUTES);
  hammer(TENANTS * MINUTES / 3);
  return test_finish("tusage");
}
