/* config.c: the settings table, the command-line parser and the reader of
 * the option file's settings (the file-only ones, and trusted-proxy=). A
 * "setting" is one row of cfg_settings; its default goes through the same
 * parser as a flag, so defaults obey the bounds too. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"

/* CFG_NETS is repeatable: each use appends a network, up to max of them.
 * CFG_STRS likewise appends a string; the first value given replaces the
 * default.
 * CFG_HEADER is a string that must be an HTTP header name (client.h).
 * CFG_CLIENT and CFG_SECRET are file-only (config.h): an introspection
 * client's id, and the secret of the client named just before it. */
enum cfg_type {
  CFG_STR,
  CFG_UINT,
  CFG_FLAG,
  CFG_NETS,
  CFG_HEADER,
  CFG_STRS,
  CFG_CLIENT,
  CFG_SECRET
};

struct cfg_setting {
  const char *name;
  enum cfg_type type;
  size_t offset;
  const char *def; /* NULL: no default */
  unsigned long min, max;
  const char *arg;
  const char *help;
};

#define CFG_AT(field) offsetof(struct cfg, field)

static const struct cfg_setting cfg_settings[] = {
    {"listen", CFG_STR, CFG_AT(listen), "127.0.0.1:8080", 0, 0, "ADDR:PORT",
     "address to listen on; IPv6 as [ADDR]:PORT"},
    {"threads", CFG_UINT, CFG_AT(threads), "0", 0, 1024, "N",
     "HTTP worker threads; 0: one per core"},
    {"db-connections", CFG_UINT, CFG_AT(db_connections), "4", 1, 1024, "N",
     "database connections verifying at once"},
    {"batch-max", CFG_UINT, CFG_AT(batch_max), "64", 1, 64, "N",
     "most tokens verified by one call"},
    {"queue-max", CFG_UINT, CFG_AT(queue_max), "4096", 1, 1000000, "N",
     "requests waiting for a database connection; more get 503"},
    {"queue-timeout", CFG_UINT, CFG_AT(queue_timeout), "0", 0, 60000, "MS",
     "longest wait in the queue; 0: --db-read-timeout"},
    {"db-group", CFG_STRS, CFG_AT(db_groups), "tenant-authd", 0, CFG_GROUPS_MAX,
     "NAME", "option-file group read after [client]: one database endpoint"},
    {"defaults-file", CFG_STR, CFG_AT(defaults_file), NULL, 0, 0, "PATH",
     "read only this option file"},
    {"access-log", CFG_FLAG, CFG_AT(access_log), NULL, 0, 0, NULL,
     "log one line per request on stderr"},
    {"idle-timeout", CFG_UINT, CFG_AT(idle_timeout), "30", 1, 3600, "SECONDS",
     "time allowed for each whole request to arrive"},
    {"max-connections", CFG_UINT, CFG_AT(max_connections), "1000", 1, 1000000,
     "N", "client connections at once; more are refused"},
    {"per-ip-connections", CFG_UINT, CFG_AT(per_ip_connections), "0", 0,
     1000000, "N", "connections from one address; 0: no limit"},
    {"header-memory", CFG_UINT, CFG_AT(header_memory), "32768", 4096, 1048576,
     "BYTES", "per-connection memory for the request headers"},
    {"db-connect-timeout", CFG_UINT, CFG_AT(db_connect_timeout), "2", 1, 60,
     "SECONDS", "database connect timeout"},
    {"db-read-timeout", CFG_UINT, CFG_AT(db_read_timeout), "2", 1, 60,
     "SECONDS", "database read timeout"},
    {"db-write-timeout", CFG_UINT, CFG_AT(db_write_timeout), "2", 1, 60,
     "SECONDS", "database write timeout"},
    {"db-retry-max", CFG_UINT, CFG_AT(db_retry_max), "1000", 10, 60000, "MS",
     "longest reconnect backoff (it starts at 50 ms)"},
    {"causal-reads", CFG_FLAG, CFG_AT(causal_reads), NULL, 0, 0, NULL,
     "Galera: each verification waits for the node to apply what the "
     "cluster committed before it (wsrep_sync_wait=1)"},
    {"retry-after", CFG_UINT, CFG_AT(retry_after), "1", 1, 3600, "SECONDS",
     "Retry-After of a 503 (database unavailable)"},
    {"shutdown-timeout", CFG_UINT, CFG_AT(shutdown_timeout), "10", 0, 300,
     "SECONDS", "time left to in-flight requests on SIGTERM"},
    {"auth-fail-limit", CFG_UINT, CFG_AT(auth_fail_limit), "100", 0, 1000000,
     "N", "401s per window per address before 429; 0: off"},
    {"auth-fail-window", CFG_UINT, CFG_AT(auth_fail_window), "60", 1, 86400,
     "SECONDS", "the sliding window of --auth-fail-limit"},
    {"auth-fail-table", CFG_UINT, CFG_AT(auth_fail_table), "65536", 64, 4194304,
     "N", "addresses tracked at most (32 bytes each)"},
    {"usage-interval", CFG_UINT, CFG_AT(usage_interval), "10", 0, 3600,
     "SECONDS", "how often token use is written; 0: never"},
    {"usage-db-group", CFG_STR, CFG_AT(usage_db_group), NULL, 0, 0, "NAME",
     "option-file group for writing use; default: --db-group"},
    {"usage-max", CFG_UINT, CFG_AT(usage_max), "100000", 1, 4194304, "N",
     "distinct tokens whose use waits to be written"},
    {"usage-timeout", CFG_UINT, CFG_AT(usage_timeout), "60", 4, 3600, "SECONDS",
     "database read and write timeout of the calls writing use; each is "
     "sized to take at most a quarter of it"},
    {"limit-sync", CFG_UINT, CFG_AT(limit_sync), "1000", 0, 60000, "MS",
     "how often rate limit counts are shared through the database; 0: "
     "never, each instance limits alone"},
    {"limit-table", CFG_UINT, CFG_AT(limit_table), "200000", 1024, 16777216,
     "N", "rate limit keys (tokens, tenants) held at most"},
    {"trusted-proxy", CFG_NETS, CFG_AT(trusted), NULL, 0, CFG_TRUSTED_MAX,
     "ADDR[/PREFIX]", "peer whose --client-ip-header is believed"},
    {"client-ip-header", CFG_HEADER, CFG_AT(client_ip_header),
     CLIENT_HEADER_DEFAULT, 1, CLIENT_HEADER_MAX, "NAME",
     "the one header a trusted proxy names the client in"},
    {"ipv6-prefix", CFG_UINT, CFG_AT(ipv6_prefix), "64", 1, 128, "N",
     "IPv6 clients are limited per /N (IPv4 per address)"},
    {"introspection-client", CFG_CLIENT, CFG_AT(introspection), NULL, 0,
     INTROSPECT_CLIENTS_MAX, "ID",
     "a client allowed to POST /introspect (HTTP Basic user)"},
    {"introspection-secret", CFG_SECRET, CFG_AT(introspection), NULL,
     INTROSPECT_SECRET_MIN, INTROSPECT_SECRET_MAX, "SECRET",
     "the password of the introspection-client before it"},
};

