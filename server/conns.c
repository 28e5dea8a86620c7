/* conns.c: the connection list, the limit and the reaper; see conns.h.
 * Terms: a connection's "deadline" word is CONN_BUSY while a request is
 * being answered, CONN_REAPED once the reaper shut it down, else the
 * monotonic millisecond by which its next request must be in. Only the
 * connection's own worker thread moves it to and from CONN_BUSY, only the
 * reaper moves it to CONN_REAPED, and both do so by compare-and-swap, so a
 * request that arrives as its deadline passes is either answered or
 * reaped, never both. */
#include "conns.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"

#define CONN_BUSY 0
#define CONN_REAPED (-1)
#define CONNS_TICK_MS 250 /* how often the reaper looks */

struct conn {
  struct conn *prev, *next; /* on conns_list, under conns_mutex */
  int fd;
  atomic_llong deadline;
};

static pthread_mutex_t conns_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns_list; /* under conns_mutex */
static unsigned conns_max;
static long long conns_idle_ms;
static atomic_uint conns_open;
static atomic_uint_fast64_t conns_refused;
static atomic_uint_fast64_t conns_timed_out;

static pthread_t conns_reaper;
static bool conns_reaper_running;
static pthread_cond_t conns_wake;
static bool conns_stopping; /* under conns_mutex */

static long long conns_now_ms(void)
{
  return (long long)(clock_now_us() / 1000);
}

/* Shuts down every waiting connection past its deadline; conns_mutex held,
 * so none of them can have been closed yet (conns.h). */
static void conns_reap(long long now)
{
  for (struct conn *c = conns_list; c != NULL; c = c->next) {
    long long d = atomic_load(&c->deadline);
    if (d <= CONN_BUSY || now < d)
      continue;
    if (!atomic_compare_exchange_strong(&c->deadline, &d, CONN_REAPED))
      continue; /* its request came in just now */
    (void)shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(&conns_timed_out, 1);
  }
}

static void *conns_reaper_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&conns_mutex);
  while (!conns_stopping) {
    struct timespec until = clock_deadline_us(CONNS_TICK_MS * 1000ULL);

    (void)pthread_cond_timedwait(&conns_wake, &conns_mutex, &until);
    if (!conns_stopping)
      conns_reap(conns_now_ms());
  }
  pthread_mutex_unlock(&conns_mutex);
  return NULL;
}

int conns_start(unsigned max, unsigned idle_ms, char *err, size_t err_size)
{
  int rc;

  conns_max = max;
  conns_idle_ms = idle_ms;
  conns_stopping = false;
  if (clock_cond_init(&conns_wake) != 0) {
    snprintf(err, err_size,
             "connection reaper: cannot make a condition "
             "variable");
    return -1;
  }
  rc = pthread_create(&conns_reaper, NULL, conns_reaper_main, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&conns_wake);
    snprintf(err, err_size, "connection reaper: pthread_create: %s",
             strerror(rc));
    return -1;
  }
  conns_reaper_running = true;
  return 0;
}

void conns_stop(void)
{
  if (!conns_reaper_running)
    return;
  pthread_mutex_lock(&conns_mutex);
  conns_stopping = true;
  pthread_cond_signal(&conns_wake);
  pthread_mutex_unlock(&conns_mutex);
  pthread_join(conns_reaper, NULL);
  pthread_cond_destroy(&conns_wake);
  conns_reaper_running = false;
}

struct conn *conns_opened(int fd)
{
  struct conn *c;

  if (atomic_fetch_add(&conns_open, 1) >= conns_max) {
    atomic_fetch_sub(&conns_open, 1);
    goto refuse;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL) {
    atomic_fetch_sub(&conns_open, 1);
    goto refuse;
  }
  c->fd = fd;
  atomic_init(&c->deadline, conns_now_ms() + conns_idle_ms);
  pthread_mutex_lock(&conns_mutex);
  c->next = conns_list;
  if (conns_list != NULL)
    conns_list->prev = c;
  conns_list = c;
  pthread_mutex_unlock(&conns_mutex);
  return c;
refuse:
  (void)shutdown(fd, SHUT_RDWR);
  atomic_fetch_add(&conns_refused, 1);
  return NULL;
}

void conns_closed(struct conn *c)
{
  if (c == NULL)
    return;
  pthread_mutex_lock(&conns_mutex);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    conns_list = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  pthread_mutex_unlock(&conns_mutex);
  atomic_fetch_sub(&conns_open, 1);
  free(c);
}

bool conns_busy(struct conn *c)
{
  long long d;

  if (c == NULL)
    return true;
  d = atomic_load(&c->deadline);
  while (d != CONN_BUSY) {
    if (d == CONN_REAPED)
      return false;
    if (atomic_compare_exchange_weak(&c->deadline, &d, CONN_BUSY))
      break;
  }
  return true;
}

void conns_idle(struct conn *c)
{
  long long busy = CONN_BUSY;

  if (c == NULL)
    return;
  /* Fails only when reaped: then it stays so. */
  (void)atomic_compare_exchange_strong(&c->deadline, &busy,
                                       conns_now_ms() + conns_idle_ms);
}

void conns_stats(struct conns_stats *out)
{
  out->open = atomic_load(&conns_open);
  out->refused = atomic_load(&conns_refused);
  out->timed_out = atomic_load(&conns_timed_out);
}

void conns_metrics(struct metrics_text *t)
{
  struct conns_stats cs;

  conns_stats(&cs);
  metrics_gauge(t, "tenant_authd_connections_open",
                "Client connections open and admitted under "
                "--max-connections.",
                cs.open);
  metrics_counter(t, "tenant_authd_connections_refused_total",
                  "Connections closed at once because --max-connections "
                  "were open.",
                  cs.refused);
  metrics_counter(t, "tenant_authd_connections_timed_out_total",
                  "Connections closed for not sending a whole request "
                  "within --idle-timeout.",
                  cs.timed_out);
}
