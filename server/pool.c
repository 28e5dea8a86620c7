/* pool.c: the verification queue, the pool threads and the expiry thread;
 * see pool.h. Terms: the "queue" is a ring of item pointers in submit
 * order, guarded by pool.lock; "taking" moves items from its head to a pool
 * thread's own array; a "run" is what one pool thread took at once: one
 * ping, or up to batch_max verifications, sorted by token so that equal
 * tokens sit together and are sent once. An "endpoint" is one --db-group
 * (a server); each pool thread has a "home" endpoint (threads spread over
 * them in turn) and a current one. An endpoint whose call failed is "down"
 * until its backoff ends: threads move off it, and come home again once it
 * has ended (the next call there is the probe). */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
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
#define POOL_EP_BACKOFF_MIN_MS 50

struct pool_endpoint {
  const char *group;
  atomic_uint_fast64_t down_until_us; /* 0: up */
  atomic_uint backoff_ms;
  atomic_int up;           /* -1 unknown, 0 down, 1 answering */
  atomic_uint connections; /* pool threads using it now */
  atomic_uint_fast64_t batches_ok, batches_failed;
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
  bool stopping;    /* under lock */
  bool started;
  pthread_t *threads;
  pthread_t expiry_thread;
  struct pool_item **expired;      /* the expiry thread's scratch, queue_max */
  struct pool_item **left;         /* pool_stop's scratch, queue_max */
  struct pool_endpoint *ep;        /* cfg.endpoints of them */
  atomic_uint_fast64_t db_seen_us; /* clock_now_us() of the last answer */
  atomic_uint next_home;           /* the next thread's home endpoint */
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

/* Records the outcome of a call to endpoint e and logs when it goes from
 * answering to not answering or back: one line per change, never one per
 * failed call. A failure marks e down for its backoff (50 ms doubling up
 * to --db-retry-max); a success or a refusal (DB_REFUSED) clears it. */
static void pool_note_db(unsigned e, enum db_result r, const char *err)
{
  struct pool_endpoint *ep = &pool.ep[e];
  int up = r == DB_OK || r == DB_REFUSED; /* a refusal is an answer */
  int was;
  char warning[256], where[96] = "";

  if (r == DB_BACKOFF)
    return;
  atomic_store(&pool.db_seen_us, clock_now_us());
  if (db_take_warning(warning, sizeof warning))
    log_msg(LOG_WARN, "%s", warning);
  if (up) {
    atomic_store(&ep->backoff_ms, 0);
    atomic_store(&ep->down_until_us, 0);
  } else {
    unsigned ms = atomic_load(&ep->backoff_ms);
    ms = ms == 0 ? POOL_EP_BACKOFF_MIN_MS : ms * 2;
    if (ms > pool.cfg.retry_max_ms)
      ms = pool.cfg.retry_max_ms;
    atomic_store(&ep->backoff_ms, ms);
    atomic_store(&ep->down_until_us, clock_now_us() + (uint64_t)ms * 1000);
  }
  was = atomic_exchange(&ep->up, up);
  if (was == up)
    return;
  if (pool.cfg.endpoints > 1)
    snprintf(where, sizeof where, " ([%s])", ep->group);
  if (up)
    log_msg(LOG_INFO, "database available%s", where);
  else
    log_msg(LOG_WARN, "database unavailable%s: %s", where, err);
}

/* True when endpoint e may be used: up, or its backoff has ended. */
static bool pool_usable(unsigned e)
{
  return clock_now_us() >= atomic_load(&pool.ep[e].down_until_us);
}

/* Moves the calling pool thread's connection to endpoint to. */
static void pool_move(unsigned *cur, unsigned to)
{
  char err[128];

  if (*cur == to)
    return;
  if (db_thread_group(pool.ep[to].group, err, sizeof err) != 0)
    return; /* out of memory: stay; the next call will say so */
  atomic_fetch_sub(&pool.ep[*cur].connections, 1);
  atomic_fetch_add(&pool.ep[to].connections, 1);
  *cur = to;
}

/* Another usable endpoint than *cur, in turn after it; false when none. */
static bool pool_other(unsigned cur, unsigned *out)
{
  for (unsigned k = 1; k < pool.cfg.endpoints; k++) {
    unsigned e = (cur + k) % pool.cfg.endpoints;
    if (pool_usable(e)) {
      *out = e;
      return true;
    }
  }
  return false;
}

/* Before a run: home when home is usable again, else off a down endpoint
 * when another one is usable. */
static void pool_choose(unsigned *cur, unsigned home)
{
  unsigned e;

  if (pool.cfg.endpoints == 1)
    return;
  if (*cur != home && pool_usable(home))
    pool_move(cur, home);
  else if (!pool_usable(*cur) && pool_other(*cur, &e))
    pool_move(cur, e);
}

/* Under lock: removes and returns the head item. */
static struct pool_item *pool_pop(void)
{
  struct pool_item *item = pool.ring[pool.head];

