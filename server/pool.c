/* pool.c: the verification queue, the pool threads and the expiry thread;
 * see pool.h. Terms: the "queue" is a ring of item pointers in submit
 * order, guarded by pool.lock; "taking" moves items from its head to a pool
 * thread's own array; a "run" is what one pool thread took at once: one
 * ping, or up to batch_max verifications, sorted by token hash so that
 * equal tokens sit together and are sent once. The database answers what
 * it holds of each token; the pool thread decides each item's ability
 * from the token's abilities (ability.h). Each pool thread owns one
 * database connection (db.h), opened by pool_start on the thread's "home"
 * endpoint (endpoints.h; threads spread over them in turn); before each run
 * it chooses an endpoint and, to move, opens a connection there and closes
 * the old one. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "endpoints.h"
#include "log.h"

static const uint64_t pool_wait_bound[] = {
    100,   250,   500,    1000,   2500,   5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
static const char *const pool_wait_le[] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025",  "0.05",    "0.1",    "0.25",  "0.5",    "1",     "2.5"};
static const uint64_t pool_size_bound[] = {1, 2, 4, 8, 16, 32, 64};
static const char *const pool_size_le[] = {"1",  "2",  "4", "8",
                                           "16", "32", "64"};
static const uint64_t pool_call_bound[] = {
    500,    1000,   2500,   5000,    10000,   25000,  50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const pool_call_le[] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5"};

#define POOL_HIST(b, l)                                                        \
  {                                                                            \
    .n = sizeof b / sizeof b[0], .bound = b, .le = l                           \
  }

/* One pool thread: its connection, on endpoint cur; home is where it
 * returns when it can. */
struct pool_thread {
  pthread_t id;
  struct db_conn *conn;
  unsigned home, cur;
  struct db_token *tokens; /* a run's answers: DB_BATCH_MAX of them */
};

static struct {
  struct pool_settings cfg;
  pthread_mutex_t lock;
  pthread_cond_t work;   /* an item was queued, or stopping */
  pthread_cond_t expiry; /* stopping (the expiry thread sleeps on it) */
  pthread_cond_t rest;   /* stopping (threads in reconnect backoff wait) */
  struct pool_item **ring;
  size_t head, len; /* under lock */
  unsigned busy;    /* under lock: threads inside a run */
  unsigned idle;    /* under lock: threads waiting on work */
  unsigned woken;   /* under lock: signals of work not yet taken up */
  bool stopping;    /* under lock */
  bool started;
  struct pool_thread *threads; /* cfg.connections of them */
  pthread_t expiry_thread;
  struct pool_item **expired; /* the expiry thread's scratch, queue_max */
  struct pool_item **left;    /* pool_stop's scratch, queue_max */
  atomic_uint_fast64_t shed, timed_out, batches_ok, batches_failed;
  atomic_uint_fast64_t failovers; /* statements retried on another endpoint */
  atomic_uint_fast64_t revokes_ok, revokes_failed;
  struct metrics_hist wait_hist, size_hist, call_hist;
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wait_hist = POOL_HIST(pool_wait_bound, pool_wait_le),
    .size_hist = POOL_HIST(pool_size_bound, pool_size_le),
    .call_hist = POOL_HIST(pool_call_bound, pool_call_le),
};

/* Moves thread th to endpoint to: a connection there, the old one closed.
 * Out of memory, it stays; the next call will say so. */
static void pool_move(struct pool_thread *th, unsigned to)
{
  char err[128];
  struct db_conn *c;

  if (th->cur == to ||
      (c = db_conn_open(endpoints_group(to), err, sizeof err)) == NULL)
    return;
  db_conn_close(th->conn);
  th->conn = c;
  endpoints_leave(th->cur);
  endpoints_join(to);
  th->cur = to;
}

/* Under lock: wakes one idle pool thread when items wait, no thread is
 * already on its way to them, and either no call is running or a quarter
 * of a batch waits. A woken thread takes every waiting item (up to
 * batch_max), so one wake-up per batch is enough: a signal per item would
 * wake threads that find nothing left, a futex round trip each. While a
 * call runs, a few items wait for it to end rather than start a call of
 * their own: the thread that ends it takes them at once, and the database
 * pays one call for them instead of one each (a call's fixed cost is most
 * of its cost). A lone item on an idle pool is taken at once. */
static void pool_wake(void)
{
  unsigned enough = pool.cfg.batch_max / 4 > 0 ? pool.cfg.batch_max / 4 : 1;

  if (pool.len > 0 && pool.woken == 0 && pool.idle > 0 &&
      (pool.busy == 0 || pool.len >= enough)) {
    pool.woken++;
    pthread_cond_signal(&pool.work);
  }
}

