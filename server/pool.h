/* pool.h: the verification queue and the database pool. HTTP threads never
 * wait on the database: they "submit" an item to the queue and go on; a
 * "pool thread" owns one database connection (db.h) and, each time it is
 * free, takes every queued item up to the batch maximum and verifies them
 * all in one statement ("batch"), then reports each item's verdict through
 * its done callback. An idle pool takes a lone item at once: batches form
 * only while every connection is busy, so one client sees no added wait.
 *
 * Bounds: at most queue_max items wait; past that a submit is refused
 * ("shed"). An item that waits longer than queue_timeout_ms is answered
 * POOL_TIMEOUT by the "expiry thread", whatever the database is doing.
 * Every item submitted gets exactly one done call, from a pool thread or
 * the expiry thread; after it the pool never touches the item again.
 * Plain C and pthreads: no libmicrohttpd types. */
#ifndef TENANT_AUTHD_POOL_H
#define TENANT_AUTHD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "metrics.h"
#include "token.h"

#define POOL_ABILITY_MAX 64 /* the longest ability name (auth.h grammar) */

enum pool_kind {
  POOL_VERIFY, /* verify token, for ability when one is set */
  POOL_PING,   /* ask whether the database answers (for /readyz) */
  POOL_REVOKE  /* revoke token, given in clear (POST /revoke) */
};

enum pool_verdict {
  POOL_VALID,     /* verify: tenant_id is set; ping, revoke: it ran */
  POOL_INVALID,   /* verify: state says why */
  POOL_FORBIDDEN, /* verify: valid, but the token lacks the ability */
  POOL_DB_ERROR,  /* the database failed or timed out: no verdict */
  POOL_TIMEOUT,   /* waited in the queue past queue_timeout_ms */
  POOL_STOPPING   /* the pool stopped before a connection took it */
};

struct pool_item {
  /* Set by the submitter. */
  enum pool_kind kind;
  char token[TOKEN_LEN]; /* POOL_VERIFY, POOL_REVOKE: a well-formed token */
  char ability[POOL_ABILITY_MAX + 1]; /* POOL_VERIFY: "" for none */
  void (*done)(struct pool_item *item);
  /* Set by the pool before done. */
  enum pool_verdict verdict;
  enum db_state state; /* POOL_VALID, POOL_INVALID, POOL_FORBIDDEN */
  char tenant_id[TOKEN_UUID_LEN + 1];
  uint64_t queued_us; /* clock_now_us() at submit */
};

struct pool_settings {
  unsigned connections;      /* pool threads, one connection each */
  unsigned batch_max;        /* 1 to DB_BATCH_MAX */
  unsigned queue_max;        /* items waiting, at most */
  unsigned queue_timeout_ms; /* longest wait in the queue */
  const char *const *groups; /* option-file group of each endpoint */
  unsigned endpoints;        /* how many groups: at least 1 */
  unsigned retry_max_ms;     /* longest an endpoint stays marked down */
};

/* Probes each endpoint once (the outcome is logged, endpoints.h), opens
 * each pool thread's connection, then starts the pool threads and the
 * expiry thread. 0 on success. Whoever starts the pool stops it. */
int pool_start(const struct pool_settings *s, char *err, size_t err_size);

enum pool_submit_result {
  POOL_QUEUED, /* done will follow */
  POOL_FULL,   /* queue_max items wait: not queued, counted as shed */
  POOL_CLOSED  /* the pool is stopping: not queued */
};

/* Queues item. Unless POOL_QUEUED, the item was not queued and done will
 * not be called. */
enum pool_submit_result pool_submit(struct pool_item *item);

/* Stops taking items, answers every queued one POOL_STOPPING, waits for
 * the batches running, joins the threads. Idempotent. */
void pool_stop(void);

struct pool_stats {
  unsigned queued;    /* waiting now */
  unsigned busy;      /* pool threads running a batch now */
  uint64_t shed;      /* submits refused: queue full */
  uint64_t timed_out; /* items answered POOL_TIMEOUT */
  uint64_t batches_ok, batches_failed;
  uint64_t retries; /* database calls retried once (db.h) */
  uint64_t revokes_ok, revokes_failed;
};

void pool_get_stats(struct pool_stats *out);

/* Appends the pool's series (queue, batches, histograms) to t. */
void pool_metrics(struct metrics_text *t);

#endif