#define CFG_COUNT (sizeof cfg_settings / sizeof cfg_settings[0])

static const struct cfg_setting *cfg_find(const char *name, size_t len)
{
  for (size_t i = 0; i < CFG_COUNT; i++) {
    if (strlen(cfg_settings[i].name) == len &&
        memcmp(cfg_settings[i].name, name, len) == 0)
      return &cfg_settings[i];
  }
  return NULL;
}

/* Stores value into the setting's field; 0 on success. */
static int cfg_set(struct cfg *cfg, const struct cfg_setting *s,
                   const char *value, char *err, size_t err_size)
{
  char *field = (char *)cfg + s->offset;
  unsigned long n;
  char *end;

  switch (s->type) {
  case CFG_FLAG:
    *(bool *)field = true;
    return 0;
  case CFG_STR:
    if (value[0] == '\0') {
      snprintf(err, err_size, "--%s: expected a value, got an empty one",
               s->name);
      return -1;
    }
    *(const char **)field = value;
    return 0;
  case CFG_STRS: {
    struct cfg_strs *strs = (struct cfg_strs *)field;

    if (value[0] == '\0') {
      snprintf(err, err_size, "--%s: expected a value, got an empty one",
               s->name);
      return -1;
    }
    if (strs->defaulted) {
      strs->count = 0;
      strs->defaulted = false;
    }
    if (strs->count >= s->max) {
      snprintf(err, err_size, "--%s: given more than %lu times", s->name,
               s->max);
      return -1;
    }
    strs->v[strs->count++] = value;
    return 0;
  }
  case CFG_NETS: {
    struct cfg_nets *nets = (struct cfg_nets *)field;
    char why[160];

    if (nets->count >= s->max) {
      snprintf(err, err_size, "--%s: given more than %lu times", s->name,
               s->max);
      return -1;
    }
    if (client_net_parse(&nets->net[nets->count], value, why, sizeof why) !=
        0) {
      snprintf(err, err_size, "--%s: %s", s->name, why);
      return -1;
    }
    nets->count++;
    return 0;
  }
  case CFG_HEADER: {
    char why[160];

    if (client_header_name_check(value, why, sizeof why) != 0) {
      snprintf(err, err_size, "--%s: %s", s->name, why);
      return -1;
    }
    *(const char **)field = value;
    return 0;
  }
  case CFG_CLIENT:
  case CFG_SECRET:
    snprintf(err, err_size,
             "--%s: only in the [" CFG_FILE_GROUP "] group of the "
             "--defaults-file option file, never on the command line",
             s->name);
    return -1;
  case CFG_UINT:
    break;
  }
  errno = 0;
  n = strtoul(value, &end, 10);
  if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
      n < s->min || n > s->max) {
    snprintf(err, err_size, "--%s: expected an integer from %lu to %lu",
             s->name, s->min, s->max);
    return -1;
  }
  *(unsigned *)field = (unsigned)n;
  return 0;
}

