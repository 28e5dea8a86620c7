/* ticker.h: the one background thread that runs a "round" every
 * "interval" (flusher.c, ratesync.c). A round that fails is retried after
 * a "backoff" (backoff.h) from min_ms doubling up to retry_max_ms, itself
 * held from min_ms to the interval; one that works sets the next round an
 * interval away. ticker_stop wakes the thread from its wait, and the
 * thread runs one last round on the way out. The waits are on the
 * monotonic clock (clock.h). */
#ifndef TENANT_AUTHD_TICKER_H
#define TENANT_AUTHD_TICKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* One round; true when it worked. */
typedef bool ticker_round_fn(void *ctx);

/* A ticker's state: static storage of its owner, touched only through the
 * calls below. */
struct ticker {
  ticker_round_fn *round;
  void *ctx;
  unsigned interval_ms, min_ms, retry_max_ms;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stopping; /* under lock */
};

/* Starts t's thread: round(ctx) every interval_ms, after a failure within
 * min_ms..retry_max_ms (retry_max_ms held from min_ms to interval_ms). 0
 * on success, else -1 with the reason in err, starting with name. */
int ticker_start(struct ticker *t, const char *name, ticker_round_fn *round,
                 void *ctx, unsigned interval_ms, unsigned min_ms,
                 unsigned retry_max_ms, char *err, size_t err_size);

/* Wakes t's thread, waits for its last round and for it to end. Only after
 * a ticker_start that returned 0. */
void ticker_stop(struct ticker *t);

#endif
