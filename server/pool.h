/* pool.h: the verification queue and the database pool. HTTP threads never
 * wait on the database: they "submit" an item to the queue and go on; a
 * "pool thread" owns one database connection (db.h) and, each time it is
 * free, takes every queued item up to the batch maximum and verifies them
 * all in one call ("batch"), then reports each item's verdict through
 * its done callback. An idle pool takes a lone item at once: batches form
 * only while every connection is busy, so one client sees no added wait.
 *
 * Bounds: at most queue_max items wait; past that a submit is refused
 * ("shed"). An item that waits longer than queue_timeout_ms is answered
 * VERDICT_TIMEOUT by the "expiry thread", whatever the database is doing.
 * Every item submitted gets exactly one done call, from a pool thread or
 * the expiry thread; after it the pool never touches the item again.
 * Plain C and pthreads: no libmicrohttpd types. */
#ifndef TENANT_AUTHD_POOL_H
#define TENANT_AUTHD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ability.h"
#include "db.h"
#include "metrics.h"
#include "token.h"
#include "verdict.h"

enum pool_kind {
  POOL_VERIFY, /* verify token, for ability when one is set */
  POOL_PING,   /* ask whether the database answers (for /readyz) */
  POOL_REVOKE  /* revoke token, given in clear (POST /revoke) */
};

struct pool_item {
  /* Set by the submitter. */
  enum pool_kind kind;
  char token[TOKEN_LEN];        /* POOL_REVOKE: a well-formed token, in clear */
  uint8_t hash[TOKEN_HASH_LEN]; /* POOL_VERIFY: the token's SHA-256 */
  char ability[ABILITY_NAME_MAX + 1]; /* POOL_VERIFY: "" for none */
  void (*done)(struct pool_item *item);
  /* Set by the pool before done: for a verification, the database's word
   * for the token and its row, and whether it grants the ability (decided
   * here, by ability.h); for a ping or a revocation, VERDICT_VALID when it
   * ran; else the pool's own VERDICT_DB_ERROR, _TIMEOUT or _STOPPING. */
  struct verdict verdict;
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

/* Stops taking items, answers every queued one VERDICT_STOPPING, waits for
 * the batches running, joins the threads. Idempotent. */
void pool_stop(void);

struct pool_stats {
  unsigned queued;    /* waiting now */
  unsigned busy;      /* pool threads running a batch now */
  uint64_t shed;      /* submits refused: queue full */
  uint64_t timed_out; /* items answered VERDICT_TIMEOUT */
  uint64_t batches_ok, batches_failed;
  uint64_t retries; /* database calls retried once (db.h) */
  uint64_t revokes_ok, revokes_failed;
};

void pool_get_stats(struct pool_stats *out);

/* Appends the pool's series (queue, batches, histograms) to t. */
void pool_metrics(struct metrics_text *t);

#endif