/* Resolves cfg->listen ("1.2.3.4:80" or "[::1]:80") into cfg->addr. */
static int cfg_parse_listen(struct cfg *cfg, char *err, size_t err_size)
{
  char host[INET6_ADDRSTRLEN + 1];
  const char *s = cfg->listen, *colon, *port_s;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&cfg->addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg->addr;
  unsigned long port;
  size_t host_len;
  char *end;
  bool v6 = s[0] == '[';

  colon = strrchr(s, ':');
  if (colon == NULL)
    goto bad;
  if (v6) {
    if (colon == s || colon[-1] != ']')
      goto bad;
    s++;
    host_len = (size_t)(colon - 1 - s);
  } else {
    host_len = (size_t)(colon - s);
  }
  port_s = colon + 1;
  if (host_len == 0 || host_len >= sizeof host)
    goto bad;
  memcpy(host, s, host_len);
  host[host_len] = '\0';
  errno = 0;
  port = strtoul(port_s, &end, 10);
  if (port_s[0] < '0' || port_s[0] > '9' || *end != '\0' || errno != 0 ||
      port < 1 || port > 65535)
    goto bad;
  memset(&cfg->addr, 0, sizeof cfg->addr);
  if (v6) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
      goto bad;
    cfg->addr_len = sizeof *in6;
    return 0;
  }
  in4->sin_family = AF_INET;
  in4->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
    goto bad;
  cfg->addr_len = sizeof *in4;
  return 0;
bad:
  snprintf(err, err_size,
           "--listen: expected IPV4:PORT or [IPV6]:PORT with a numeric "
           "address and a port from 1 to 65535");
  return -1;
}

