/* clock.h: the one monotonic clock of tenant-authd, in microseconds. Every
 * module measures durations and deadlines with it instead of doing its own
 * timespec arithmetic. */
#ifndef TENANT_AUTHD_CLOCK_H
#define TENANT_AUTHD_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC: only differences mean anything. */
static inline uint64_t clock_now_us(void)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
}

/* The CLOCK_MONOTONIC time us microseconds from now, as a deadline for
 * pthread_cond_timedwait on a condition variable set to that clock. */
static inline struct timespec clock_deadline_us(uint64_t us)
{
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += (time_t)(us / 1000000);
  t.tv_nsec += (long)(us % 1000000) * 1000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

/* Initialises c to time its waits on CLOCK_MONOTONIC, so that
 * clock_deadline_us deadlines hold whatever the wall clock does; 0 on
 * success. */
static inline int clock_cond_init(pthread_cond_t *c)
{
  pthread_condattr_t attr;
  int rc;

  if (pthread_condattr_init(&attr) != 0)
    return -1;
  rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(c, &attr);
  pthread_condattr_destroy(&attr);
  return rc == 0 ? 0 : -1;
}

/* Microseconds since t0, a value of clock_now_us(). */
static inline uint64_t clock_since_us(uint64_t t0)
{
  return clock_now_us() - t0;
}

#endif