/* Under lock: removes and returns the head item. */
static struct pool_item *pool_pop(void)
{
  struct pool_item *item = pool.ring[pool.head];

  pool.head = (pool.head + 1) % pool.cfg.queue_max;
  pool.len--;
  return item;
}

/* Orders items by token hash: the same token sits together. */
static int pool_by_hash(const void *a, const void *b)
{
  const struct pool_item *x = *(struct pool_item *const *)a;
  const struct pool_item *y = *(struct pool_item *const *)b;

  return memcmp(x->hash, y->hash, TOKEN_HASH_LEN);
}

/* Answers item with a state of the pool's own (no row). */
static void pool_finish(struct pool_item *item, enum verdict_state state)
{
  memset(&item->verdict, 0, sizeof item->verdict);
  item->verdict.state = state;
  item->done(item);
}

/* Verifies the n items of a run in one call on endpoint *cur, each token
 * once, and answers each item. A failed call is tried once more on another
 * usable endpoint, when there is one: verification only reads. */
static void pool_verify_run(struct pool_thread *th, struct pool_item **items,
                            size_t n)
{
  uint8_t hashes[DB_BATCH_MAX * TOKEN_HASH_LEN];
  size_t of[DB_BATCH_MAX]; /* item i's token is th->tokens[of[i]] */
  size_t unique = 0;
  char err[256];
  uint64_t t0;
  enum db_result r;
  unsigned other;

  qsort(items, n, sizeof items[0], pool_by_hash);
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || pool_by_hash(&items[i - 1], &items[i]) != 0)
      memcpy(hashes + TOKEN_HASH_LEN * unique++, items[i]->hash,
             TOKEN_HASH_LEN);
    of[i] = unique - 1;
  }
  metrics_observe(&pool.size_hist, unique);
  for (int attempt = 0;; attempt++) {
    t0 = clock_now_us();
    r = db_verify_hashes(th->conn, hashes, unique, th->tokens, err, sizeof err);
    if (r != DB_BACKOFF)
      metrics_observe(&pool.call_hist, clock_since_us(t0));
    endpoints_note(th->cur, r, err);
    endpoints_batch(th->cur, r == DB_OK);
    if (r == DB_OK)
      break;
    if (attempt > 0 || !endpoints_other(th->cur, &other))
      break;
    atomic_fetch_add(&pool.failovers, 1);
    pool_move(th, other);
  }
  if (r != DB_OK) {
    atomic_fetch_add(&pool.batches_failed, 1);
    for (size_t i = 0; i < n; i++)
      pool_finish(items[i], VERDICT_DB_ERROR);
    return;
  }
  atomic_fetch_add(&pool.batches_ok, 1);
  for (size_t i = 0; i < n; i++) {
    const struct db_token *t = &th->tokens[of[i]];
    struct pool_item *item = items[i];

    item->verdict = t->verdict;
    if (item->abilities != NULL) {
      size_t len = t->verdict.state == VERDICT_VALID &&
                           t->abilities_len <= ABILITY_SET_MAX
                       ? t->abilities_len
                       : 0;
      memcpy(item->abilities, t->abilities, len);
      item->abilities[len] = '\0';
    }
    item->verdict.granted =
        t->verdict.state == VERDICT_VALID &&
        (item->ability[0] == '\0' ||
         ability_granted(t->abilities, t->abilities_len, item->ability,
                         strlen(item->ability)));
    item->done(item);
  }
}

/* Revokes the item's token on endpoint *cur, then, when that fails (it may
 * be a read-only replica), on each other usable endpoint in turn: a
 * revocation must reach a server that takes writes. */
static void pool_revoke_run(struct pool_thread *th, struct pool_item *item)
{
  char err[256];
  enum db_result r = db_revoke_leaked(th->conn, item->token, err, sizeof err);
  unsigned other;

  /* A read-only endpoint answers DB_REFUSED: it stays up for
   * verification, and the next endpoint is asked. */
  endpoints_note(th->cur, r, err);
  for (unsigned k = 1; r != DB_OK && k < pool.cfg.endpoints; k++) {
    if (!endpoints_other(th->cur, &other))
      break;
    pool_move(th, other);
    r = db_revoke_leaked(th->conn, item->token, err, sizeof err);
    endpoints_note(th->cur, r, err);
  }
  atomic_fetch_add(r == DB_OK ? &pool.revokes_ok : &pool.revokes_failed, 1);
  pool_finish(item, r == DB_OK ? VERDICT_VALID : VERDICT_DB_ERROR);
}

