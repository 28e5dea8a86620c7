/* db.c: connections, the verify call, the revocation and the usage note;
 * see db.h. Terms: "backoff" is the wait before the next connect attempt
 * after a failure, from DB_BACKOFF_MIN_MS doubling up to the configured
 * maximum (backoff.h); an "attempt" is one try of a call between db_ready
 * and db_again, which decide whether it is tried once more. */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "backoff.h"
#include "clock.h"

/* The statements, each prepared on its first use on a connection: a new
 * one is a name here, its text below, and a call that runs it. */
enum db_stmt {
  DB_STMT_VERIFY,
  DB_STMT_NOTE,
  DB_STMT_REVOKE,
  DB_STMT_TENANT_USAGE,
  DB_STMT_RATE_SYNC,
  DB_STMTS
};
static const char *const db_stmt_text[DB_STMTS] = {
    [DB_STMT_VERIFY] = "CALL authorize_tenant_token_hashes(?)",
    [DB_STMT_NOTE] = "CALL note_tenant_token_use(?)",
    [DB_STMT_REVOKE] = "CALL revoke_leaked_tenant_token(?)",
    [DB_STMT_TENANT_USAGE] = "CALL add_tenant_usage(?, ?, ?)",
    [DB_STMT_RATE_SYNC] = "CALL sync_tenant_rate_counts(?, ?, ?)",
};
/* What a database without authorize_tenant_token_hashes (a schema older
 * than 1.4.0) makes the verify call say. */
#define DB_SCHEMA_OLD                                                          \
  "authorize_tenant_token_hashes does not exist or is not granted: "           \
  "tenant-authd " TENANT_AUTH_VERSION                                          \
  " needs schema 1.4.0 or later; upgrade the database first "                  \
  "(docs/operations.md, Upgrading)"
/* Run on each new connection: no statement tenant-authd sends for a
 * request holds a token (verification sends hashes), but a revocation
 * does, and a slow one must not write it into MariaDB's slow query log.
 * No privilege is needed to set it for one's own session (the verifier
 * role alone does, tests/http/run slow_log_no_token); if it fails,
 * tenant-authd says so once and goes on. */
#define DB_SESSION_SETUP "SET SESSION slow_query_log=0"
/* --causal-reads: on a Galera node, a read first waits until the node has
 * applied every write set the cluster committed before it, so a token
 * revoked on any node fails here too. A server that cannot set it fails
 * the connection: the operator asked for a guarantee it cannot give. */
#define DB_CAUSAL_READS "SET SESSION wsrep_sync_wait = 1"
#define DB_BACKOFF_MIN_MS 50
/* A reused connection whose call fails faster than this had a dead socket
 * (the server restarted): it is replaced once at once. A slower failure is a
 * timeout, and trying again would only double the wait. */
#define DB_FAST_FAIL_MS 250

struct db_conn {
  MYSQL *mysql;               /* NULL while closed */
  MYSQL_STMT *stmt[DB_STMTS]; /* db_stmt_text, NULL until used */
  unsigned backoff_ms;
  uint64_t retry_at_us; /* no connect attempt before this (clock.h) */
  char last_err[192];
  unsigned last_errno; /* of the statement that failed last; 0 otherwise */
  const char *group;   /* option-file group */
  unsigned timeout_s;  /* read and write timeout; 0: db_cfg's */
};

static struct db_settings db_cfg;
static atomic_uint db_open;
static atomic_bool db_setup_warned;
/* The first DB_SESSION_SETUP failure, for db_take_warning (under
 * db_warning_lock). */
static pthread_mutex_t db_warning_lock = PTHREAD_MUTEX_INITIALIZER;
static char db_warning[256];
static atomic_uint_fast64_t db_retried;

static void db_close(struct db_conn *t)
{
  for (size_t i = 0; i < DB_STMTS; i++) {
    if (t->stmt[i] != NULL) {
      mysql_stmt_close(t->stmt[i]);
      t->stmt[i] = NULL;
    }
  }
  if (t->mysql != NULL) {
    mysql_close(t->mysql);
    t->mysql = NULL;
    atomic_fetch_sub(&db_open, 1);
  }
}

/* Sets DB_CAUSAL_READS on m; 0 on success. A server that is not a Galera
 * node (wsrep_on is OFF: a single server, an asynchronous replica) accepts
 * the setting and ignores it, so it is refused here rather than giving the
 * operator a guarantee it does not keep. */