/* True when the option-file name n[0..len) is name, '_' standing for
 * '-' as MariaDB allows. */
static bool cfg_file_name_is(const char *n, size_t len, const char *name)
{
  size_t i = 0;

  for (; i < len && name[i] != '\0'; i++) {
    if (n[i] != name[i] && !(n[i] == '_' && name[i] == '-'))
      return false;
  }
  return i == len && name[i] == '\0';
}

static const char *cfg_file_trim(const char *s, const char *end,
                                 const char **trimmed_end)
{
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    end--;
  *trimmed_end = end;
  return s;
}

/* Appends the trusted-proxy network value[0..len) given in the option
 * file, as --trusted-proxy would; 0 on success. */
static int cfg_file_net(struct cfg *cfg, const char *value, size_t len,
                        char *err, size_t err_size)
{
  char buf[64];

  if (len == 0 || len >= sizeof buf || memchr(value, '\0', len) != NULL) {
    snprintf(err, err_size,
             "trusted-proxy: expected ADDR[/PREFIX], got %s value",
             len == 0 ? "an empty" : "an oversized or binary");
    return -1;
  }
  memcpy(buf, value, len);
  buf[len] = '\0';
  return cfg_set(cfg, cfg_find("trusted-proxy", strlen("trusted-proxy")), buf,
                 err, err_size);
}

/* Reads the file-only settings from the [CFG_FILE_GROUP] group of text,
 * in MariaDB's option-file syntax: "[group]" lines, "name=value" lines
 * with blanks allowed around both, '#' and ';' comment lines, '_' for
 * '-' in names, a value in single or double quotes. Other groups and
 * names are Connector/C's; "!include" lines are not followed. */
static int cfg_file_parse(struct cfg *cfg, const char *path, const char *text,
                          size_t len, char *err, size_t err_size)
{
  const char *p = text, *end = text + len, *id = NULL;
  size_t id_len = 0;
  unsigned line = 0;
  bool in_group = false;
  char why[256];

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl != NULL ? nl : end, *l, *l_end, *eq, *name, *name_end;
    const char *value, *value_end;

    line++;
    l = cfg_file_trim(p, eol, &l_end);
    p = nl != NULL ? nl + 1 : end;
    if (l == l_end || *l == '#' || *l == ';' || *l == '!')
      continue;
    if (*l == '[') {
      const char *g_end, *g = cfg_file_trim(l + 1, l_end, &g_end);
      if (g_end == g || g_end[-1] != ']')
        continue; /* not a group line: Connector/C's business */
      g = cfg_file_trim(g, g_end - 1, &g_end);
      in_group = (size_t)(g_end - g) == strlen(CFG_FILE_GROUP) &&
                 memcmp(g, CFG_FILE_GROUP, (size_t)(g_end - g)) == 0;
      continue;
    }
    if (!in_group)
      continue;
    eq = memchr(l, '=', (size_t)(l_end - l));
    name = cfg_file_trim(l, eq != NULL ? eq : l_end, &name_end);
    if (eq != NULL) {
      value = cfg_file_trim(eq + 1, l_end, &value_end);
    } else {
      value = value_end = l_end;
    }
    if (value_end - value >= 2 && (*value == '"' || *value == '\'') &&
        value_end[-1] == *value) {
      value++;
      value_end--;
    }
    if (cfg_file_name_is(name, (size_t)(name_end - name),
                         "introspection-client")) {
      if (id != NULL) {
        snprintf(err, err_size,
                 "%.128s line %u: introspection-client without an "
                 "introspection-secret after the one before it",
                 path, line);
        return -1;
      }
      id = value;
      id_len = (size_t)(value_end - value);
      if (id_len == 0) {
        snprintf(err, err_size,
                 "%.128s line %u: introspection-client: expected a value, "
                 "got an empty one",
                 path, line);
        return -1;
      }
    } else if (cfg_file_name_is(name, (size_t)(name_end - name),
                                "trusted-proxy")) {
      if (cfg_file_net(cfg, value, (size_t)(value_end - value), why,
                       sizeof why) != 0) {
        snprintf(err, err_size, "%.128s line %u: %s", path, line, why);
        return -1;
      }
    } else if (cfg_file_name_is(name, (size_t)(name_end - name),
                                "introspection-secret")) {
      if (id == NULL) {
        snprintf(err, err_size,
                 "%.128s line %u: introspection-secret without an "
                 "introspection-client before it",
                 path, line);
        return -1;
      }
      if (introspect_client_add(&cfg->introspection, id, id_len, value,
                                (size_t)(value_end - value), why,
                                sizeof why) != 0) {
        snprintf(err, err_size, "%.128s line %u: %s", path, line, why);
        return -1;
      }
      id = NULL;
    }
  }
  if (id != NULL) {
    snprintf(err, err_size,
             "%.128s: introspection-client without an introspection-secret "
             "after it",
             path);
    return -1;
  }
  return 0;
}