/* Pings endpoint *cur, then another usable one when it fails: ready while
 * any endpoint answers. */
static void pool_ping_run(struct pool_thread *th, struct pool_item *item)
{
  char err[256];
  enum db_result r = db_ping(th->conn, err, sizeof err);
  unsigned other;

  endpoints_note(th->cur, r, err);
  if (r != DB_OK && endpoints_other(th->cur, &other)) {
    pool_move(th, other);
    r = db_ping(th->conn, err, sizeof err);
    endpoints_note(th->cur, r, err);
  }
  pool_finish(item, r == DB_OK ? VERDICT_VALID : VERDICT_DB_ERROR);
}

static void *pool_thread_main(void *arg)
{
  struct pool_thread *th = arg;
  struct pool_item *run[DB_BATCH_MAX];
  char err[256];

  endpoints_join(th->cur);
  /* Connect before the first request needs it; a failure only starts the
   * backoff. */
  endpoints_note(th->cur, db_ping(th->conn, err, sizeof err), err);
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    size_t n = 0;
    uint64_t now, rest_us;

    if (pool.cfg.endpoints > 1) {
      pthread_mutex_unlock(&pool.lock);
      pool_move(th, endpoints_choose(th->cur, th->home));
      pthread_mutex_lock(&pool.lock);
    }
    rest_us = db_backoff_left_us(th->conn);

    /* A connection waiting to reconnect takes nothing: it would answer
     * 503 at once to whatever it took, while the others may be healthy.
     * It rests on its own condition variable, so that no wake-up meant
     * for a thread that can work is spent on it. */
    if (rest_us > 0 && !pool.stopping) {
      struct timespec until = clock_deadline_us(rest_us);
      /* Items that waited for this thread's call to end (pool_wake) go
       * to another thread. */
      pool_wake();
      pthread_cond_timedwait(&pool.rest, &pool.lock, &until);
      continue;
    }
    while (!pool.stopping && pool.len == 0) {
      pool.idle++;
      pthread_cond_wait(&pool.work, &pool.lock);
      pool.idle--;
      if (pool.woken > 0)
        pool.woken--;
    }
    if (pool.len == 0)
      break; /* stopping, and nothing left */
    now = clock_now_us();
    if (pool.ring[pool.head]->kind != POOL_VERIFY) {
      run[n++] = pool_pop();
    } else {
      while (n < pool.cfg.batch_max && pool.len > 0 &&
             pool.ring[pool.head]->kind == POOL_VERIFY)
        run[n++] = pool_pop();
    }
    pool_wake();
    pool.busy++;
    pthread_mutex_unlock(&pool.lock);
    for (size_t i = 0; i < n; i++)
      metrics_observe(&pool.wait_hist, now - run[i]->queued_us);
    if (run[0]->kind == POOL_PING)
      pool_ping_run(th, run[0]);
    else if (run[0]->kind == POOL_REVOKE)
      pool_revoke_run(th, run[0]);
    else
      pool_verify_run(th, run, n);
    pthread_mutex_lock(&pool.lock);
    pool.busy--;
  }
  pthread_mutex_unlock(&pool.lock);
  endpoints_leave(th->cur);
  db_conn_close(th->conn);
  th->conn = NULL;
  return NULL;
}

/* Answers VERDICT_TIMEOUT to every item that waited queue_timeout_ms, at the
 * moment it does: items expire in submit order, so only the head is ever
 * due, and the thread sleeps until the head's deadline. */
static void *pool_expiry_main(void *arg)
{
  const uint64_t timeout_us = (uint64_t)pool.cfg.queue_timeout_ms * 1000;

  (void)arg;
  pthread_mutex_lock(&pool.lock);
  while (!pool.stopping) {
    uint64_t now = clock_now_us(), sleep_us = timeout_us;
    size_t n = 0;
    struct timespec until;

    while (pool.len > 0 && now - pool.ring[pool.head]->queued_us >= timeout_us)
      pool.expired[n++] = pool_pop();
    if (pool.len > 0)
      sleep_us = pool.ring[pool.head]->queued_us + timeout_us - now;
    if (n > 0) {
      pthread_mutex_unlock(&pool.lock);
      atomic_fetch_add(&pool.timed_out, n);
      for (size_t i = 0; i < n; i++)
        pool_finish(pool.expired[i], VERDICT_TIMEOUT);
      pthread_mutex_lock(&pool.lock);
      continue;
    }
    until = clock_deadline_us(sleep_us);
    pthread_cond_timedwait(&pool.expiry, &pool.lock, &until);
  }
  pthread_mutex_unlock(&pool.lock);
  return NULL;
}