static int db_causal_reads(MYSQL *m, char *err, size_t err_size)
{
  static const char on[] = "SELECT @@SESSION.wsrep_on";
  MYSQL_RES *res;
  MYSQL_ROW row;
  bool galera;

  if (mysql_real_query(m, DB_CAUSAL_READS, sizeof DB_CAUSAL_READS - 1) != 0 ||
      mysql_real_query(m, on, sizeof on - 1) != 0 ||
      (res = mysql_store_result(m)) == NULL) {
    snprintf(err, err_size, "connect: --causal-reads: %s (%u)", mysql_error(m),
             mysql_errno(m));
    return -1;
  }
  row = mysql_fetch_row(res);
  galera = row != NULL && row[0] != NULL && strcmp(row[0], "1") == 0;
  mysql_free_result(res);
  if (!galera) {
    snprintf(err, err_size,
             "connect: --causal-reads needs a Galera node, and wsrep_on is "
             "OFF on this server");
    return -1;
  }
  return 0;
}

/* Opens t's connection, turns autocommit on, sets DB_CAUSAL_READS if asked
 * and runs DB_SESSION_SETUP; 0 on
 * success. Statements are prepared when first used. Autocommit is set whatever
 * the server's default or an option file's init-command says: in one long
 * transaction a connection would keep reading an old snapshot, and a revoked
 * token would go on verifying. */
static int db_connect(struct db_conn *t, char *err, size_t err_size)
{
  unsigned connect_timeout = db_cfg.connect_timeout;
  unsigned read_timeout = t->timeout_s > 0 ? t->timeout_s : db_cfg.read_timeout;
  unsigned write_timeout =
      t->timeout_s > 0 ? t->timeout_s : db_cfg.write_timeout;
  my_bool reconnect = 0;
  MYSQL *m = mysql_init(NULL);

  if (m == NULL) {
    snprintf(err, err_size, "connect: out of memory");
    return -1;
  }
  if ((db_cfg.defaults_file != NULL &&
       mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, db_cfg.defaults_file)) ||
      mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, t->group) ||
      mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout) ||
      mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_timeout) ||
      mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout) ||
      mysql_optionsv(m, MYSQL_OPT_RECONNECT, &reconnect)) {
    snprintf(err, err_size, "connect: cannot set client options");
    mysql_close(m);
    return -1;
  }
  if (mysql_real_connect(m, NULL, NULL, NULL, NULL, 0, NULL, 0) == NULL) {
    snprintf(err, err_size, "connect: %s (%u)", mysql_error(m), mysql_errno(m));
    mysql_close(m);
    return -1;
  }
  if (mysql_autocommit(m, 1) != 0) {
    snprintf(err, err_size, "connect: cannot set autocommit=1: %s (%u)",
             mysql_error(m), mysql_errno(m));
    mysql_close(m);
    return -1;
  }
  if (db_cfg.causal_reads && db_causal_reads(m, err, err_size) != 0) {
    mysql_close(m);
    return -1;
  }
  if (mysql_real_query(m, DB_SESSION_SETUP, sizeof DB_SESSION_SETUP - 1) != 0 &&
      !atomic_exchange(&db_setup_warned, true)) {
    pthread_mutex_lock(&db_warning_lock);
    snprintf(db_warning, sizeof db_warning,
             "%s failed: %s (%u); a slow verification may log its token in "
             "the slow query log",
             DB_SESSION_SETUP, mysql_error(m), mysql_errno(m));
    pthread_mutex_unlock(&db_warning_lock);
  }
  t->mysql = m;
  atomic_fetch_add(&db_open, 1);
  return 0;
}

/* Records a failure: the next connect attempt waits for the backoff. */
static void db_backoff(struct db_conn *t, const char *reason)
{
  t->backoff_ms =
      backoff_next_ms(t->backoff_ms, DB_BACKOFF_MIN_MS, db_cfg.retry_max_ms);
  t->retry_at_us = clock_now_us() + (uint64_t)t->backoff_ms * 1000;
  snprintf(t->last_err, sizeof t->last_err, "%s", reason);
}

/* Prepares *stmt as query on t's connection unless it already is. */
static enum db_result db_prepare(struct db_conn *t, MYSQL_STMT **stmt,
                                 const char *query, size_t len, char *err,
                                 size_t err_size)
{
  if (*stmt != NULL)
    return DB_OK;
  *stmt = mysql_stmt_init(t->mysql);
  if (*stmt == NULL) {
    snprintf(err, err_size, "prepare: out of memory");
    return DB_ERROR;
  }
  if (mysql_stmt_prepare(*stmt, query, len) != 0) {
    snprintf(err, err_size, "prepare: %s (%u)", mysql_stmt_error(*stmt),
             mysql_stmt_errno(*stmt));
    t->last_errno = mysql_stmt_errno(*stmt);
    mysql_stmt_close(*stmt);
    *stmt = NULL;
    return DB_ERROR;
  }
  return DB_OK;
}

