/* http.h: the HTTP side of tenant-authd: a libmicrohttpd daemon with an
 * internal epoll thread pool and its routes (route.h). */
#ifndef TENANT_AUTHD_HTTP_H
#define TENANT_AUTHD_HTTP_H

#include <stddef.h>

#include "config.h"
#include "tusage.h"
#include "usage.h"

struct rate_table; /* ratelimit.h */

/* Starts listening; protected routes verify through the pool (pool.h),
 * which must be started. Each token that verifies goes into usage, and
 * each answer of a protected route (2xx, or 429 rate_limited) into its
 * tenant's row of tusage (NULL: none is recorded). A valid token is
 * admitted by its rate limits, counted in rates (ratelimit.h; NULL: none
 * is enforced). cfg, usage, tusage and rates must live until http_stop
 * returns. 0 on success. */
int http_start(const struct cfg *cfg, struct usage_set *usage,
               struct tusage *tusage, struct rate_table *rates, char *err,
               size_t err_size);

/* Stops accepting and gives in-flight requests up to cfg->shutdown_timeout
 * seconds. Returns how many requests were still unfinished when the time
 * was up. Those wait on the pool: stop it next (it answers every request
 * still parked), then call http_stop. */
unsigned http_drain(void);

/* After http_drain and pool_stop, so that no connection stays suspended:
 * gives MHD a moment to send the last answers, then stops every worker
 * thread and the connection reaper. */
void http_stop(void);

#endif
