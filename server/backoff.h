/* backoff.h: the one doubling backoff of tenant-authd. A "backoff" is the
 * wait before the next attempt after a failure: min_ms after the first,
 * then twice the previous wait, never more than max_ms. db.c (reconnects),
 * endpoints.c (an endpoint marked down) and ticker.c (a failed round of
 * the flusher or the rate sync) keep their last wait and ask for the next
 * one here. */
#ifndef TENANT_AUTHD_BACKOFF_H
#define TENANT_AUTHD_BACKOFF_H

/* The wait after a failure, given the previous wait (0: none yet). */
static inline unsigned backoff_next_ms(unsigned prev_ms, unsigned min_ms,
                                       unsigned max_ms)
{
  unsigned ms = prev_ms == 0           ? min_ms
                : prev_ms > max_ms / 2 ? max_ms
                                       : prev_ms * 2;

  return ms > max_ms ? max_ms : ms;
}

#endif