  pool.head = (pool.head + 1) % pool.cfg.queue_max;
  pool.len--;
  return item;
}

/* Items verifying the same token for the same ability (or none) ask the
 * same question. */
static int pool_by_question(const void *a, const void *b)
{
  const struct pool_item *x = *(struct pool_item *const *)a;
  const struct pool_item *y = *(struct pool_item *const *)b;
  int c = memcmp(x->token, y->token, TOKEN_LEN);

  return c != 0 ? c : strcmp(x->ability, y->ability);
}

static void pool_finish(struct pool_item *item, enum pool_verdict v)
{
  item->verdict = v;
  item->done(item);
}

/* Verifies the n items of a run in one statement on endpoint *cur and
 * answers each. A failed statement is tried once more on another usable
 * endpoint, when there is one: verification only reads. */
static void pool_verify_run(unsigned *cur, struct pool_item **items, size_t n)
{
  struct db_check checks[DB_BATCH_MAX];
  struct db_verdict verdict[DB_BATCH_MAX];
  size_t of[DB_BATCH_MAX]; /* item i's question is checks[of[i]] */
  size_t unique = 0;
  char err[256];
  uint64_t t0;
  enum db_result r;
  unsigned other;

  qsort(items, n, sizeof items[0], pool_by_question);
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || pool_by_question(&items[i - 1], &items[i]) != 0) {
      checks[unique].token = items[i]->token;
      checks[unique].ability =
          items[i]->ability[0] != '\0' ? items[i]->ability : NULL;
      unique++;
    }
    of[i] = unique - 1;
  }
  metrics_observe(&pool.size_hist, unique);
  for (int attempt = 0;; attempt++) {
    t0 = clock_now_us();
    r = db_verify_batch(checks, unique, verdict, err, sizeof err);
    if (r != DB_BACKOFF)
      metrics_observe(&pool.call_hist, clock_since_us(t0));
    pool_note_db(*cur, r, err);
    if (r == DB_OK) {
      atomic_fetch_add(&pool.ep[*cur].batches_ok, 1);
      break;
    }
    atomic_fetch_add(&pool.ep[*cur].batches_failed, 1);
    if (attempt > 0 || !pool_other(*cur, &other))
      break;
    atomic_fetch_add(&pool.failovers, 1);
    pool_move(cur, other);
  }
  if (r != DB_OK) {
    atomic_fetch_add(&pool.batches_failed, 1);
    for (size_t i = 0; i < n; i++)
      pool_finish(items[i], POOL_DB_ERROR);
    return;
  }
  atomic_fetch_add(&pool.batches_ok, 1);
  for (size_t i = 0; i < n; i++) {
    const struct db_verdict *v = &verdict[of[i]];
    memcpy(items[i]->tenant_id, v->tenant_id, sizeof v->tenant_id);
    items[i]->state = v->state;
    pool_finish(items[i], v->state == DB_GRANTED      ? POOL_VALID
                          : v->state == DB_NO_ABILITY ? POOL_FORBIDDEN
                                                      : POOL_INVALID);
  }
}

/* Revokes the item's token on endpoint *cur, then, when that fails (it may
 * be a read-only replica), on each other usable endpoint in turn: a
 * revocation must reach a server that takes writes. */
