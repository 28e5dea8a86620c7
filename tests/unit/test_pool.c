/* test_pool.c: the verification queue, the batcher and the expiry thread
 * (server/pool.c, with endpoints.c) against a stub database: this file
 * defines the db.h calls pool.c makes, so the linker takes them from here
 * instead of db.c, and no MariaDB or libmicrohttpd runs. The stub can be
 * "held": a verify call then waits until the test releases it, which is how
 * items are made to wait in the queue. Every wait here is for a state (an
 * item answered, a call begun), never for a time; a hang is CTest's
 * timeout. Covered: one item answered, the database's state and row
 * carried to it unchanged; a batch formed while the connection is busy,
 * equal tokens sent once whatever ability each item asks, each ability
 * decided on the token's abilities; shedding when queue_max wait; deadlines
 * answered VERDICT_TIMEOUT by the expiry thread while the database hangs; a
 * failed call; an item waiting for a call that fails handed to another
 * connection while the failed one rests; stop with items parked
 * (VERDICT_STOPPING for the queued, the running batch still answered,
 * POOL_CLOSED after). */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "db.h"
#include "endpoints.h"
#include "pool.h"
#include "test.h"

/* The stub database. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t changed; /* any field below changed */
  bool held;              /* verify calls wait while true */
  bool fail;              /* verify calls answer DB_ERROR */
  unsigned fail_next;     /* so many next verify calls answer DB_ERROR */
  unsigned calls;         /* verify calls begun */
  size_t last_n;          /* checks in the last verify call */
  unsigned answered;      /* items answered (done calls) */
} db = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

struct db_conn {
  const char *group;
  bool resting; /* after a failed call: waits to reconnect, takes nothing */
};

struct db_conn *db_conn_open(const char *group, char *err, size_t err_size)
{
  struct db_conn *c = calloc(1, sizeof *c);

  if (c == NULL)
    snprintf(err, err_size, "out of memory");
  else
    c->group = group;
  return c;
}

void db_conn_close(struct db_conn *c)
{
  free(c);
}

enum db_result db_ping(struct db_conn *c, char *err, size_t err_size)
{
  (void)c;
  (void)err;
  (void)err_size;
  return DB_OK;
}

enum db_result db_probe(struct db_conn *c, char *err, size_t err_size)
{
  return db_ping(c, err, err_size);
}

/* By the hash's first byte: 'u' unknown, 'r' revoked, 's' valid with the
 * abilities ["metrics:*"], anything else valid with ["*"]; the tenant id
 * is made of that byte, the token id is it too; the token's limit is that
 * many requests per 60 s, its tenant's that many per 3600 s. */
enum db_result db_verify_hashes(struct db_conn *c, const unsigned char *hashes,
                                size_t n, struct db_token *out, char *err,
                                size_t err_size)
{
  bool fail;

  pthread_mutex_lock(&db.lock);
  db.calls++;
  db.last_n = n;
  pthread_cond_broadcast(&db.changed);
  while (db.held)
    pthread_cond_wait(&db.changed, &db.lock);
  fail = db.fail || db.fail_next > 0;
  if (db.fail_next > 0)
    db.fail_next--;
  pthread_mutex_unlock(&db.lock);
  if (fail) {
    c->resting = true;
    snprintf(err, err_size, "stub: failing");
    return DB_ERROR;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char b = hashes[i * TOKEN_HASH_LEN];
    const char *set = b == 's' ? "[\"metrics:*\"]" : "[\"*\"]";

    memset(&out[i], 0, sizeof out[i]);
    out[i].verdict.state = b == 'u'   ? VERDICT_UNKNOWN
                           : b == 'r' ? VERDICT_REVOKED
                                      : VERDICT_VALID;
    if (b == 'u')
      continue;
    memset(out[i].verdict.tenant_id, b, TOKEN_UUID_LEN);
    out[i].verdict.token_id = b;
    out[i].verdict.issued_at = 1700000000;
    out[i].verdict.expires_at = VERDICT_NEVER;
    out[i].verdict.token_limit = (struct verdict_limit){b, 60};
    out[i].verdict.tenant_limit = (struct verdict_limit){b, 3600};
    out[i].verdict.granted = true; /* not the database's to say */
    out[i].abilities_len = strlen(set);
    memcpy(out[i].abilities, set, out[i].abilities_len);
  }
  return DB_OK;
}

