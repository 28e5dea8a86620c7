/* endpoints.c: each endpoint's up/down state, backoff and counters; see
 * endpoints.h. Terms: "down_until" is the monotonic time (clock.h) before
 * which a down endpoint is not usable, 0 while it is up; "seen" is when any
 * endpoint last answered or failed (for /readyz). */
#include "endpoints.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"

#define ENDPOINT_BACKOFF_MIN_MS 50

struct endpoint {
  const char *group;
  atomic_uint_fast64_t down_until_us; /* 0: up */
  atomic_uint backoff_ms;
  atomic_int up;           /* -1 unknown, 0 down, 1 answering */
  atomic_uint connections; /* connections on it now */
  atomic_uint_fast64_t batches_ok, batches_failed;
};

static struct endpoint *ep; /* ep_count of them */
static unsigned ep_count;
static unsigned ep_retry_max_ms;
static atomic_uint_fast64_t ep_seen_us; /* clock_now_us() of the last call */

int endpoints_init(const char *const *groups, unsigned n, unsigned retry_max_ms)
{
  ep = calloc(n, sizeof ep[0]);
  if (ep == NULL)
    return -1;
  ep_count = n;
  ep_retry_max_ms = retry_max_ms;
  for (unsigned e = 0; e < n; e++) {
    ep[e].group = groups[e];
    atomic_store(&ep[e].up, -1);
  }
  return 0;
}

void endpoints_free(void)
{
  free(ep);
  ep = NULL;
  ep_count = 0;
}

unsigned endpoints_count(void)
{
  return ep_count;
}

const char *endpoints_group(unsigned e)
{
  return ep[e].group;
}

void endpoints_note(unsigned e, enum db_result r, const char *err)
{
  struct endpoint *p = &ep[e];
  int up = r == DB_OK || r == DB_REFUSED; /* a refusal is an answer */
  int was;
  char warning[256], where[96] = "";

  if (r == DB_BACKOFF)
    return;
  atomic_store(&ep_seen_us, clock_now_us());
  if (db_take_warning(warning, sizeof warning))
    log_msg(LOG_WARN, "%s", warning);
  if (up) {
    atomic_store(&p->backoff_ms, 0);
    atomic_store(&p->down_until_us, 0);
  } else {
    unsigned ms = backoff_next_ms(atomic_load(&p->backoff_ms),
                                  ENDPOINT_BACKOFF_MIN_MS, ep_retry_max_ms);
    atomic_store(&p->backoff_ms, ms);
    atomic_store(&p->down_until_us, clock_now_us() + (uint64_t)ms * 1000);
  }
  was = atomic_exchange(&p->up, up);
  if (was == up)
    return;
  if (ep_count > 1)
    snprintf(where, sizeof where, " ([%s])", p->group);
  if (up)
    log_msg(LOG_INFO, "database available%s", where);
  else
    log_msg(LOG_WARN, "database unavailable%s: %s", where, err);
}

void endpoints_forget_backoff(unsigned e)
{
  atomic_store(&ep[e].down_until_us, 0);
  atomic_store(&ep[e].backoff_ms, 0);
}

bool endpoints_usable(unsigned e)
{
  return clock_now_us() >= atomic_load(&ep[e].down_until_us);
}

bool endpoints_other(unsigned cur, unsigned *out)
{
  for (unsigned k = 1; k < ep_count; k++) {
    unsigned e = (cur + k) % ep_count;
    if (endpoints_usable(e)) {
      *out = e;
      return true;
    }
  }
  return false;
}

unsigned endpoints_choose(unsigned cur, unsigned home)
{
  unsigned e;

  if (ep_count == 1)
    return cur;
  if (cur != home && endpoints_usable(home))
    return home;
  if (!endpoints_usable(cur) && endpoints_other(cur, &e))
    return e;
  return cur;
}

void endpoints_join(unsigned e)
{
  atomic_fetch_add(&ep[e].connections, 1);
}

void endpoints_leave(unsigned e)
{
  atomic_fetch_sub(&ep[e].connections, 1);
}

void endpoints_batch(unsigned e, bool ok)
{
  atomic_fetch_add(ok ? &ep[e].batches_ok : &ep[e].batches_failed, 1);
}

int endpoints_up(void)
{
  int up = -1;

  for (unsigned e = 0; ep != NULL && e < ep_count; e++) {
    int u = atomic_load(&ep[e].up);
    if (u == 1)
      return 1;
    if (u == 0)
      up = 0;
  }
  return up;
}

uint64_t endpoints_age_us(void)
{
  uint64_t seen = atomic_load(&ep_seen_us);

  return seen == 0 ? UINT64_MAX : clock_since_us(seen);
}

void endpoints_metrics(struct metrics_text *t)
{
  metrics_family(t, "tenant_authd_db_endpoint_up", "gauge",
                 "1 when the endpoint's last call worked, 0 when it failed, "
                 "-1 before any.");
  for (unsigned e = 0; e < ep_count; e++)
    metrics_add(t, "tenant_authd_db_endpoint_up{group=\"%s\"} %d\n",
                ep[e].group, atomic_load(&ep[e].up));
  metrics_family(t, "tenant_authd_db_endpoint_connections", "gauge",
                 "Pool connections on the endpoint now.");
  for (unsigned e = 0; e < ep_count; e++)
    metrics_add(t, "tenant_authd_db_endpoint_connections{group=\"%s\"} %u\n",
                ep[e].group, atomic_load(&ep[e].connections));
  metrics_family(t, "tenant_authd_db_endpoint_batches_total", "counter",
                 "Verify statements per endpoint, by outcome.");
  for (unsigned e = 0; e < ep_count; e++)
    metrics_add(t,
                "tenant_authd_db_endpoint_batches_total{group=\"%s\","
                "outcome=\"ok\"} %llu\n"
                "tenant_authd_db_endpoint_batches_total{group=\"%s\","
                "outcome=\"error\"} %llu\n",
                ep[e].group, (unsigned long long)atomic_load(&ep[e].batches_ok),
                ep[e].group,
                (unsigned long long)atomic_load(&ep[e].batches_failed));
}

void endpoints_metrics_up(struct metrics_text *t)
{
  metrics_gauge(t, "tenant_authd_db_up",
                "1 when the last database call worked, 0 when it failed.",
                endpoints_up() == 1);
}
