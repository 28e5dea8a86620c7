/* ticker.c: the round thread; see ticker.h. Terms: "next" is the monotonic
 * time of the next round, which the thread waits for on `wake`, which
 * ticker_stop signals. */
#include "ticker.h"

#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"

static void *ticker_main(void *arg)
{
  struct ticker *t = arg;
  unsigned backoff_ms = 0;
  struct timespec next = clock_deadline_us(t->interval_ms * 1000ULL);

  pthread_mutex_lock(&t->lock);
  while (!t->stopping) {
    if (pthread_cond_timedwait(&t->wake, &t->lock, &next) == 0)
      continue; /* woken: check stopping (or a spurious wake-up) */
    pthread_mutex_unlock(&t->lock);
    if (t->round(t->ctx)) {
      backoff_ms = 0;
      next = clock_deadline_us(t->interval_ms * 1000ULL);
    } else {
      backoff_ms = backoff_next_ms(backoff_ms, t->min_ms, t->retry_max_ms);
      next = clock_deadline_us(backoff_ms * 1000ULL);
    }
    pthread_mutex_lock(&t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  (void)t->round(t->ctx); /* the last one, on the way out */
  return NULL;
}

int ticker_start(struct ticker *t, const char *name, ticker_round_fn *round,
                 void *ctx, unsigned interval_ms, unsigned min_ms,
                 unsigned retry_max_ms, char *err, size_t err_size)
{
  int rc;

  t->round = round;
  t->ctx = ctx;
  t->interval_ms = interval_ms;
  t->min_ms = min_ms;
  t->retry_max_ms = retry_max_ms < interval_ms ? retry_max_ms : interval_ms;
  if (t->retry_max_ms < min_ms)
    t->retry_max_ms = min_ms;
  t->stopping = false;
  if (pthread_mutex_init(&t->lock, NULL) != 0) {
    snprintf(err, err_size, "%s: pthread_mutex_init failed", name);
    return -1;
  }
  if (clock_cond_init(&t->wake) != 0) {
    pthread_mutex_destroy(&t->lock);
    snprintf(err, err_size, "%s: cannot make a condition variable", name);
    return -1;
  }
  rc = pthread_create(&t->thread, NULL, ticker_main, t);
  if (rc != 0) {
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    snprintf(err, err_size, "%s: pthread_create: %s", name, strerror(rc));
    return -1;
  }
  return 0;
}

void ticker_stop(struct ticker *t)
{
  pthread_mutex_lock(&t->lock);
  t->stopping = true;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
  pthread_join(t->thread, NULL);
  pthread_cond_destroy(&t->wake);
  pthread_mutex_destroy(&t->lock);
}
