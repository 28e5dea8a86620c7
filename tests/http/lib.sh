# tests/http/lib.sh: what tests/http/run and tests/http/abuse share: the
# private mariadbd with tenant_auth installed, tenant-authd instances, HTTP
# helpers and the PASS/FAIL bookkeeping. Source it after setting VAR (the var
# dir) and DB (the database name). An "instance" is one tenant-authd we
# started, named NAME: its pid is in $VAR/NAME.pid.ours, its stderr in
# $VAR/NAME.log, its URL in $VAR/NAME.base.
#
# Environment:
#   TA_PLUGIN_DIR           directory holding tenant_auth.so (default build)
#   TA_SQL_DIR              directory holding install.sql, or a build
#                           directory (its sql/install.sql); default TA_PLUGIN_DIR
#   TA_AUTHD                the tenant-authd binary (build/server/tenant-authd)
#   TA_AUTHD_WRAPPER        command put before tenant-authd, e.g. "valgrind -q"
#   TA_AUTHD_START_TIMEOUT  seconds to wait for /healthz after a start (5)
#   TA_AUTHD_STOP_TIMEOUT   seconds to wait for an exit after SIGTERM (10)
#   TA_HTTP_SKIP            test names to skip, separated by blanks
#   TA_HTTP_PREFIX          put before every test name, e.g. "asan/"
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$TA_ROOT" || exit 1

PLUGIN_DIR=${TA_PLUGIN_DIR:-build}
SQL_DIR=${TA_SQL_DIR:-$PLUGIN_DIR}
AUTHD=${TA_AUTHD:-build/server/tenant-authd}
read -r -a AUTHD_WRAPPER <<< "${TA_AUTHD_WRAPPER:-}"
START_TIMEOUT=${TA_AUTHD_START_TIMEOUT:-5}
STOP_TIMEOUT=${TA_AUTHD_STOP_TIMEOUT:-10}
SKIP=" ${TA_HTTP_SKIP:-} "
PREFIX=${TA_HTTP_PREFIX:-}
RAWHTTP="$TA_ROOT/tests/http/rawhttp.pl"
[ -x "$AUTHD" ] || ta_die "no tenant-authd at $AUTHD: build first"
[ -f "$PLUGIN_DIR/tenant_auth.so" ] || ta_die "no tenant_auth.so in $PLUGIN_DIR"

failures=0
pass() { printf 'PASS %s%s\n' "$PREFIX" "$1"; }
fail() { printf 'FAIL %s%s: %s\n' "$PREFIX" "$1" "$2"; failures=$((failures + 1)); }

# check NAME: runs the test function t_NAME in this shell (so that it may
# wait for tenant-authd); what it prints on stdout is the reason it failed.
check() {
  local name=$1
  case $SKIP in *" $name "*) printf 'SKIP %s%s: in TA_HTTP_SKIP\n' "$PREFIX" "$name"; return 0 ;; esac
  if "t_$name" > "$VAR/why"; then
    pass "$name"
  else
    fail "$name" "$(head -c 300 "$VAR/why" | tr '\n' ' ')"
  fi
}

# authd_start NAME LISTEN-ADDR [FLAGS...]: starts an instance on a free port
# of LISTEN-ADDR (127.0.0.1 or [::1]) with the test option file; sets BASE
# to its URL. Returns 1 when it does not answer /healthz in time.
authd_start() {
  local name=$1 host=$2 port i; shift 2
  port=$(ta_free_port) || return 1
  "${AUTHD_WRAPPER[@]}" "$AUTHD" --listen "$host:$port" --threads 2 \
    --db-connections 4 \
    --defaults-file "$VAR_ABS/authd.cnf" "$@" 2> "$VAR/$name.log" &
  echo $! > "$VAR/$name.pid.ours"
  BASE=http://$host:$port
  echo "$BASE" > "$VAR/$name.base"
  for i in $(seq 1 $((START_TIMEOUT * 10))); do
    curl -s -g --max-time 1 -o /dev/null "$BASE/healthz" && return 0
    kill -0 "$(cat "$VAR/$name.pid.ours")" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

authd_pid() { cat "$VAR/$1.pid.ours" 2>/dev/null; }
# use NAME: points BASE at instance NAME.
use() { BASE=$(cat "$VAR/$1.base"); }

# authd_stop NAME: SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the
# exit status (or 1 when it had to be killed or was not running).
authd_stop() {
  local name=$1 pid i rc=1
  [ -f "$VAR/$name.pid.ours" ] || return 1
  pid=$(cat "$VAR/$name.pid.ours")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 $((STOP_TIMEOUT * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      rc=1
    else
      wait "$pid" 2>/dev/null; rc=$?
    fi
  fi
  rm -f "$VAR/$name.pid.ours"
  return "$rc"
}

# Stops every instance still recorded, then the database.
http_cleanup() {
  local f
  for f in "$VAR"/*.pid.ours; do
    [ -e "$f" ] || continue
    f=${f##*/}
    [ "$f" = mysqld.pid.ours ] && continue
    authd_stop "${f%.pid.ours}"
  done
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
  ta_install_extension "$VAR" "$DB" "$SQL_DIR" || ta_die "install.sql failed"
  # The verifier account, reached by socket: its path survives a database
  # restart, the port does not.
  ta_create_verifier "$VAR" "$DB" "$VAR/authd.cnf" \
    || ta_die "could not create the verifier account"
}

# http CURL-ARGS...: one request; sets STATUS, BODY and HEADERS (without CRs).
http() {
  STATUS=$(curl -sS -g --max-time 5 -o "$VAR/body" -D "$VAR/headers" \
    -w '%{http_code}' "$@" 2>"$VAR/curl.err") || STATUS="curl-error:$(cat "$VAR/curl.err")"
  BODY=$(cat "$VAR/body" 2>/dev/null)
  HEADERS=$(tr -d '\r' < "$VAR/headers" 2>/dev/null)
}
bearer() { http -H "Authorization: $1" "${@:2}"; }
# header NAME: the value of response header NAME, or nothing.
header() { printf '%s\n' "$HEADERS" | grep -i "^$1:" | head -1 | sed 's/^[^:]*: *//'; }
metric() { curl -s -g --max-time 5 "$BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# Verifications that reached the database: prepared statements executed,
# less those that start a transaction of their own (Com_begin): the usage
# flusher's note_tenant_token_use and POST /revoke's
# revoke_leaked_tenant_token do, verify_tenant_token_hashes never does.
com_stmt_execute() {
  sql "SELECT SUM(IF(VARIABLE_NAME = 'COM_STMT_EXECUTE', 1, -1) * VARIABLE_VALUE)
         FROM information_schema.GLOBAL_STATUS
        WHERE VARIABLE_NAME IN ('COM_STMT_EXECUTE', 'COM_BEGIN')"
}

REALM='Bearer realm="tenant_auth"'
INVALID='Bearer realm="tenant_auth", error="invalid_token"'
