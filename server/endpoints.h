/* endpoints.h: the state of each database endpoint. An "endpoint" is one
 * --db-group (a server), numbered from 0 in the order given. Each call's
 * outcome is "noted": an answer marks the endpoint up; a failure marks it
 * "down" until its backoff (backoff.h: 50 ms doubling up to --db-retry-max)
 * ends. An endpoint is "usable" when it is up or its backoff has ended (the
 * next call there is the probe). "Choosing" is what a pool thread does
 * before each run: go back to its "home" endpoint when that is usable,
 * else move off a down one when another is usable. Lock-free: pool threads
 * note and choose at once. Plain C: no libmicrohttpd types. */
#ifndef TENANT_AUTHD_ENDPOINTS_H
#define TENANT_AUTHD_ENDPOINTS_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "metrics.h"

/* Sets up n endpoints (at least 1) for option-file groups groups[0..n),
 * which must live until endpoints_free. 0 on success. */
int endpoints_init(const char *const *groups, unsigned n,
                   unsigned retry_max_ms);
void endpoints_free(void);

unsigned endpoints_count(void);
const char *endpoints_group(unsigned e);

/* Records the outcome of a call to endpoint e (err: its reason) and logs
 * when e goes from answering to not answering or back: one line per
 * change, never one per failed call. DB_REFUSED is an answer; DB_BACKOFF
 * was no call and changes nothing. */
void endpoints_note(unsigned e, enum db_result r, const char *err);

/* Forgets e's backoff: a start-up probe's failure must not keep the
 * threads off it. */
void endpoints_forget_backoff(unsigned e);

/* True when endpoint e may be used: up, or its backoff has ended. */
bool endpoints_usable(unsigned e);

/* Another usable endpoint than cur, in turn after it; false when none. */
bool endpoints_other(unsigned cur, unsigned *out);

/* The endpoint a thread at cur whose home is home should use for its next
 * run (see above); cur when it should stay. */
unsigned endpoints_choose(unsigned cur, unsigned home);

/* A connection arrives at or leaves endpoint e (counted in /metrics). */
void endpoints_join(unsigned e);
void endpoints_leave(unsigned e);

/* Counts a verify statement on e, by outcome. */
void endpoints_batch(unsigned e, bool ok);

/* 1 when some endpoint's last call answered, 0 when every endpoint's last
 * call failed, -1 before any. */
int endpoints_up(void);

/* Microseconds since the last call answered or failed; UINT64_MAX before
 * any. */
uint64_t endpoints_age_us(void);

/* Appends the per-endpoint families (up, connections, batches) to t. */
void endpoints_metrics(struct metrics_text *t);

/* Appends tenant_authd_db_up (endpoints_up() == 1) to t. */
void endpoints_metrics_up(struct metrics_text *t);

#endif
