# tests/http/lib.sh: what tests/http/run, tests/http/abuse, tests/http/pool
# and tests/gateway/run share on top of tests/lib/harness.sh (checks,
# instances, HTTP, metrics): the private mariadbd with tenant_auth installed,
# the verifier account every instance logs in as, sql and the challenges.
# Source it after setting VAR (the var dir) and DB (the database name);
# instances start with --threads 2 --db-connections 4 --limit-sync 0 and
# the test option file $VAR/authd.cnf. No rate limit sync: its calls with
# nothing to add start no transaction, so com_stmt_execute would count them
# as verifications (tests/limits/run, which tests the sync, starts its
# instances with --limit-sync).
#
# Environment (and that of tests/lib/harness.sh):
#   TA_PLUGIN_DIR           directory holding tenant_auth.so (default build)
#   TA_SQL_DIR              directory holding install.sql, or a build
#                           directory (its sql/install.sql); default TA_PLUGIN_DIR
#   TA_AUTHD                the tenant-authd binary (build/server/tenant-authd)
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness.sh"

PLUGIN_DIR=${TA_PLUGIN_DIR:-build}
SQL_DIR=${TA_SQL_DIR:-$PLUGIN_DIR}
RAWHTTP="$TA_ROOT/tests/http/rawhttp.pl"
[ -x "$AUTHD" ] || ta_die "no tenant-authd at $AUTHD: build first"
[ -f "$PLUGIN_DIR/tenant_auth.so" ] || ta_die "no tenant_auth.so in $PLUGIN_DIR"

# Stops every instance still recorded, then the database.
http_cleanup() {
  procs_stop_all
  ta_db_stop "$VAR"
}

sql() { ta_sql "$VAR" "$DB" -N -B -e "$1"; }

# http_setup: a fresh var dir, the database with tenant_auth installed, the
# verifier account and its option file $VAR/authd.cnf. Dies on failure.
http_setup() {
  # A run that was interrupted may have left its processes: stop them by pid.
  [ -d "$VAR" ] && http_cleanup
  rm -rf "$VAR"
  mkdir -p "$VAR"
  trap http_cleanup EXIT
  ta_db_start "$VAR" "$PLUGIN_DIR"
  VAR_ABS=$(cd "$VAR" && pwd)
  AUTHD_FLAGS=(--threads 2 --db-connections 4 --limit-sync 0
               --defaults-file "$VAR_ABS/authd.cnf")
  ta_install_extension "$VAR" "$DB" "$SQL_DIR" || ta_die "install.sql failed"
  # The verifier account, reached by socket: its path survives a database
  # restart, the port does not.
  ta_create_verifier "$VAR" "$DB" "$VAR/authd.cnf" \
    || ta_die "could not create the verifier account"
}

# Verifications that reached the database: prepared statements executed,
# less those that start a transaction of their own (Com_begin): the usage
# flusher's note_tenant_token_use and add_tenant_usage and POST /revoke's
# revoke_leaked_tenant_token do, authorize_tenant_token_hashes never does.
com_stmt_execute() {
  sql "SELECT SUM(IF(VARIABLE_NAME = 'COM_STMT_EXECUTE', 1, -1) * VARIABLE_VALUE)
         FROM information_schema.GLOBAL_STATUS
        WHERE VARIABLE_NAME IN ('COM_STMT_EXECUTE', 'COM_BEGIN')"
}

REALM='Bearer realm="tenant_auth"'
INVALID='Bearer realm="tenant_auth", error="invalid_token"'