static void pool_free_buffers(void)
{
  for (unsigned i = 0; pool.threads != NULL && i < pool.cfg.connections; i++) {
    db_conn_close(pool.threads[i].conn);
    free(pool.threads[i].tokens);
  }
  endpoints_free();
  free(pool.ring);
  free(pool.expired);
  free(pool.left);
  free(pool.threads);
  pool.ring = pool.expired = pool.left = NULL;
  pool.threads = NULL;
}

int pool_start(const struct pool_settings *s, char *err, size_t err_size)
{
  char db_err[256];
  unsigned started = 0;
  int rc;

  if (s->connections == 0 || s->batch_max == 0 || s->batch_max > DB_BATCH_MAX ||
      s->queue_max == 0 || s->queue_timeout_ms == 0 || s->endpoints == 0) {
    snprintf(err, err_size,
             "pool: connections, batch_max (at most %d), queue_max, "
             "queue_timeout and endpoints must be positive",
             DB_BATCH_MAX);
    return -1;
  }
  pool.cfg = *s;
  if (endpoints_init(s->groups, s->endpoints, s->retry_max_ms) != 0) {
    snprintf(err, err_size, "pool: out of memory");
    return -1;
  }
  pool.ring = calloc(s->queue_max, sizeof pool.ring[0]);
  pool.expired = calloc(s->queue_max, sizeof pool.expired[0]);
  pool.left = calloc(s->queue_max, sizeof pool.left[0]);
  pool.threads = calloc(s->connections, sizeof pool.threads[0]);
  if (pool.ring == NULL || pool.expired == NULL || pool.left == NULL ||
      pool.threads == NULL) {
    snprintf(err, err_size, "pool: out of memory for a queue of %u",
             s->queue_max);
    goto fail;
  }
  for (unsigned i = 0; i < s->connections; i++) {
    pool.threads[i].home = pool.threads[i].cur = i % s->endpoints;
    pool.threads[i].conn =
        db_conn_open(s->groups[pool.threads[i].home], err, err_size);
    if (pool.threads[i].conn == NULL)
      goto fail;
    pool.threads[i].tokens =
        calloc(DB_BATCH_MAX, sizeof pool.threads[i].tokens[0]);
    if (pool.threads[i].tokens == NULL) {
      snprintf(err, err_size, "pool: out of memory for a batch's answers");
      goto fail;
    }
  }
  if (clock_cond_init(&pool.work) != 0) {
    snprintf(err, err_size, "pool: cannot make condition variables");
    goto fail;
  }
  if (clock_cond_init(&pool.expiry) != 0) {
    pthread_cond_destroy(&pool.work);
    snprintf(err, err_size, "pool: cannot make condition variables");
    goto fail;
  }
  if (clock_cond_init(&pool.rest) != 0) {
    pthread_cond_destroy(&pool.work);
    pthread_cond_destroy(&pool.expiry);
    snprintf(err, err_size, "pool: cannot make condition variables");
    goto fail;
  }
  /* The start-up probe of every endpoint, on a connection of its own. */
  for (unsigned e = 0; e < s->endpoints; e++) {
    struct db_conn *c = db_conn_open(s->groups[e], db_err, sizeof db_err);

    if (c != NULL)
      endpoints_note(e, db_probe(c, db_err, sizeof db_err), db_err);
    db_conn_close(c);
    /* The probe's failure must not keep the threads off the endpoint. */
    endpoints_forget_backoff(e);
  }
  pool.head = pool.len = 0;
  pool.idle = pool.woken = 0;
  pool.stopping = false;
  for (; started < s->connections; started++) {
    rc = pthread_create(&pool.threads[started].id, NULL, pool_thread_main,
                        &pool.threads[started]);
    if (rc != 0)
      break;
  }
  if (started == s->connections)
    rc = pthread_create(&pool.expiry_thread, NULL, pool_expiry_main, NULL);
  if (started < s->connections || rc != 0) {
    snprintf(err, err_size, "pool: pthread_create: %s", strerror(rc));
    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.work);
    pthread_cond_broadcast(&pool.rest);
    pthread_mutex_unlock(&pool.lock);
    for (unsigned i = 0; i < started; i++)
      pthread_join(pool.threads[i].id, NULL);
    pthread_cond_destroy(&pool.work);
    pthread_cond_destroy(&pool.expiry);
    pthread_cond_destroy(&pool.rest);
    goto fail;
  }
  pool.started = true;
  return 0;
fail:
  pool_free_buffers();
  return -1;
}