/* authorize_tenant_token_hashes's columns, in their order (install.sql):
 * verify_tenant_token_hashes's seven, then the token's and the tenant's
 * rate limits (NULL: none). */
enum db_col {
  DB_COL_POS,
  DB_COL_STATE,
  DB_COL_TENANT,
  DB_COL_TOKEN_ID,
  DB_COL_ABILITIES,
  DB_COL_ISSUED,
  DB_COL_EXPIRES,
  DB_COL_TOKEN_REQUESTS,
  DB_COL_TOKEN_SECONDS,
  DB_COL_TENANT_REQUESTS,
  DB_COL_TENANT_SECONDS,
  DB_COLS
};

/* One row of the verify call, bound to the statement's columns. */
struct db_row {
  MYSQL_BIND bind[DB_COLS];
  unsigned long len[DB_COLS];
  my_bool is_null[DB_COLS], truncated[DB_COLS];
  uint32_t pos;
  char state[16];
  char tenant[TOKEN_UUID_LEN + 1];
  uint64_t token_id;
  int64_t issued, expires;
  uint32_t limit[4]; /* DB_COL_TOKEN_REQUESTS.. in column order */
  char abilities[ABILITY_SET_MAX + 1];
};

static void db_bind(struct db_row *r, enum db_col c, enum enum_field_types type,
                    void *buf, size_t size, bool is_unsigned)
{
  r->bind[c].buffer_type = type;
  r->bind[c].buffer = buf;
  r->bind[c].buffer_length = (unsigned long)size;
  r->bind[c].is_unsigned = is_unsigned;
  r->bind[c].length = &r->len[c];
  r->bind[c].is_null = &r->is_null[c];
  r->bind[c].error = &r->truncated[c];
}

/* True when column c may be NULL: the expiry and the limits. */
static bool db_col_nullable(int c)
{
  return c == DB_COL_EXPIRES || c >= DB_COL_TOKEN_REQUESTS;
}

/* The limit of requests in column rc and seconds in column sc of r: none
 * when both are NULL; false when only one is, or a value is out of the
 * schema's bounds (its CHECK constraints say the same). */
static bool db_take_limit(const struct db_row *r, int rc, int sc,
                          struct verdict_limit *out)
{
  uint32_t q = r->limit[rc - DB_COL_TOKEN_REQUESTS];
  uint32_t w = r->limit[sc - DB_COL_TOKEN_REQUESTS];

  *out = (struct verdict_limit){0, 0};
  if (r->is_null[rc] && r->is_null[sc])
    return true;
  if (r->is_null[rc] || r->is_null[sc] || q < 1 || q > 1000000000 || w < 1 ||
      w > 86400)
    return false;
  *out = (struct verdict_limit){q, w};
  return true;
}

/* Reads the fetched row r into out (n tokens); false when the row is not
 * what the routine promises. Only the abilities may be truncated: a longer
 * set is kept as too long, which grants nothing. */
static bool db_take_row(const struct db_row *r, struct db_token *out, size_t n)
{
  struct db_token *o;
  enum verdict_state state;
  struct verdict_limit token_limit, tenant_limit;

  for (int c = 0; c < DB_COLS; c++) {
    if (r->is_null[c] ? !db_col_nullable(c)
                      : c != DB_COL_ABILITIES && r->truncated[c])
      return false;
  }
  if (!db_take_limit(r, DB_COL_TOKEN_REQUESTS, DB_COL_TOKEN_SECONDS,
                     &token_limit) ||
      !db_take_limit(r, DB_COL_TENANT_REQUESTS, DB_COL_TENANT_SECONDS,
                     &tenant_limit))
    return false;
  if (r->pos >= n || r->len[DB_COL_TENANT] != TOKEN_UUID_LEN ||
      !verdict_state_parse(r->state, r->len[DB_COL_STATE], &state))
    return false;
  o = &out[r->pos];
  o->verdict.state = state;
  memcpy(o->verdict.tenant_id, r->tenant, TOKEN_UUID_LEN);
  o->verdict.tenant_id[TOKEN_UUID_LEN] = '\0';
  o->verdict.token_id = r->token_id;
  o->verdict.issued_at = r->issued;
  o->verdict.expires_at =
      r->is_null[DB_COL_EXPIRES] ? VERDICT_NEVER : r->expires;
  o->verdict.token_limit = token_limit;
  o->verdict.tenant_limit = tenant_limit;
  o->abilities_len = r->len[DB_COL_ABILITIES];
  memcpy(o->abilities, r->abilities,
         o->abilities_len <= ABILITY_SET_MAX ? o->abilities_len : 0);
  return true;
}

