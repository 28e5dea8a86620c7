/* db.h: the database side of tenant-authd. A "connection" (struct
 * db_conn) is one Connector/C connection to one endpoint (an option-file
 * group), owned by one thread at a time (a pool thread, the usage flusher)
 * and passed to each call. It holds prepared statements, each prepared
 * once, on its first use: CALL authorize_tenant_token_hashes(?) (a batch of
 * tokens by hash, with their rate limits), CALL note_tenant_token_use(?),
 * CALL add_tenant_usage(?), CALL revoke_leaked_tenant_token(?) and CALL
 * sync_tenant_rate_counts(?, ?). db_conn_open connects nothing: the first
 * call does, with autocommit=1; the connection is reused, re-opened with a
 * backoff (backoff.h) when it breaks, and closed by db_conn_close.
 *
 * A new statement is one place in db.c: its name and text in
 * db_stmt_text, and a public call here that runs it (db_execute_call, for a
 * CALL of one parameter) between db_ready and db_again, as db_revoke_leaked
 * does. */
#ifndef TENANT_AUTHD_DB_H
#define TENANT_AUTHD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ability.h"
#include "metrics.h"
#include "ratelimit.h"
#include "token.h"
#include "verdict.h"

struct db_settings {
  const char *defaults_file; /* NULL: the default option files */
  const char *group;         /* read after [client] */
  unsigned connect_timeout;  /* seconds */
  unsigned read_timeout;     /* seconds */
  unsigned write_timeout;    /* seconds */
  unsigned retry_max_ms;     /* longest backoff between connect attempts */
  bool causal_reads;         /* sessions set DB_CAUSAL_READS */
};

enum db_result {
  DB_OK,      /* the statement ran */
  DB_ERROR,   /* the database failed, timed out or is unreachable */
  DB_BACKOFF, /* not tried: waiting before the next connect attempt */
  DB_REFUSED  /* db_revoke_leaked only: the server is read-only
                 (ER_OPTION_PREVENTS_STATEMENT); it answered, so it is not
                 down */
};

/* Once, before any connection is opened. Copies *s; its strings must live
 * until db_shutdown. */
int db_init(const struct db_settings *s, char *err, size_t err_size);

/* After every connection has been closed. */
void db_shutdown(void);

struct db_conn;

/* A connection to option-file group group (read after [client]; NULL: the
 * --db-group one), not yet connected; group must live until it is closed.
 * NULL when out of memory, with the reason in err. */
struct db_conn *db_conn_open(const char *group, char *err, size_t err_size);

/* Closes c and frees it; NULL does nothing. */
void db_conn_close(struct db_conn *c);

/* Gives c's calls a read and write timeout of seconds of their own instead
 * of the settings' (0: the settings' again), from its next connect: the
 * usage flusher's calls do more work than a verification. */
void db_conn_set_timeout(struct db_conn *c, unsigned seconds);

#define DB_BATCH_MAX 64 /* tokens one verify call takes here, at most */

/* What the database holds of one token, from authorize_tenant_token_hashes:
 * its verdict (granted is not set: the caller decides abilities) and its
 * abilities as stored, a JSON array (ability.h). */
struct db_token {
  struct verdict verdict;
  size_t abilities_len; /* > ABILITY_SET_MAX: longer, and not kept */
  char abilities[ABILITY_SET_MAX + 1];
};

/* Verifies n tokens (1 to DB_BATCH_MAX) by their SHA-256 hashes, packed
 * end to end in hashes (n * TOKEN_HASH_LEN bytes), in one CALL
 * authorize_tenant_token_hashes(?): no token crosses the wire. On DB_OK
 * out[i] is what the database holds of hash i, its rate limits included:
 * VERDICT_UNKNOWN when nothing. On DB_ERROR and DB_BACKOFF the reason is in
 * err; a schema without the routine (older than 1.4.0) is named there. */
enum db_result db_verify_hashes(struct db_conn *c, const unsigned char *hashes,
                                size_t n, struct db_token *out, char *err,
                                size_t err_size);

/* Revokes a leaked token (revoke_leaked_tenant_token): DB_OK once the
 * database has run it, whether or not it knew the token. */
enum db_result db_revoke_leaked(struct db_conn *c, const char *token, char *err,
                                size_t err_size);

/* Records the use of n tokens: hashes holds their SHA-256 values packed end
 * to end (n * TOKEN_HASH_LEN bytes, at most DB_NOTE_MAX of them). DB_OK once
 * the database has committed; else the reason is in err. */
#define DB_NOTE_MAX 4096 /* note_tenant_token_use takes this many at most */
enum db_result db_note_use(struct db_conn *c, const unsigned char *hashes,
                           size_t n, char *err, size_t err_size);

/* Adds tenant usage: json[0..len) is add_tenant_usage's rows, a JSON
 * array of {"tenant","minute","requests","limited"} (tusage.h renders it),
 * batch number batch (1 or more) of instance (UUID text). DB_OK once the
 * database has committed, or found the batch applied already; else the
 * reason is in err, and the same batch may be sent again: it counts once.
 * instance or json NULL, batch 0: DB_ERROR, nothing sent. */
enum db_result db_add_tenant_usage(struct db_conn *c, const char *instance,
                                   uint64_t batch, const char *json, size_t len,
                                   char *err, size_t err_size);

/* The start-up probe: the database answers (db_ping) and runs the verify
 * call (for a hash no token has); a schema without its routine is named in
 * err. */
enum db_result db_probe(struct db_conn *c, char *err, size_t err_size);

/* Adds this instance's rate counts (json: the array ratesync.h builds,
 * json_len bytes; batch: its number, 1 or more) in one CALL
 * sync_tenant_rate_counts(instance, batch, json), and
 * reads the totals it returns, at most cap rows, into out (*n_out of
 * them) and the database's UNIX time in ms into *now_ms. DB_OK once the
 * database has committed and answered as the routine promises (more rows
 * than cap, a NULL or truncated column, no now_ms: DB_ERROR); else the
 * reason is in err, and the same batch may be sent again: a batch the
 * database applied already adds nothing, and answers the totals. instance
 * or json NULL, batch 0: DB_ERROR, nothing sent. */
#define DB_RATE_SYNC_MAX 20000 /* rows sync_tenant_rate_counts takes */
enum db_result db_sync_rate_counts(struct db_conn *c, const char *instance,
                                   uint64_t batch, const char *json,
                                   size_t json_len, struct rate_total *out,
                                   size_t cap, size_t *n_out, uint64_t *now_ms,
                                   char *err, size_t err_size);

/* Checks that the database answers (COM_PING on c). */
enum db_result db_ping(struct db_conn *c, char *err, size_t err_size);

/* Connections connected right now. */
unsigned db_connections_open(void);

/* Appends tenant_authd_db_connections_open to t. */
void db_metrics(struct metrics_text *t);

/* Microseconds before c may try to connect again; 0 when it is connected
 * or may try now. */
uint64_t db_backoff_left_us(const struct db_conn *c);

/* A warning about a connection's session set-up (the slow query log could
 * not be turned off), once: true and the text in out the first time it is
 * asked after it happened. db.c does not log; its caller does. */
bool db_take_warning(char *out, size_t out_size);

/* Calls retried once after a lock error or a dead connection. */
uint64_t db_retries(void);

#endif
