/* conns.h: tenant-authd's own bookkeeping of client connections, beside
 * libmicrohttpd's. Terms: a "tracked" connection is one admitted under
 * --max-connections and on the list; a "refused" one was accepted past the
 * limit and shut down at once; a connection is "waiting" from its accept,
 * or from its previous request's completion, until its next request is
 * wholly received, and "busy" from then until that request completes. A
 * waiting connection has a deadline, --idle-timeout after it began to
 * wait; the reaper thread shuts down (shutdown(2), never close(2)) every
 * waiting connection past its deadline, so libmicrohttpd sees end of file
 * and closes it itself, however slowly its client trickles bytes.
 *
 * Safety of the reaper: libmicrohttpd reports a connection closed (the
 * NOTIFY_CLOSED callback, which calls conns_closed) before it closes the
 * socket, and conns_closed takes the connection off the list under the
 * list's mutex, which the reaper holds while it calls shutdown. So the
 * reaper never touches a descriptor that was closed and reused. */
#ifndef TENANT_AUTHD_CONNS_H
#define TENANT_AUTHD_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct conn;

/* Starts the reaper thread: at most max connections tracked at once, each
 * allowed idle_ms between requests. 0 on success, else the reason in err. */
int conns_start(unsigned max, unsigned idle_ms, char *err, size_t err_size);

/* Stops and joins the reaper thread. Tracked connections stay tracked:
 * conns_closed frees each, whether the reaper runs or not. Safe to call
 * when conns_start failed or was never called. */
void conns_stop(void);

/* A new connection on socket fd. Returns its state, or NULL when it is
 * refused (over the limit, or no memory for its state): the socket has
 * then been shut down, and conns_closed(NULL) must still follow. */
struct conn *conns_opened(int fd);

/* The connection is about to be closed by its owner: off the list, freed.
 * NULL (a refused connection) is fine. */
void conns_closed(struct conn *c);

/* A request was wholly received: no deadline until conns_idle. False when
 * the reaper has already shut the connection down. NULL is fine (true). */
bool conns_busy(struct conn *c);

/* The request completed: the connection waits again, with a new deadline. */
void conns_idle(struct conn *c);

struct conns_stats {
  unsigned open;      /* tracked right now */
  uint64_t refused;   /* connections refused since the start */
  uint64_t timed_out; /* connections the reaper shut down */
};

void conns_stats(struct conns_stats *out);

/* Appends the connection series (open, refused, timed out) to t. */
void conns_metrics(struct metrics_text *t);

#endif