/* After a failed verify call: a routine that does not exist is an old
 * schema, and err says so instead of the server's words. An account that
 * holds the verifier role is refused EXECUTE on a routine that is missing
 * (the role's grant names only those that exist), so that error says it
 * too. */
static void db_schema_old(const struct db_conn *t, char *err, size_t err_size)
{
  if (t->last_errno == ER_SP_DOES_NOT_EXIST ||
      t->last_errno == ER_PROCACCESS_DENIED_ERROR)
    snprintf(err, err_size, "verify: %s", DB_SCHEMA_OLD);
}

/* Runs the verify call for n packed hashes on t's connection, preparing it
 * on first use, and reads its rows into out; a hash without a row stays
 * VERDICT_UNKNOWN. */
static enum db_result db_execute_verify(struct db_conn *t,
                                        const unsigned char *hashes, size_t n,
                                        struct db_token *out, char *err,
                                        size_t err_size)
{
  MYSQL_STMT *stmt;
  MYSQL_BIND param;
  unsigned long len = (unsigned long)(n * TOKEN_HASH_LEN);
  struct db_row row, *r = &row;
  bool bad = false;
  int rc;

  for (size_t i = 0; i < n; i++) {
    memset(&out[i].verdict, 0, sizeof out[i].verdict);
    out[i].verdict.state = VERDICT_UNKNOWN;
    out[i].abilities_len = 0;
  }
  if (db_prepare(t, &t->stmt[DB_STMT_VERIFY], db_stmt_text[DB_STMT_VERIFY],
                 strlen(db_stmt_text[DB_STMT_VERIFY]), err,
                 err_size) != DB_OK) {
    db_schema_old(t, err, err_size);
    return DB_ERROR;
  }
  stmt = t->stmt[DB_STMT_VERIFY];
  memset(&param, 0, sizeof param);
  param.buffer_type = MYSQL_TYPE_BLOB;
  param.buffer = (void *)hashes;
  param.buffer_length = len;
  param.length = &len;
  memset(r->bind, 0, sizeof r->bind);
  db_bind(r, DB_COL_POS, MYSQL_TYPE_LONG, &r->pos, sizeof r->pos, true);
  db_bind(r, DB_COL_STATE, MYSQL_TYPE_STRING, r->state, sizeof r->state, false);
  db_bind(r, DB_COL_TENANT, MYSQL_TYPE_STRING, r->tenant, sizeof r->tenant,
          false);
  db_bind(r, DB_COL_TOKEN_ID, MYSQL_TYPE_LONGLONG, &r->token_id,
          sizeof r->token_id, true);
  db_bind(r, DB_COL_ABILITIES, MYSQL_TYPE_STRING, r->abilities,
          sizeof r->abilities, false);
  db_bind(r, DB_COL_ISSUED, MYSQL_TYPE_LONGLONG, &r->issued, sizeof r->issued,
          false);
  db_bind(r, DB_COL_EXPIRES, MYSQL_TYPE_LONGLONG, &r->expires,
          sizeof r->expires, false);
  for (int c = DB_COL_TOKEN_REQUESTS; c < DB_COLS; c++)
    db_bind(r, c, MYSQL_TYPE_LONG, &r->limit[c - DB_COL_TOKEN_REQUESTS],
            sizeof r->limit[0], true);
  if (mysql_stmt_bind_param(stmt, &param) != 0 || mysql_stmt_execute(stmt) != 0)
    goto failed;
  if (mysql_stmt_field_count(stmt) != DB_COLS) {
    snprintf(err, err_size,
             "verify: expected %d columns from authorize_tenant_token_hashes, "
             "got %u",
             DB_COLS, mysql_stmt_field_count(stmt));
    bad = true;
  } else if (mysql_stmt_bind_result(stmt, r->bind) != 0) {
    goto failed;
  } else {
    /* Connector/C leaves the truncation flag of a NULL column as it was:
     * every flag starts at 0 for each row. */
    for (;;) {
      memset(r->is_null, 0, sizeof r->is_null);
      memset(r->truncated, 0, sizeof r->truncated);
      rc = mysql_stmt_fetch(stmt);
      if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
        break;
      if (!bad && !db_take_row(r, out, n)) {
        snprintf(err, err_size,
                 "verify: a row of authorize_tenant_token_hashes is not what "
                 "it promises");
        bad = true;
      }
    }
    if (rc == 1)
      goto failed;
  }
  /* A CALL ends with a status result; read to the end of them. */
  mysql_stmt_free_result(stmt);
  while ((rc = mysql_stmt_next_result(stmt)) == 0)
    mysql_stmt_free_result(stmt);
  if (rc > 0)
    goto failed;
  return bad ? DB_ERROR : DB_OK;
failed:
  snprintf(err, err_size, "verify: %s (%u)", mysql_stmt_error(stmt),
           mysql_stmt_errno(stmt));
  t->last_errno = mysql_stmt_errno(stmt);
  db_schema_old(t, err, err_size);
  return DB_ERROR;
}