enum db_result db_revoke_leaked(struct db_conn *c, const char *token, char *err,
                                size_t err_size)
{
  (void)c;
  (void)token;
  (void)err;
  (void)err_size;
  return DB_OK;
}

/* A connection whose call failed rests for a minute: longer than any test
 * waits (pool_stop wakes it). */
uint64_t db_backoff_left_us(const struct db_conn *c)
{
  return c->resting ? 60000000 : 0;
}

bool db_take_warning(char *out, size_t out_size)
{
  (void)out;
  (void)out_size;
  return false;
}

uint64_t db_retries(void)
{
  return 0;
}

/* The test's side. */
struct test_item {
  struct pool_item item;
  bool done; /* under db.lock */
};

static void test_done(struct pool_item *item)
{
  struct test_item *t = (struct test_item *)item;

  pthread_mutex_lock(&db.lock);
  t->done = true;
  db.answered++;
  pthread_cond_broadcast(&db.changed);
  pthread_mutex_unlock(&db.lock);
}

static void test_item_init(struct test_item *t, char c)
{
  memset(t, 0, sizeof *t);
  t->item.kind = POOL_VERIFY;
  memset(t->item.hash, c, TOKEN_HASH_LEN);
  t->item.done = test_done;
}

static void wait_done(struct test_item *t)
{
  pthread_mutex_lock(&db.lock);
  while (!t->done)
    pthread_cond_wait(&db.changed, &db.lock);
  pthread_mutex_unlock(&db.lock);
}

/* Submits t ('c' tokens) and waits until the held connection runs it. An
 * item the expiry thread answered before the connection took it (a slow
 * machine) is submitted again. */
static void run_held(struct test_item *t, char c)
{
  for (;;) {
    test_item_init(t, c);
    REQUIRE(pool_submit(&t->item) == POOL_QUEUED);
    pthread_mutex_lock(&db.lock);
    while (db.calls == 0 && !t->done)
      pthread_cond_wait(&db.changed, &db.lock);
    pthread_mutex_unlock(&db.lock);
    if (!t->done)
      return;
  }
}

static void hold(bool held)
{
  pthread_mutex_lock(&db.lock);
  db.held = held;
  pthread_cond_broadcast(&db.changed);
  pthread_mutex_unlock(&db.lock);
}

static void reset(void)
{
  pthread_mutex_lock(&db.lock);
  db.held = db.fail = false;
  db.fail_next = 0;
  db.calls = db.answered = 0;
  db.last_n = 0;
  pthread_mutex_unlock(&db.lock);
}

static const char *const test_groups[] = {"stub"};

/* One connection, so that a held call keeps every other item queued (two
 * with start2). */
static void start_n(unsigned connections, unsigned queue_max,
                    unsigned timeout_ms)
{
  const struct pool_settings s = {
      .connections = connections,
      .batch_max = 8,
      .queue_max = queue_max,
      .queue_timeout_ms = timeout_ms,
      .groups = test_groups,
      .endpoints = 1,
      .retry_max_ms = 1000,
  };
  char err[256];

  reset();
  REQUIRE(pool_start(&s, err, sizeof err) == 0);
}

static void start(unsigned queue_max, unsigned timeout_ms)
{
  start_n(1, queue_max, timeout_ms);
}

