/* main.c: tenant-authd's entry point: flags, signals, start and stop, in
 * order: database, pool, usage flusher, rate limits and their sync, HTTP;
 * on SIGTERM HTTP drains, the pool answers what is parked, HTTP stops, the
 * flusher and the sync write what is left.
 * SIGTERM and SIGINT are blocked in every thread and taken by sigwait here,
 * so no handler runs inside a worker. Before anything holds a token the
 * process is made non-dumpable and its core size limit set to 0, so no
 * core dump (or ptrace by another unprivileged process) can read tokens. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "config.h"
#include "db.h"
#include "flusher.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "ratelimit.h"
#include "ratesync.h"
#include "token.h"
#include "tusage.h"
#include "usage.h"

/* No core file, and no ptrace or /proc/PID/mem by unprivileged processes;
 * 0 on success. */
static int main_no_dumps(void)
{
  const struct rlimit none = {0, 0};

  if (setrlimit(RLIMIT_CORE, &none) != 0)
    return -1;
  return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
  struct cfg cfg;
  struct db_settings dbs;
  struct pool_settings ps;
  struct usage_set *usage = NULL;
  struct tusage *tusage = NULL;
  struct rate_table *rates = NULL;
  size_t unwritten, rows_unwritten;
  char err[256];
  sigset_t stop_signals;
  unsigned left;
  int sig = 0;

  switch (cfg_parse(&cfg, argc, argv, err, sizeof err)) {
  case CFG_HELP:
    cfg_usage(stdout);
    return 0;
  case CFG_VERSION:
    printf("tenant-authd %s\n", TENANT_AUTH_VERSION);
    return 0;
  case CFG_ERROR:
    fprintf(stderr, "tenant-authd: %s\n\n", err);
    cfg_usage(stderr);
    return 2;
  case CFG_RUN:
    break;
  }

  if (main_no_dumps() != 0) {
    log_msg(LOG_ERROR, "cannot disable core dumps: %s", strerror(errno));
    return 1;
  }
  /* Blocked before any thread starts, so every thread inherits the mask. */
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
    log_msg(LOG_ERROR, "cannot block SIGTERM and SIGINT");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  dbs = (struct db_settings){
      .defaults_file = cfg.defaults_file,
      .group = cfg.db_group,
      .connect_timeout = cfg.db_connect_timeout,
      .read_timeout = cfg.db_read_timeout,
      .write_timeout = cfg.db_write_timeout,
      .retry_max_ms = cfg.db_retry_max,
      .causal_reads = cfg.causal_reads,
  };
  if (db_init(&dbs, err, sizeof err) != 0) {
    log_msg(LOG_ERROR, "cannot start: %s", err);
    return 1;
  }
  ps = (struct pool_settings){
      .connections = cfg.db_connections,
      .batch_max = cfg.batch_max,
      .queue_max = cfg.queue_max,
      .queue_timeout_ms = cfg.queue_timeout,
      .groups = cfg.db_groups.v,
      .endpoints = cfg.db_groups.count,
      .retry_max_ms = cfg.db_retry_max,
  };
  if (pool_start(&ps, err, sizeof err) != 0) {
    log_msg(LOG_ERROR, "cannot start: %s", err);
    db_shutdown();
    return 1;
  }
  if (cfg.usage_interval > 0) {
    /* Token use and tenant usage: both bounded by --usage-max. */
    usage = usage_new(cfg.usage_max, err, sizeof err);
    if (usage != NULL)
      tusage = tusage_new(cfg.usage_max, err, sizeof err);
    if (usage == NULL || tusage == NULL ||
        ratesync_instance_init(err, sizeof err) != 0 ||
        flusher_start(usage, tusage, ratesync_instance(), cfg.usage_interval,
                      cfg.db_retry_max, cfg.usage_timeout, cfg.usage_db_group,
                      err, sizeof err) != 0)
      goto fail;
  }
  /* The rate limits, shared every --limit-sync ms on a connection of the
   * usage connections' group. */
  rates = rate_new(cfg.limit_table, err, sizeof err);
  if (rates == NULL || ratesync_start(rates, cfg.limit_sync, cfg.db_retry_max,
                                      cfg.db_read_timeout, cfg.usage_db_group,
                                      err, sizeof err) != 0)
    goto fail;
  if (http_start(&cfg, usage, tusage, rates, err, sizeof err) != 0)
    goto fail;
  log_msg(LOG_INFO,
          "started: version %s, listening on %s, %u threads, %u database "
          "connections, batches of up to %u, option group [%s]%s%s, %u "
          "introspection clients",
          TENANT_AUTH_VERSION, cfg.listen, cfg.threads, cfg.db_connections,
          cfg.batch_max, cfg.db_group,
          cfg.defaults_file ? ", option file " : "",
          cfg.defaults_file ? cfg.defaults_file : "", cfg.introspection.count);

  while (sigwait(&stop_signals, &sig) != 0)
    ;
  log_msg(LOG_INFO, "stopping on %s: finishing in-flight requests",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  left = http_drain();
  pool_stop(); /* answers every request still parked */
  http_stop();
  /* After the last request: the flusher writes what they used, once more. */
  unwritten = flusher_stop(&rows_unwritten);
  ratesync_stop(); /* one last sync: what this instance admitted */
  rate_free(rates);
  tusage_free(tusage);
  usage_free(usage);
  db_shutdown();
  if (unwritten > 0)
    log_msg(LOG_WARN, "stopped without recording the use of %zu tokens",
            unwritten);
  if (rows_unwritten > 0)
    log_msg(LOG_WARN,
            "stopped without recording %zu rows of tenant usage (tenant "
            "and minute)",
            rows_unwritten);
  if (left > 0)
    log_msg(LOG_WARN, "stopped with %u requests unfinished after %u s", left,
            cfg.shutdown_timeout);
  else
    log_msg(LOG_INFO, "stopped");
  return 0;

fail: /* after pool_start: undoes what started, each stop a no-op if not */
  log_msg(LOG_ERROR, "cannot start: %s", err);
  ratesync_stop();
  (void)flusher_stop(NULL);
  rate_free(rates);
  tusage_free(tusage);
  usage_free(usage);
  pool_stop();
  db_shutdown();
  return 1;
}