static void pool_revoke_run(unsigned *cur, struct pool_item *item)
{
  char err[256];
  enum db_result r = db_revoke_leaked(item->token, err, sizeof err);
  unsigned other;

  /* A read-only endpoint answers DB_REFUSED: it stays up for
   * verification, and the next endpoint is asked. */
  pool_note_db(*cur, r, err);
  for (unsigned k = 1; r != DB_OK && k < pool.cfg.endpoints; k++) {
    if (!pool_other(*cur, &other))
      break;
    pool_move(cur, other);
    r = db_revoke_leaked(item->token, err, sizeof err);
    pool_note_db(*cur, r, err);
  }
  atomic_fetch_add(r == DB_OK ? &pool.revokes_ok : &pool.revokes_failed, 1);
  item->tenant_id[0] = '\0';
  pool_finish(item, r == DB_OK ? POOL_VALID : POOL_DB_ERROR);
}

/* Pings endpoint *cur, then another usable one when it fails: ready while
 * any endpoint answers. */
static void pool_ping_run(unsigned *cur, struct pool_item *item)
{
  char err[256];
  enum db_result r = db_ping(err, sizeof err);
  unsigned other;

  pool_note_db(*cur, r, err);
  if (r != DB_OK && pool_other(*cur, &other)) {
    pool_move(cur, other);
    r = db_ping(err, sizeof err);
    pool_note_db(*cur, r, err);
  }
  item->tenant_id[0] = '\0';
  pool_finish(item, r == DB_OK ? POOL_VALID : POOL_DB_ERROR);
}

static void *pool_thread_main(void *arg)
{
  struct pool_item *run[DB_BATCH_MAX];
  char err[256];
  unsigned home = atomic_fetch_add(&pool.next_home, 1) % pool.cfg.endpoints;
  unsigned cur = home;

  (void)arg;
  if (db_thread_group(pool.ep[home].group, err, sizeof err) != 0)
    log_msg(LOG_WARN, "pool thread: %s", err);
  atomic_fetch_add(&pool.ep[home].connections, 1);
  /* Connect before the first request needs it; a failure only starts the
   * backoff. */
  pool_note_db(cur, db_ping(err, sizeof err), err);
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    size_t n = 0;
    uint64_t now, rest_us;

    if (pool.cfg.endpoints > 1) {
      pthread_mutex_unlock(&pool.lock);
      pool_choose(&cur, home);
      pthread_mutex_lock(&pool.lock);
    }
    rest_us = db_backoff_left_us();

    /* A connection waiting to reconnect takes nothing: it would answer
     * 503 at once to whatever it took, while the others may be healthy.
     * It rests on its own condition variable, so that no wake-up meant
     * for a thread that can work is spent on it. */
    if (rest_us > 0 && !pool.stopping) {
      struct timespec until = clock_deadline_us(rest_us);
      pthread_cond_timedwait(&pool.rest, &pool.lock, &until);
      continue;
    }
    while (!pool.stopping && pool.len == 0)
      pthread_cond_wait(&pool.work, &pool.lock);
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
    pool.busy++;
    pthread_mutex_unlock(&pool.lock);
    for (size_t i = 0; i < n; i++)
      metrics_observe(&pool.wait_hist, now - run[i]->queued_us);
    if (run[0]->kind == POOL_PING)
      pool_ping_run(&cur, run[0]);
    else if (run[0]->kind == POOL_REVOKE)
      pool_revoke_run(&cur, run[0]);
    else
      pool_verify_run(&cur, run, n);
    pthread_mutex_lock(&pool.lock);
    pool.busy--;
  }
  pthread_mutex_unlock(&pool.lock);
  atomic_fetch_sub(&pool.ep[cur].connections, 1);
  db_thread_close();
  return NULL;
}

