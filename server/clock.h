/* clock.h: the one monotonic clock of tenant-authd, in microseconds. Every
 * module measures durations and deadlines with it instead of doing its own
 * timespec arithmetic. */
#ifndef TENANT_AUTHD_CLOCK_H
#define TENANT_AUTHD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC: only differences mean anything. */
static inline uint64_t clock_now_us(void)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
}

/* Microseconds since t0, a value of clock_now_us(). */
static inline uint64_t clock_since_us(uint64_t t0)
{
  return clock_now_us() - t0;
}

#endif
