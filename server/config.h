/* config.h: tenant-authd's settings. Each one is a row of the table in
 * config.c (name, default, bounds, one-line description) and a command-line
 * flag "--name VALUE" or "--name=VALUE", except the "file-only" settings:
 * the introspection clients and their secrets, read from the [tenant-authd]
 * group of the --defaults-file option file and refused on the command line,
 * where every user of the machine could read them. trusted-proxy may be
 * given there too, so that a packaged unit trusts its local gateway by a
 * line of its option file rather than by a default. Database credentials are
 * not settings: they come from MariaDB option files. */
#ifndef TENANT_AUTHD_CONFIG_H
#define TENANT_AUTHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "client.h"
#include "introspect.h"

#define CFG_TRUSTED_MAX 64 /* --trusted-proxy given at most this often */
#define CFG_GROUPS_MAX 16  /* --db-group given at most this often */

/* A repeatable string setting's values, in the order given. */
struct cfg_strs {
  const char *v[CFG_GROUPS_MAX];
  unsigned count;
  bool defaulted; /* still the default: the first value given replaces it */
};

/* A repeatable setting's values: networks in the order given. */
struct cfg_nets {
  struct client_net net[CFG_TRUSTED_MAX];
  unsigned count;
};

struct cfg {
  const char *listen;        /* ADDR:PORT as given */
  unsigned threads;          /* 0 until cfg_parse resolves it to the cores */
  unsigned db_connections;   /* pool connections (pool.h) */
  unsigned batch_max;        /* tokens per verify statement, at most */
  unsigned queue_max;        /* requests queued for the pool, at most */
  unsigned queue_timeout;    /* ms in the queue; 0 until resolved */
  struct cfg_strs db_groups; /* --db-group: one endpoint each */
  const char *db_group;      /* the first of them */
  const char *defaults_file; /* NULL: Connector/C's default option files */
  bool access_log;
  unsigned idle_timeout;       /* seconds allowed per request (conns.h) */
  unsigned max_connections;    /* whole daemon; more are refused (conns.h) */
  unsigned per_ip_connections; /* 0: no per-address limit */
  unsigned header_memory;      /* bytes per connection */
  unsigned db_connect_timeout; /* seconds */
  unsigned db_read_timeout;    /* seconds */
  unsigned db_write_timeout;   /* seconds */
  unsigned db_retry_max;       /* milliseconds, the longest reconnect backoff */
  bool causal_reads;           /* SET SESSION wsrep_sync_wait = 1 (db.h) */
  unsigned retry_after;        /* seconds, sent with 503 */
  unsigned shutdown_timeout;   /* seconds to finish in-flight requests */
  unsigned auth_fail_limit;    /* failures per window per address; 0: off */
  unsigned auth_fail_window;   /* seconds */
  unsigned auth_fail_table;    /* addresses tracked, at most */
  struct cfg_nets trusted;     /* --trusted-proxy networks */
  const char *client_ip_header; /* the one header a trusted proxy sets */
  unsigned ipv6_prefix;         /* IPv6 clients are limited per this prefix */
  unsigned usage_interval;      /* seconds between usage flushes; 0: off */
  unsigned usage_max;           /* distinct hashes pending at most */
  const char *usage_db_group;   /* NULL: db_group */
  unsigned usage_timeout;       /* seconds: the flusher's read/write timeout */
  unsigned limit_sync;          /* ms between rate limit syncs; 0: none */
  unsigned limit_table;         /* rate limit keys held at most */
  /* introspection-client= and introspection-secret= (file-only). */
  struct introspect_clients introspection;

  /* Resolved from listen by cfg_parse. */
  struct sockaddr_storage addr;
  socklen_t addr_len;
};

enum cfg_parse_result { CFG_RUN, CFG_HELP, CFG_VERSION, CFG_ERROR };

/* Fills cfg with the defaults, applies argv, then reads the file-only
 * settings from --defaults-file when one is given. On CFG_ERROR the reason
 * is in err, which never quotes a secret. */
enum cfg_parse_result cfg_parse(struct cfg *cfg, int argc, char **argv,
                                char *err, size_t err_size);

/* The group of the option file the file-only settings are read from. */
#define CFG_FILE_GROUP "tenant-authd"
/* An option file larger than this is refused. */
#define CFG_FILE_MAX (1024 * 1024)

/* Prints the usage text, one line per setting, to out. */
void cfg_usage(FILE *out);

#endif