/* Answers POOL_TIMEOUT to every item that waited queue_timeout_ms, at the
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
        pool_finish(pool.expired[i], POOL_TIMEOUT);
      pthread_mutex_lock(&pool.lock);
      continue;
    }
    until = clock_deadline_us(sleep_us);
    pthread_cond_timedwait(&pool.expiry, &pool.lock, &until);
  }
  pthread_mutex_unlock(&pool.lock);
  return NULL;
}

static int pool_cond_init(pthread_cond_t *c, bool monotonic)
{
  pthread_condattr_t attr;
  int rc;

  if (pthread_condattr_init(&attr) != 0)
    return -1;
  rc = monotonic ? pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) : 0;
  if (rc == 0)
    rc = pthread_cond_init(c, &attr);
  pthread_condattr_destroy(&attr);
  return rc == 0 ? 0 : -1;
}

static void pool_free_buffers(void)
{
  free(pool.ep);
  pool.ep = NULL;
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
  pool.ep = calloc(s->endpoints, sizeof pool.ep[0]);
  if (pool.ep == NULL) {
    snprintf(err, err_size, "pool: out of memory");
    return -1;
  }
  for (unsigned e = 0; e < s->endpoints; e++) {
    pool.ep[e].group = s->groups[e];
    atomic_store(&pool.ep[e].up, -1);
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
  if (pool_cond_init(&pool.work, false) != 0) {
    snprintf(err, err_size, "pool: cannot make condition variables");
    goto fail;
  }
  if (pool_cond_init(&pool.expiry, true) != 0) {
    pthread_cond_destroy(&pool.work);
    snprintf(err, err_size, "pool: cannot make condition variables");
    goto fail;
  }
  if (pool_cond_init(&pool.rest, true) != 0) {
    pthread_cond_destroy(&pool.work);
    pthread_cond_destroy(&pool.expiry);
    snprintf(err, err_size, "pool: cannot make condition variables");
    goto fail;
  }
  /* The start-up probe of every endpoint, on this thread's own
   * connection. */
  for (unsigned e = 0; e < s->endpoints; e++) {
    if (db_thread_group(s->groups[e], db_err, sizeof db_err) == 0)
      pool_note_db(e, db_ping(db_err, sizeof db_err), db_err);
    /* The probe's failure must not keep the threads off the endpoint. */
    atomic_store(&pool.ep[e].down_until_us, 0);
    atomic_store(&pool.ep[e].backoff_ms, 0);
  }
  db_thread_close();
  pool.head = pool.len = 0;
  pool.stopping = false;
  for (; started < s->connections; started++) {
    rc = pthread_create(&pool.threads[started], NULL, pool_thread_main, NULL);
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
      pthread_join(pool.threads[i], NULL);
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
  pthread_cond_signal(&pool.work);
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
    pool_finish(pool.left[i], POOL_STOPPING);
  pthread_join(pool.expiry_thread, NULL);
  for (unsigned i = 0; i < pool.cfg.connections; i++)
    pthread_join(pool.threads[i], NULL);
  pthread_cond_destroy(&pool.work);
  pthread_cond_destroy(&pool.expiry);
  pthread_cond_destroy(&pool.rest);
  pool_free_buffers();
  pool.started = false;
}

int pool_db_up(void)
{
  int up = -1;

  for (unsigned e = 0; pool.ep != NULL && e < pool.cfg.endpoints; e++) {
    int u = atomic_load(&pool.ep[e].up);
    if (u == 1)
      return 1;
    if (u == 0)
      up = 0;
  }
  return up;
}

uint64_t pool_db_age_us(void)
{
  uint64_t seen = atomic_load(&pool.db_seen_us);

  return seen == 0 ? UINT64_MAX : clock_since_us(seen);
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
  metrics_family(t, "tenant_authd_db_endpoint_up", "gauge",
                 "1 when the endpoint's last call worked, 0 when it failed, "
                 "-1 before any.");
  for (unsigned e = 0; e < pool.cfg.endpoints; e++)
    metrics_add(t, "tenant_authd_db_endpoint_up{group=\"%s\"} %d\n",
                pool.ep[e].group, atomic_load(&pool.ep[e].up));
  metrics_family(t, "tenant_authd_db_endpoint_connections", "gauge",
                 "Pool connections on the endpoint now.");
  for (unsigned e = 0; e < pool.cfg.endpoints; e++)
    metrics_add(t, "tenant_authd_db_endpoint_connections{group=\"%s\"} %u\n",
                pool.ep[e].group, atomic_load(&pool.ep[e].connections));
  metrics_family(t, "tenant_authd_db_endpoint_batches_total", "counter",
                 "Verify statements per endpoint, by outcome.");
  for (unsigned e = 0; e < pool.cfg.endpoints; e++)
    metrics_add(t,
                "tenant_authd_db_endpoint_batches_total{group=\"%s\","
                "outcome=\"ok\"} %llu\n"
                "tenant_authd_db_endpoint_batches_total{group=\"%s\","
                "outcome=\"error\"} %llu\n",
                pool.ep[e].group,
                (unsigned long long)atomic_load(&pool.ep[e].batches_ok),
                pool.ep[e].group,
                (unsigned long long)atomic_load(&pool.ep[e].batches_failed));
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
