/* http.h: the HTTP side of tenant-authd: a libmicrohttpd daemon with an
 * internal epoll thread pool, the route table, the bearer-token middleware
 * and the Prometheus counters. */
#ifndef TENANT_AUTHD_HTTP_H
#define TENANT_AUTHD_HTTP_H

#include <stddef.h>

#include "config.h"
#include "usage.h"

/* Starts listening; protected routes verify through the pool (pool.h),
 * which must be started. Each token that verifies goes into usage (NULL:
 * none is recorded). cfg and usage must live until http_stop returns. 0 on
 * success. */
int http_start(const struct cfg *cfg, struct usage_set *usage, char *err,
               size_t err_size);

/* Stops accepting, gives in-flight requests up to cfg->shutdown_timeout
 * seconds, then stops the pool (which answers every request still parked)
 * so that no connection stays suspended, then every worker thread and the
 * connection reaper. Returns how many requests were still unfinished when
 * the time was up. */
unsigned http_stop(void);

#endif