/* Reads the file-only settings from path (--defaults-file): any file but
 * a directory (/dev/null is an empty one), at most CFG_FILE_MAX bytes. A
 * file that holds a secret must not be readable by others. */
static int cfg_read_file(struct cfg *cfg, const char *path, char *err,
                         size_t err_size)
{
  FILE *f = fopen(path, "r");
  struct stat st;
  char *text;
  size_t len;
  int rc;

  if (f == NULL) {
    snprintf(err, err_size, "--defaults-file: cannot open %.128s: %s", path,
             strerror(errno));
    return -1;
  }
  if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
    snprintf(err, err_size, "--defaults-file: %.128s is not a file", path);
    fclose(f);
    return -1;
  }
  text = malloc(CFG_FILE_MAX + 1);
  if (text == NULL) {
    snprintf(err, err_size, "--defaults-file: out of memory");
    fclose(f);
    return -1;
  }
  len = fread(text, 1, CFG_FILE_MAX + 1, f);
  fclose(f);
  if (len > CFG_FILE_MAX) {
    snprintf(err, err_size, "--defaults-file: %.128s is over %d bytes", path,
             CFG_FILE_MAX);
    rc = -1;
  } else {
    rc = cfg_file_parse(cfg, path, text, len, err, err_size);
  }
  /* The file holds the database password and the secrets. */
  explicit_bzero(text, CFG_FILE_MAX + 1);
  free(text);
  if (rc == 0 && cfg->introspection.count > 0 && (st.st_mode & S_IRWXO)) {
    snprintf(err, err_size,
             "--defaults-file: %.128s holds introspection secrets and is "
             "readable by others: chmod o-rwx it",
             path);
    return -1;
  }
  return rc;
}