/* Sets param to len bytes at value, of type type; len must outlive it. */
static void db_bind_in(MYSQL_BIND *param, enum enum_field_types type,
                       const void *value, unsigned long *len)
{
  memset(param, 0, sizeof *param);
  param->buffer_type = type;
  param->buffer = (void *)value;
  param->buffer_length = *len;
  param->length = len;
}

/* Binds the three parameters of a numbered batch (add_tenant_usage,
 * sync_tenant_rate_counts): instance, the batch number as text in seq, and
 * json[0..len); lens and seq must outlive params. */
static void db_bind_batch(MYSQL_BIND params[3], unsigned long lens[3],
                          char seq[24], const char *instance, uint64_t batch,
                          const char *json, size_t len)
{
  snprintf(seq, 24, "%llu", (unsigned long long)batch);
  lens[0] = (unsigned long)strlen(instance);
  lens[1] = (unsigned long)strlen(seq);
  lens[2] = (unsigned long)len;
  db_bind_in(&params[0], MYSQL_TYPE_STRING, instance, &lens[0]);
  db_bind_in(&params[1], MYSQL_TYPE_STRING, seq, &lens[1]);
  db_bind_in(&params[2], MYSQL_TYPE_STRING, json, &lens[2]);
}

/* Runs statement which (a CALL whose parameters are bound in params) on
 * t's connection, preparing it on first use, and reads every result the
 * CALL sends back. what names it in err. */