static void test_one(void)
{
  struct test_item a, r, u;

  start(4, 60000);
  test_item_init(&a, 'a');
  CHECK(pool_submit(&a.item) == POOL_QUEUED);
  wait_done(&a);
  CHECK(a.item.verdict.state == VERDICT_VALID && a.item.verdict.granted);
  CHECK(a.item.verdict.tenant_id[0] == 'a' &&
        strlen(a.item.verdict.tenant_id) == 36);
  CHECK(a.item.verdict.token_id == 'a');
  CHECK(a.item.verdict.issued_at == 1700000000);
  CHECK(a.item.verdict.expires_at == VERDICT_NEVER);
  CHECK(a.item.verdict.token_limit.requests == 'a' &&
        a.item.verdict.token_limit.seconds == 60);
  CHECK(a.item.verdict.tenant_limit.requests == 'a' &&
        a.item.verdict.tenant_limit.seconds == 3600);
  test_item_init(&r, 'r');
  CHECK(pool_submit(&r.item) == POOL_QUEUED);
  wait_done(&r);
  CHECK(r.item.verdict.state == VERDICT_REVOKED && !r.item.verdict.granted);
  test_item_init(&u, 'u');
  CHECK(pool_submit(&u.item) == POOL_QUEUED);
  wait_done(&u);
  CHECK(u.item.verdict.state == VERDICT_UNKNOWN && !u.item.verdict.granted);
  CHECK(u.item.verdict.tenant_id[0] == '\0');
  CHECK(endpoints_up() == 1);
  pool_stop();
}

/* While the one connection is held, items queue; released, it takes them
 * all in one call, with equal tokens asked once, each item's ability
 * decided on its token's abilities. Past queue_max a submit is shed. */
static void test_batch_and_shed(void)
{
  struct test_item first, q[4], extra;
  struct pool_stats st0, st;

  start(4, 60000);
  hold(true);
  pool_get_stats(&st0);
  run_held(&first, 'f'); /* the queue is empty again */
  test_item_init(&q[0], 's');
  strcpy(q[0].item.ability, "metrics:write");
  test_item_init(&q[1], 'c');
  test_item_init(&q[2], 's'); /* the same token as q[0], another ability */
  strcpy(q[2].item.ability, "metricsx:write");
  test_item_init(&q[3], 'd');
  strcpy(q[3].item.ability, "reports:pdf");
  for (int i = 0; i < 4; i++)
    CHECK(pool_submit(&q[i].item) == POOL_QUEUED);
  test_item_init(&extra, 'e');
  CHECK(pool_submit(&extra.item) == POOL_FULL);
  pool_get_stats(&st);
  CHECK(st.queued == 4);
  CHECK(st.shed == st0.shed + 1);
  CHECK(st.busy == 1);
  hold(false);
  for (int i = 0; i < 4; i++) {
    wait_done(&q[i]);
    CHECK(q[i].item.verdict.state == VERDICT_VALID);
  }
  CHECK(q[0].item.verdict.granted);  /* metrics:* grants metrics:write */
  CHECK(!q[2].item.verdict.granted); /* ... not metricsx:write */
  CHECK(q[1].item.verdict.granted && q[3].item.verdict.granted); /* "*" */
  wait_done(&first);
  CHECK(first.item.verdict.state == VERDICT_VALID);
  CHECK(q[2].item.verdict.tenant_id[0] == 's');
  pthread_mutex_lock(&db.lock);
  CHECKF(db.calls == 2, "calls %u, expected 2", db.calls);
  CHECKF(db.last_n == 3, "last batch asked %zu tokens, expected 3", db.last_n);
  pthread_mutex_unlock(&db.lock);
  pool_get_stats(&st);
  CHECK(st.batches_ok == st0.batches_ok + 2);
  CHECK(st.batches_failed == st0.batches_failed);
  pool_stop();
}

/* A database that hangs: the queued item is answered VERDICT_TIMEOUT by the
 * expiry thread all the same, the held one when its call returns. */