enum cfg_parse_result cfg_parse(struct cfg *cfg, int argc, char **argv,
                                char *err, size_t err_size)
{
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < CFG_COUNT; i++) {
    const struct cfg_setting *s = &cfg_settings[i];
    if (s->def != NULL && cfg_set(cfg, s, s->def, err, err_size) != 0)
      return CFG_ERROR;
    if (s->type == CFG_STRS)
      ((struct cfg_strs *)((char *)cfg + s->offset))->defaulted = true;
  }
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *name, *eq, *value = NULL;
    const struct cfg_setting *s;
    size_t name_len;

    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
      return CFG_HELP;
    if (strcmp(arg, "--version") == 0)
      return CFG_VERSION;
    if (strncmp(arg, "--", 2) != 0) {
      snprintf(err, err_size, "unexpected argument \"%.64s\"", arg);
      return CFG_ERROR;
    }
    name = arg + 2;
    eq = strchr(name, '=');
    name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    s = cfg_find(name, name_len);
    if (s == NULL) {
      snprintf(err, err_size, "unknown flag \"--%.*s\"", (int)name_len, name);
      return CFG_ERROR;
    }
    if (s->type == CFG_FLAG) {
      if (eq != NULL) {
        snprintf(err, err_size, "--%s takes no value", s->name);
        return CFG_ERROR;
      }
    } else if (eq != NULL) {
      value = eq + 1;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      snprintf(err, err_size, "--%s needs a value (%s)", s->name, s->arg);
      return CFG_ERROR;
    }
    if (cfg_set(cfg, s, value, err, err_size) != 0)
      return CFG_ERROR;
  }
  if (cfg->threads == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = cores > 0 && cores <= 1024 ? (unsigned)cores : 1;
  }
  cfg->db_group = cfg->db_groups.v[0];
  for (unsigned i = 0; i < cfg->db_groups.count; i++) {
    for (unsigned j = 0; j < i; j++) {
      if (strcmp(cfg->db_groups.v[i], cfg->db_groups.v[j]) == 0) {
        snprintf(err, err_size, "--db-group: \"%.64s\" given twice",
                 cfg->db_groups.v[i]);
        return CFG_ERROR;
      }
    }
  }
  if (cfg->queue_timeout == 0)
    cfg->queue_timeout = cfg->db_read_timeout * 1000U;
  if (cfg->defaults_file != NULL &&
      cfg_read_file(cfg, cfg->defaults_file, err, err_size) != 0)
    return CFG_ERROR;
  if (cfg_parse_listen(cfg, err, err_size) != 0)
    return CFG_ERROR;
  return CFG_RUN;
}

void cfg_usage(FILE *out)
{
  fprintf(out, "Usage: tenant-authd [FLAG]...\n"
               "HTTP front end that authenticates bearer tokens in MariaDB.\n"
               "Database host, port, socket, user, password and database come "
               "from MariaDB\noption files: [client], then the --db-group "
               "group.\n\n");
  for (size_t i = 0; i < CFG_COUNT; i++) {
    const struct cfg_setting *s = &cfg_settings[i];
    char flag[64];

    if (s->type == CFG_CLIENT || s->type == CFG_SECRET)
      snprintf(flag, sizeof flag, "%s=%s", s->name, s->arg);
    else
      snprintf(flag, sizeof flag, "--%s%s%s", s->name, s->arg ? " " : "",
               s->arg ? s->arg : "");
    fprintf(out, "  %-29s %s\n", flag, s->help);
    if (s->type == CFG_UINT)
      fprintf(out, "  %-29s default %s, from %lu to %lu\n", "", s->def, s->min,
              s->max);
    else if (s->type == CFG_STRS)
      fprintf(out, "  %-29s default %s; repeatable, at most %lu times\n", "",
              s->def, s->max);
    else if (s->type == CFG_NETS)
      fprintf(out,
              "  %-29s default none; repeatable, at most %lu times; also\n"
              "  %-29s trusted-proxy= in the [" CFG_FILE_GROUP "] group of "
              "--defaults-file\n",
              "", s->max, "");
    else if (s->type == CFG_CLIENT)
      fprintf(out,
              "  %-29s only in the [" CFG_FILE_GROUP "] group of "
              "--defaults-file; at most %lu\n  %-29s clients; 1 to %d of "
              "A-Z a-z 0-9 - . _ ~\n",
              "", s->max, "", INTROSPECT_ID_MAX);
    else if (s->type == CFG_SECRET)
      fprintf(out,
              "  %-29s only there too; %lu to %lu of A-Z a-z 0-9 - . _ ~;\n"
              "  %-29s the file must not be readable by others\n",
              "", s->min, s->max, "");
    else if (s->def != NULL)
      fprintf(out, "  %-29s default %s\n", "", s->def);
  }
  fprintf(out, "  %-29s %s\n  %-29s %s\n", "--help", "print this and exit",
          "--version", "print the version and exit");
  fprintf(out,
          "\nExit status: 0 after SIGTERM or SIGINT, 1 when it cannot "
          "start, 2 on a bad flag.\nVersion %s.\n",
          TENANT_AUTH_VERSION);
}