static enum db_result db_execute_bound(struct db_conn *t, enum db_stmt which,
                                       MYSQL_BIND *params, const char *what,
                                       char *err, size_t err_size)
{
  MYSQL_STMT *stmt;
  int rc;

  if (db_prepare(t, &t->stmt[which], db_stmt_text[which],
                 strlen(db_stmt_text[which]), err, err_size) != DB_OK)
    return DB_ERROR;
  stmt = t->stmt[which];
  if (mysql_stmt_bind_param(stmt, params) != 0 ||
      mysql_stmt_execute(stmt) != 0) {
    snprintf(err, err_size, "%s: %s (%u)", what, mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    t->last_errno = mysql_stmt_errno(stmt);
    return DB_ERROR;
  }
  /* A CALL ends with a status result; read to the end of them. */
  while ((rc = mysql_stmt_next_result(stmt)) == 0)
    ;
  if (rc > 0) {
    snprintf(err, err_size, "%s: %s (%u)", what, mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    t->last_errno = mysql_stmt_errno(stmt);
    return DB_ERROR;
  }
  return DB_OK;
}

/* db_execute_bound for a CALL of one parameter: len bytes at value, of
 * type type. */
static enum db_result db_execute_call(struct db_conn *t, enum db_stmt which,
                                      enum enum_field_types type,
                                      const void *value, unsigned long len,
                                      const char *what, char *err,
                                      size_t err_size)
{
  MYSQL_BIND param;

  db_bind_in(&param, type, value, &len);
  return db_execute_bound(t, which, &param, what, err, err_size);
}

/* sync_tenant_rate_counts's columns, in their order (install.sql). */
enum db_rate_col {
  DB_RCOL_SCOPE,
  DB_RCOL_KEY,
  DB_RCOL_SECONDS,
  DB_RCOL_WINDOW,
  DB_RCOL_CUR,
  DB_RCOL_PREV,
  DB_RCOL_INSTANCES,
  DB_RCOL_NOW_MS,
  DB_RCOLS
};

/* One row of the rate sync call, bound to the statement's columns. */
struct db_rate_row {
  MYSQL_BIND bind[DB_RCOLS];
  unsigned long len[DB_RCOLS];
  my_bool is_null[DB_RCOLS], truncated[DB_RCOLS];
  char scope[2];
  char key[RATE_ID_MAX + 1];
  uint64_t num[DB_RCOLS]; /* the numeric columns, by their index */
};

/* Binds column c of r: a string into buf, or a number into r->num[c]. */
static void db_rate_bind(struct db_rate_row *r, enum db_rate_col c, char *buf,
                         size_t size)
{
  MYSQL_BIND *b = &r->bind[c];

  b->buffer_type = buf != NULL ? MYSQL_TYPE_STRING : MYSQL_TYPE_LONGLONG;
  b->buffer = buf != NULL ? (void *)buf : (void *)&r->num[c];
  b->buffer_length = buf != NULL ? (unsigned long)size : sizeof r->num[c];
  b->is_unsigned = true;
  b->length = &r->len[c];
  b->is_null = &r->is_null[c];
  b->error = &r->truncated[c];
}

/* Reads the fetched row r: its now_ms into *now_ms, and its totals into
 * out[*n] unless its scope is NULL (the row of an empty input). False
 * when the row is not what the routine promises or out is full. A
 * number's fraction is cut (now_ms may come as a DECIMAL). */
static bool db_rate_take_row(const struct db_rate_row *r,
                             struct rate_total *out, size_t cap, size_t *n,
                             uint64_t *now_ms)
{
  struct rate_total *o;

  if (r->is_null[DB_RCOL_NOW_MS])
    return false;
  *now_ms = r->num[DB_RCOL_NOW_MS];
  if (r->is_null[DB_RCOL_SCOPE])
    return true;
  for (int c = 0; c < DB_RCOLS; c++) {
    if (r->is_null[c] ||
        ((c == DB_RCOL_SCOPE || c == DB_RCOL_KEY) && r->truncated[c]))
      return false;
  }
  if (*n >= cap || r->len[DB_RCOL_SCOPE] != 1 || r->len[DB_RCOL_KEY] == 0 ||
      r->len[DB_RCOL_KEY] > RATE_ID_MAX ||
      r->num[DB_RCOL_SECONDS] > UINT32_MAX ||
      r->num[DB_RCOL_INSTANCES] > UINT32_MAX)
    return false;
  o = &out[(*n)++];
  memset(o, 0, sizeof *o);
  o->scope = r->scope[0];
  memcpy(o->key, r->key, r->len[DB_RCOL_KEY]);
  o->seconds = (uint32_t)r->num[DB_RCOL_SECONDS];
  o->window = r->num[DB_RCOL_WINDOW];
  o->cur_total = r->num[DB_RCOL_CUR];
  o->prev_total = r->num[DB_RCOL_PREV];
  o->instances = (uint32_t)r->num[DB_RCOL_INSTANCES];
  return true;
}

/* Runs the rate sync call on t's connection and reads every result set:
 * one of DB_RCOLS columns (its rows into out), or of one column (now_ms
 * alone: the answer to an empty input). */
static enum db_result db_execute_rate_sync(struct db_conn *t,
                                           const char *instance, uint64_t batch,
                                           const char *json, size_t json_len,
                                           struct rate_total *out, size_t cap,
                                           size_t *n, uint64_t *now_ms,
                                           char *err, size_t err_size)
{
  MYSQL_STMT *stmt;
  MYSQL_BIND param[3];
  char seq[24];
  unsigned long len[3];
  struct db_rate_row row, *r = &row;
  bool bad = false, have_now = false;
  int rc;

  *n = 0;
  if (db_prepare(
          t, &t->stmt[DB_STMT_RATE_SYNC], db_stmt_text[DB_STMT_RATE_SYNC],
          strlen(db_stmt_text[DB_STMT_RATE_SYNC]), err, err_size) != DB_OK)
    return DB_ERROR;
  stmt = t->stmt[DB_STMT_RATE_SYNC];
  db_bind_batch(param, len, seq, instance, batch, json, json_len);
  memset(r, 0, sizeof *r);
  db_rate_bind(r, DB_RCOL_SCOPE, r->scope, sizeof r->scope);
  db_rate_bind(r, DB_RCOL_KEY, r->key, sizeof r->key);
  for (int c = DB_RCOL_SECONDS; c < DB_RCOLS; c++)
    db_rate_bind(r, (enum db_rate_col)c, NULL, 0);
  if (mysql_stmt_bind_param(stmt, param) != 0 || mysql_stmt_execute(stmt) != 0)
    goto failed;
  do {
    unsigned fields = mysql_stmt_field_count(stmt);
    /* now_ms alone is bound as the last column's buffer. */
    MYSQL_BIND *bind = fields == 1 ? &r->bind[DB_RCOL_NOW_MS] : r->bind;

    if (fields == 0)
      continue;
    if (fields != DB_RCOLS && fields != 1) {
      snprintf(err, err_size,
               "rate sync: expected %d columns from sync_tenant_rate_counts, "
               "got %u",
               DB_RCOLS, fields);
      bad = true;
    } else if (mysql_stmt_bind_result(stmt, bind) != 0) {
      goto failed;
    } else {
      for (;;) {
        memset(r->is_null, 0, sizeof r->is_null);
        memset(r->truncated, 0, sizeof r->truncated);
        if (fields == 1)
          r->is_null[DB_RCOL_SCOPE] = 1;
        rc = mysql_stmt_fetch(stmt);
        if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
          break;
        if (!bad && !db_rate_take_row(r, out, cap, n, now_ms)) {
          snprintf(err, err_size,
                   "rate sync: a row of sync_tenant_rate_counts is not what "
                   "it promises");
          bad = true;
        }
        have_now = true;
      }
      if (rc == 1)
        goto failed;
    }
    mysql_stmt_free_result(stmt);
  } while ((rc = mysql_stmt_next_result(stmt)) == 0);
  if (rc > 0)
    goto failed;
  if (!bad && !have_now) {
    snprintf(err, err_size,
             "rate sync: sync_tenant_rate_counts gave no now_ms");
    bad = true;
  }
  return bad ? DB_ERROR : DB_OK;
failed:
  snprintf(err, err_size, "rate sync: %s (%u)", mysql_stmt_error(stmt),
           mysql_stmt_errno(stmt));
  t->last_errno = mysql_stmt_errno(stmt);
  return DB_ERROR;
}

/* One call's attempts: whether its connection was already open, when the
 * statement began, and whether a refusal counts as an answer. */
struct db_attempt {
  int n;        /* attempts made before this one */
  bool reused;  /* the connection was open before this attempt */
  bool refusal; /* ER_OPTION_PREVENTS_STATEMENT answers DB_REFUSED */
  uint64_t t0;  /* clock_now_us() when the statement began */
};

/* Errors after which the same statement may work at once on the same
 * connection: a deadlock or lock wait chose this transaction as the victim.
 * A read-only statement cannot cause either, but a Galera applier can. */
static bool db_lock_error(unsigned e)
{
  return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT;
}

/* Before each attempt: makes sure t is connected, unless it waits out its
 * backoff (DB_BACKOFF) or cannot connect (DB_ERROR). */
static enum db_result db_ready(struct db_conn *t, struct db_attempt *a,
                               char *err, size_t err_size)
{
  a->reused = t->mysql != NULL;
  a->t0 = clock_now_us();
  t->last_errno = 0;
  if (a->reused)
    return DB_OK;
  if (t->backoff_ms > 0 && a->t0 < t->retry_at_us) {
    snprintf(err, err_size, "waiting to reconnect after: %s", t->last_err);
    return DB_BACKOFF;
  }
  if (db_connect(t, err, err_size) != 0) {
    db_backoff(t, err);
    return DB_ERROR;
  }
  a->t0 = clock_now_us();
  return DB_OK;
}

/* After each attempt that ended *r: true when the call is to be tried once
 * more, which happens only when that cannot double a wait: after a lock
 * error on the same connection, or after a reused connection failed at
 * once (its server restarted) on a new one. Else *r is the call's result,
 * and a failure closes t and starts its backoff. */
static bool db_again(struct db_conn *t, struct db_attempt *a, enum db_result *r,
                     const char *err)
{
  bool first = a->n++ == 0;

  if (*r != DB_ERROR) {
    t->backoff_ms = 0;
    return false;
  }
  /* A replica refusing a revocation is healthy: it keeps its connection,
   * and the caller tries a writable endpoint. */
  if (a->refusal && t->last_errno == ER_OPTION_PREVENTS_STATEMENT) {
    t->backoff_ms = 0;
    *r = DB_REFUSED;
    return false;
  }
  if (first && db_lock_error(t->last_errno)) {
    atomic_fetch_add(&db_retried, 1);
    return true;
  }
  db_close(t);
  if (a->reused && first && clock_since_us(a->t0) < DB_FAST_FAIL_MS * 1000) {
    atomic_fetch_add(&db_retried, 1);
    return true;
  }
  db_backoff(t, err);
  return false;
}

int db_init(const struct db_settings *s, char *err, size_t err_size)
{
  db_cfg = *s;
  if (mysql_library_init(0, NULL, NULL) != 0) {
    snprintf(err, err_size, "mysql_library_init failed");
    return -1;
  }
  return 0;
}

void db_shutdown(void)
{
  mysql_library_end();
}

struct db_conn *db_conn_open(const char *group, char *err, size_t err_size)
{
  struct db_conn *c = calloc(1, sizeof *c);

  if (c == NULL) {
    snprintf(err, err_size, "out of memory for a database connection");
    return NULL;
  }
  c->group = group != NULL ? group : db_cfg.group;
  return c;
}

void db_conn_set_timeout(struct db_conn *c, unsigned seconds)
{
  c->timeout_s = seconds;
}

void db_conn_close(struct db_conn *c)
{
  if (c == NULL)
    return;
  db_close(c);
  free(c);
}

enum db_result db_verify_hashes(struct db_conn *c, const unsigned char *hashes,
                                size_t n, struct db_token *out, char *err,
                                size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  if (n == 0 || n > DB_BATCH_MAX) {
    snprintf(err, err_size, "verify: a batch holds 1 to %d tokens, not %zu",
             DB_BATCH_MAX, n);
    return DB_ERROR;
  }
  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_verify(c, hashes, n, out, err, err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_note_use(struct db_conn *c, const unsigned char *hashes,
                           size_t n, char *err, size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_call(c, DB_STMT_NOTE, MYSQL_TYPE_BLOB, hashes,
                        (unsigned long)(n * TOKEN_HASH_LEN), "note", err,
                        err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_revoke_leaked(struct db_conn *c, const char *token, char *err,
                                size_t err_size)
{
  struct db_attempt a = {.refusal = true};
  enum db_result r;

  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_call(c, DB_STMT_REVOKE, MYSQL_TYPE_STRING, token, TOKEN_LEN,
                        "revoke", err, err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_add_tenant_usage(struct db_conn *c, const char *instance,
                                   uint64_t batch, const char *json, size_t len,
                                   char *err, size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;
  char seq[24];
  MYSQL_BIND params[3];
  unsigned long lens[3];

  if (instance == NULL || json == NULL || batch == 0) {
    snprintf(err, err_size, "tenant usage: no instance, batch or rows");
    return DB_ERROR;
  }
  db_bind_batch(params, lens, seq, instance, batch, json, len);
  /* Tried again after a lost connection: the batch number makes a second
   * delivery of a batch the database committed add nothing. */
  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_bound(c, DB_STMT_TENANT_USAGE, params, "tenant usage", err,
                         err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_probe(struct db_conn *c, char *err, size_t err_size)
{
  /* A hash no token has: the call runs and finds nothing. The server
   * prepares a CALL of a routine that does not exist; only running it
   * says so. */
  static const unsigned char nobody[TOKEN_HASH_LEN];
  struct db_token *out = malloc(sizeof *out);
  enum db_result r = db_ping(c, err, err_size);

  if (out == NULL) {
    snprintf(err, err_size, "probe: out of memory");
    return DB_ERROR;
  }
  if (r == DB_OK)
    r = db_verify_hashes(c, nobody, 1, out, err, err_size);
  free(out);
  return r;
}

enum db_result db_sync_rate_counts(struct db_conn *c, const char *instance,
                                   uint64_t batch, const char *json,
                                   size_t json_len, struct rate_total *out,
                                   size_t cap, size_t *n_out, uint64_t *now_ms,
                                   char *err, size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  *n_out = 0;
  if (instance == NULL || json == NULL || batch == 0) {
    snprintf(err, err_size, "rate sync: no instance, batch or counts");
    return DB_ERROR;
  }
  /* Tried again after a lost connection: the batch number makes a second
   * delivery of a batch the database committed add nothing. */
  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_rate_sync(c, instance, batch, json, json_len, out, cap,
                             n_out, now_ms, err, err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_ping(struct db_conn *c, char *err, size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = DB_OK;
    if (mysql_ping(c->mysql) != 0) {
      snprintf(err, err_size, "ping: %s (%u)", mysql_error(c->mysql),
               mysql_errno(c->mysql));
      r = DB_ERROR;
    }
  } while (db_again(c, &a, &r, err));
  return r;
}

unsigned db_connections_open(void)
{
  return atomic_load(&db_open);
}

void db_metrics(struct metrics_text *t)
{
  metrics_gauge(t, "tenant_authd_db_connections_open",
                "Database connections open: the pool's and the usage "
                "flusher's.",
                db_connections_open());
}

uint64_t db_backoff_left_us(const struct db_conn *c)
{
  uint64_t now;

  if (c == NULL || c->mysql != NULL || c->backoff_ms == 0)
    return 0;
  now = clock_now_us();
  return now < c->retry_at_us ? c->retry_at_us - now : 0;
}

bool db_take_warning(char *out, size_t out_size)
{
  bool have;

  pthread_mutex_lock(&db_warning_lock);
  have = db_warning[0] != '\0';
  if (have) {
    snprintf(out, out_size, "%s", db_warning);
    db_warning[0] = '\0';
  }
  pthread_mutex_unlock(&db_warning_lock);
  return have;
}

uint64_t db_retries(void)
{
  return atomic_load(&db_retried);
}