enum pool_submit_result pool_submit(struct pool_item *item)
{
  pthread_mutex_lock(&pool.lock);
  if (pool.stopping) {
    pthread_mutex_unlock(&pool.lock);
    return POOL_CLOSED;
  }
  if (pool.len == pool.cfg.queue_max) {
    pthread_mutex_unlock(&pool.lock);
    atomic_fetch_add(&pool.shed, 1);
    return POOL_FULL;
  }
  item->queued_us = clock_now_us();
  pool.ring[(pool.head + pool.len) % pool.cfg.queue_max] = item;
  pool.len++;
  pool_wake();
  pthread_mutex_unlock(&pool.lock);
  return POOL_QUEUED;
}

void pool_stop(void)
{
  size_t n = 0;

  if (!pool.started)
    return;
  pthread_mutex_lock(&pool.lock);
  pool.stopping = true;
  while (pool.len > 0)
    pool.left[n++] = pool_pop();
  pthread_cond_broadcast(&pool.work);
  pthread_cond_broadcast(&pool.expiry);
  pthread_cond_broadcast(&pool.rest);
  pthread_mutex_unlock(&pool.lock);
  for (size_t i = 0; i < n; i++)
    pool_finish(pool.left[i], VERDICT_STOPPING);
  pthread_join(pool.expiry_thread, NULL);
  for (unsigned i = 0; i < pool.cfg.connections; i++)
    pthread_join(pool.threads[i].id, NULL);
  pthread_cond_destroy(&pool.work);
  pthread_cond_destroy(&pool.expiry);
  pthread_cond_destroy(&pool.rest);
  pool_free_buffers();
  pool.started = false;
}

void pool_get_stats(struct pool_stats *out)
{
  pthread_mutex_lock(&pool.lock);
  out->queued = (unsigned)pool.len;
  out->busy = pool.busy;
  pthread_mutex_unlock(&pool.lock);
  out->shed = atomic_load(&pool.shed);
  out->timed_out = atomic_load(&pool.timed_out);
  out->batches_ok = atomic_load(&pool.batches_ok);
  out->batches_failed = atomic_load(&pool.batches_failed);
  out->retries = db_retries();
  out->revokes_ok = atomic_load(&pool.revokes_ok);
  out->revokes_failed = atomic_load(&pool.revokes_failed);
}

void pool_metrics(struct metrics_text *t)
{
  struct pool_stats s;

  pool_get_stats(&s);
  metrics_gauge(t, "tenant_authd_queue_depth",
                "Verifications waiting for a database connection.", s.queued);
  metrics_gauge(t, "tenant_authd_db_busy",
                "Pool connections running a statement now.", s.busy);
  metrics_counter(t, "tenant_authd_queue_shed_total",
                  "Requests answered 503 at once because --queue-max were "
                  "waiting.",
                  s.shed);
  metrics_counter(t, "tenant_authd_queue_timeouts_total",
                  "Requests answered 503 after waiting --queue-timeout.",
                  s.timed_out);
  metrics_family(t, "tenant_authd_db_batches_total", "counter",
                 "Verify statements, by outcome.");
  metrics_add(t,
              "tenant_authd_db_batches_total{outcome=\"ok\"} %llu\n"
              "tenant_authd_db_batches_total{outcome=\"error\"} %llu\n",
              (unsigned long long)s.batches_ok,
              (unsigned long long)s.batches_failed);
  metrics_family(t, "tenant_authd_db_revokes_total", "counter",
                 "Calls of revoke_leaked_tenant_token (POST /revoke), by "
                 "outcome.");
  metrics_add(t,
              "tenant_authd_db_revokes_total{outcome=\"ok\"} %llu\n"
              "tenant_authd_db_revokes_total{outcome=\"error\"} %llu\n",
              (unsigned long long)s.revokes_ok,
              (unsigned long long)s.revokes_failed);
  metrics_counter(t, "tenant_authd_db_failovers_total",
                  "Verify statements tried again on another endpoint after "
                  "failing.",
                  atomic_load(&pool.failovers));
  endpoints_metrics(t);
  metrics_counter(t, "tenant_authd_db_retries_total",
                  "Database calls retried once after a lock error or a "
                  "dead connection.",
                  s.retries);
  metrics_histogram(t, "tenant_authd_queue_wait_seconds",
                    "Time from queueing to a connection taking the request.",
                    &pool.wait_hist, 1e-6);
  metrics_histogram(t, "tenant_authd_db_batch_size",
                    "Distinct tokens per verify statement.", &pool.size_hist,
                    1);
  metrics_histogram(t, "tenant_authd_db_call_duration_seconds",
                    "Time of each verify statement (one batch), connecting "
                    "included.",
                    &pool.call_hist, 1e-6);
}