static void test_deadline(void)
{
  struct test_item held, waiting;
  struct pool_stats st0, st;

  start(4, 200);
  hold(true);
  pool_get_stats(&st0);
  run_held(&held, 'h');
  test_item_init(&waiting, 'w');
  CHECK(pool_submit(&waiting.item) == POOL_QUEUED);
  wait_done(&waiting); /* while the database still hangs */
  CHECK(waiting.item.verdict.state == VERDICT_TIMEOUT);
  pool_get_stats(&st);
  CHECK(st.timed_out >= st0.timed_out + 1);
  CHECK(st.queued == 0);
  hold(false);
  wait_done(&held);
  CHECK(held.item.verdict.state == VERDICT_VALID);
  pool_stop();
}

/* A failed call answers VERDICT_DB_ERROR and marks the endpoint down. */
static void test_failure(void)
{
  struct test_item a;
  struct pool_stats st0, st;

  start(4, 60000);
  pool_get_stats(&st0);
  pthread_mutex_lock(&db.lock);
  db.fail = true;
  pthread_mutex_unlock(&db.lock);
  test_item_init(&a, 'a');
  CHECK(pool_submit(&a.item) == POOL_QUEUED);
  wait_done(&a);
  CHECK(a.item.verdict.state == VERDICT_DB_ERROR);
  CHECK(endpoints_up() == 0);
  pool_get_stats(&st);
  CHECK(st.batches_failed == st0.batches_failed + 1);
  pool_stop();
}

/* An item that waited for a running call (too few to be worth a call of
 * their own) goes to another connection when that call fails and its
 * connection rests: it is not left queued until its deadline. */
static void test_rest_hands_over(void)
{
  struct test_item failing, waiting;

  start_n(2, 4, 600000);
  hold(true);
  pthread_mutex_lock(&db.lock);
  db.fail_next = 1;
  pthread_mutex_unlock(&db.lock);
  run_held(&failing, 'f');
  test_item_init(&waiting, 'w');
  CHECK(pool_submit(&waiting.item) == POOL_QUEUED);
  hold(false);
  wait_done(&failing);
  CHECK(failing.item.verdict.state == VERDICT_DB_ERROR);
  wait_done(&waiting); /* without the hand-over: CTest's timeout */
  CHECK(waiting.item.verdict.state == VERDICT_VALID);
  pthread_mutex_lock(&db.lock);
  CHECKF(db.calls == 2, "calls %u, expected 2", db.calls);
  pthread_mutex_unlock(&db.lock);
  pool_stop();
}

static void *stopper(void *arg)
{
  (void)arg;
  pool_stop();
  return NULL;
}

/* Stop with items parked: the queued ones are answered VERDICT_STOPPING at
 * once, before the running statement ends; that one is still answered by
 * its result; a submit during the stop is refused. */
static void test_stop_parked(void)
{
  struct test_item running, q[3], late;
  pthread_t th;

  start(4, 60000);
  hold(true);
  run_held(&running, 'x');
  for (int i = 0; i < 3; i++) {
    test_item_init(&q[i], (char)('k' + i));
    CHECK(pool_submit(&q[i].item) == POOL_QUEUED);
  }
  REQUIRE(pthread_create(&th, NULL, stopper, NULL) == 0);
  for (int i = 0; i < 3; i++) {
    wait_done(&q[i]);
    CHECK(q[i].item.verdict.state == VERDICT_STOPPING);
  }
  test_item_init(&late, 'l');
  CHECK(pool_submit(&late.item) == POOL_CLOSED);
  pthread_mutex_lock(&db.lock);
  CHECK(!running.done);
  pthread_mutex_unlock(&db.lock);
  hold(false);
  pthread_join(th, NULL);
  CHECK(running.done);
  CHECK(running.item.verdict.state == VERDICT_VALID);
  pthread_mutex_lock(&db.lock);
  CHECKF(db.answered == 4, "answered %u, expected 4", db.answered);
  pthread_mutex_unlock(&db.lock);
}

int main(void)
{
  test_one();
  test_batch_and_shed();
  test_deadline();
  test_failure();
  test_rest_hands_over();
  test_stop_parked();
  return test_finish("pool");
}
