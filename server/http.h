/* http.h: the HTTP side of tenant-authd: a libmicrohttpd daemon with an
 * internal epoll thread pool, the route table, the bearer-token middleware
 * and the Prometheus counters. */
#ifndef TENANT_AUTHD_HTTP_H
#define TENANT_AUTHD_HTTP_H

#include <stddef.h>

#include "config.h"
#include "usage.h"

/* Probes the database once (and logs the outcome), then starts listening.
 * Each token that verifies goes into usage (NULL: none is recorded). cfg
 * and usage must live until http_stop returns. 0 on success. */
int http_start(const struct cfg *cfg, struct usage_set *usage, char *err,
               size_t err_size);

/* Stops accepting, gives in-flight requests up to cfg->shutdown_timeout
 * seconds, then stops every worker thread (which closes their database
 * connections) and the connection reaper. Returns how many requests were
 * still unfinished. */
unsigned http_stop(void);

#endif
