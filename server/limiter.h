/* limiter.h: the failed-authentication limit per client key. A "key" is
 * what client_key (client.h) makes of a client address: an IPv4 address
 * itself, an IPv6 one cut to --ipv6-prefix, so all of a /64 shares one
 * budget; the "address" of the functions below is that key. A "failure" is
 * one refused authentication (401, or 400 for a repeated Authorization
 * header); an address is "blocked" while its failures in the sliding window
 * reach the limit. The window is estimated the way a sliding
 * window counter does: each address has a window of its own, opened by its
 * first failure, and counts failures in it ("cur") and in the window before
 * ("prev"); the estimate at e ms into the window is
 * prev * (window - e) / window + cur.
 *
 * The table is allocated once: `table` slots of LIMITER_SLOT_BYTES, in sets
 * of LIMITER_WAYS probed together; a new address takes an empty slot of its
 * set or evicts the one with the lowest estimate, so a flood of new addresses
 * pushes out idle ones before blocked ones. Sets are guarded by
 * LIMITER_SHARDS mutexes; nothing takes a global lock. */
#ifndef TENANT_AUTHD_LIMITER_H
#define TENANT_AUTHD_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "metrics.h"

#define LIMITER_WAYS 8
#define LIMITER_SHARDS 64
#define LIMITER_SLOT_BYTES 32

struct limiter;

/* Allocates a table of at least `table` slots (rounded up to whole sets) for
 * `limit` failures per `window_s` seconds. NULL on failure, with the reason
 * in err. */
struct limiter *limiter_new(unsigned limit, unsigned window_s, unsigned table,
                            char *err, size_t err_size);

void limiter_free(struct limiter *l);

/* Milliseconds on the limiter's own monotonic clock (never 0). */
uint64_t limiter_now_ms(const struct limiter *l);

/* True when a is blocked at now_ms; then *retry_after_s is the whole number
 * of seconds (at least 1) until it is no longer blocked, if it fails no
 * more. */
bool limiter_blocked(struct limiter *l, const struct client_addr *a,
                     uint64_t now_ms, unsigned *retry_after_s);

/* Counts one failure of a at now_ms. */
void limiter_fail(struct limiter *l, const struct client_addr *a,
                  uint64_t now_ms);

/* limiter_blocked and limiter_fail in one hold of the lock: unless a is
 * blocked at now_ms, counts one failure of a and returns true (the
 * failure is "reserved"); else returns false with *retry_after_s as
 * limiter_blocked sets it. Requests in flight at once cannot outrun the
 * limit: each takes its share of the budget before it is sent on, so an
 * address has at most `limit` of them waiting at once, fewer by its
 * failures in the window. */
bool limiter_reserve(struct limiter *l, const struct client_addr *a,
                     uint64_t now_ms, unsigned *retry_after_s);

/* Gives back a failure reserved at reserved_ms, now_ms, once its request
 * turned out not to be one: it is taken off the window it was counted in.
 * Nothing happens when that window has passed, or a was evicted since. */
void limiter_refund(struct limiter *l, const struct client_addr *a,
                    uint64_t reserved_ms, uint64_t now_ms);

/* Slots allocated, and addresses evicted to make room so far. */
size_t limiter_slots(const struct limiter *l);
uint64_t limiter_evictions(const struct limiter *l);

/* Appends tenant_authd_auth_fail_evictions_total to t (0 when l is NULL:
 * no limiter). */
void limiter_metrics(struct metrics_text *t, const struct limiter *l);

#endif
