# tests/lib/harness.sh: the one shell harness of the end-to-end suites
# (tests/http/*, tests/faults/run, tests/replica/run, tests/galera/*,
# tests/gateway/run, tests/packages/run): checks and their PASS/FAIL lines,
# tenant-authd instances, other processes of a suite, HTTP requests,
# response headers and /metrics. Source it near the top of a suite; it
# sources scripts/lib.sh and moves to the checkout's root.
#
# What lives where: scripts/lib.sh (prefix ta_) installs packages, builds,
# starts and stops a private mariadbd, runs SQL and installs the extension,
# and holds the one stop-a-process loop (ta_stop_pid), since scripts/run and
# bench/ need those too. This file holds only what tests need; nothing in it
# is used outside tests/ but by bench/galera through tests/galera/lib.sh.
#
# Terms: an "instance" is one tenant-authd a suite started, named NAME: its
# stderr is $VAR/NAME.log, its pid $VAR/NAME.pid.ours (then, on a second
# line, the program, which its command line must still hold for it to be
# stopped), its base URL (such as http://127.0.0.1:PORT) $VAR/NAME.base.
# Any other process started with proc_start is recorded the same way. A "check" is a test function t_NAME;
# what it prints on stdout is the reason it failed.
#
# Settings, set by the suite before sourcing (or after, before use):
#   VAR           the suite's var dir (instances, the reason file); required
#   TEST_PREFIX   put before every test name, e.g. "replica/" (default
#                 TA_HTTP_PREFIX)
#   AUTHD         the tenant-authd binary (default TA_AUTHD, else
#                 build/server/tenant-authd)
#   AUTHD_FLAGS   array: flags every instance of the suite starts with
#   CHECK_BEFORE, CHECK_AFTER  functions run before and after each check
#                 with its name; a CHECK_BEFORE that fails fails the check
#   CHECK_STDERR  1: a check's stderr joins its reason (default: stdout only)
#   HTTP_MAX_TIME seconds curl waits for one request of http, bearer and
#                 metric (default 60: a bound against hanging, not a deadline)
# Environment:
#   TA_AUTHD_WRAPPER        command put before tenant-authd, e.g. "valgrind -q"
#   TA_AUTHD_START_TIMEOUT  seconds to wait for /healthz after a start (60)
#   TA_AUTHD_STOP_TIMEOUT   seconds to wait for an exit after SIGTERM (60)
#                           (bounds against hanging, not deadlines: a start
#                           that dies, or a stop that ends, ends the wait)
#   TA_HTTP_SKIP            test names to skip, separated by blanks
#   TA_HTTP_PREFIX          the default TEST_PREFIX
#
# Functions:
#   check NAME               runs t_NAME: "PASS NAME", "FAIL NAME: why" or
#                            "SKIP NAME: ..." (in TA_HTTP_SKIP); counts
#                            $failures. pass NAME and fail NAME WHY print
#                            one line of a test that is not a t_ function.
#   authd_start NAME HOST [FLAG...]  an instance on a free port of HOST
#                            (127.0.0.1 or [::1]) with AUTHD_FLAGS and
#                            these; sets BASE and PORT; 1 with the reason on
#                            stdout when it does not answer /healthz in time
#   authd_stop NAME [SECS]   SIGTERM, SIGKILL after SECS (the stop timeout); its
#                            exit status (1 when killed or not running)
#   authd_pid NAME, base_of NAME, use NAME (BASE := NAME's URL)
#   proc_start NAME CMD...   any other process of the suite, output to
#                            $VAR/NAME.log; proc_stop NAME [SECONDS] stops it
#   procs_stop_all           stops every instance and process recorded in
#                            $VAR (not the database: ta_db_stop does that)
#   http CURL-ARGS...        one request: STATUS (or curl-error:N), BODY,
#                            HEADERS (without CRs), MS (time taken)
#   bearer AUTHORIZATION CURL-ARGS...  http with that Authorization header
#   header NAME              a header of the last response, or nothing
#   metric SERIES [FILE|URL] the value of SERIES in /metrics of BASE, of the
#                            base URL given, or of a snapshot FILE; nothing
#                            when absent
#   metric_at_least SERIES N [FILE|URL]  true when SERIES reads N or more
#                            (its fraction cut): a state for ta_wait_for
#   metrics_snapshot FILE    BASE's /metrics into FILE
#
# Adding a test to a suite: write t_NAME (return non-zero and echo why on
# failure), then add "check NAME" where the suite lists its checks.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$TA_ROOT" || exit 1

TEST_PREFIX=${TEST_PREFIX:-${TA_HTTP_PREFIX:-}}
AUTHD=${AUTHD:-${TA_AUTHD:-build/server/tenant-authd}}
read -r -a AUTHD_WRAPPER <<< "${TA_AUTHD_WRAPPER:-}"
[ -n "${AUTHD_FLAGS+x}" ] || AUTHD_FLAGS=()
START_TIMEOUT=${TA_AUTHD_START_TIMEOUT:-60}
STOP_TIMEOUT=${TA_AUTHD_STOP_TIMEOUT:-60}
SKIP=" ${TA_HTTP_SKIP:-} "
HTTP_MAX_TIME=${HTTP_MAX_TIME:-60}
failures=0

# ---------------------------------------------------------------- checks

pass() { printf 'PASS %s%s\n' "$TEST_PREFIX" "$1"; }
fail() { printf 'FAIL %s%s: %s\n' "$TEST_PREFIX" "$1" "$2"; failures=$((failures + 1)); }

# check_run NAME: CHECK_BEFORE, then t_NAME, in this shell (so that a test
# may start processes and wait for them).
check_run() {
  if [ -n "${CHECK_BEFORE:-}" ]; then "$CHECK_BEFORE" "$1" || return 1; fi
  "t_$1"
}

check() {
  local name=$1 why=$VAR/why rc
  case $SKIP in *" $name "*) printf 'SKIP %s%s: in TA_HTTP_SKIP\n' "$TEST_PREFIX" "$name"; return 0 ;; esac
  if [ "${CHECK_STDERR:-0}" = 1 ]; then
    check_run "$name" > "$why" 2>&1; rc=$?
  else
    check_run "$name" > "$why"; rc=$?
  fi
  if [ "$rc" -eq 0 ]; then
    pass "$name"
  else
    fail "$name" "$(head -c 400 "$why" | tr '\n' ' ')"
  fi
  if [ -n "${CHECK_AFTER:-}" ]; then "$CHECK_AFTER" "$name"; fi
  return 0
}

# ------------------------------------------------------------- processes

# proc_start NAME COMMAND...: runs COMMAND in the background, its output in
# $VAR/NAME.log and its pid in $VAR/NAME.pid.ours; sets PROC_PID. The
# descriptor 9 (tests/faults/run's lock) is not passed on.
proc_start() {
  local name=$1; shift
  "$@" > "$VAR/$name.log" 2>&1 9>&- &
  PROC_PID=$!
  echo "$PROC_PID" > "$VAR/$name.pid.ours"
}

# proc_stop NAME [SECONDS]: stops the process recorded as NAME (ta_stop_pid);
# its exit status, 1 when it had to be killed or was not running.
proc_stop() {
  local name=$1 pid what='' rc
  { read -r pid; read -r what || :; } < "$VAR/$name.pid.ours" 2>/dev/null || return 1
  ta_stop_pid "$pid" "${2:-$STOP_TIMEOUT}" "${what:-}"; rc=$?
  rm -f "$VAR/$name.pid.ours"
  return "$rc"
}

procs_stop_all() {
  local f
  for f in "$VAR"/*.pid.ours; do
    [ -e "$f" ] || continue
    f=${f##*/}
    [ "$f" = mysqld.pid.ours ] && continue
    proc_stop "${f%.pid.ours}"
  done
  return 0
}

# ------------------------------------------------------ tenant-authd

authd_start() {
  local name=$1 host=$2 port pid i; shift 2
  [ -x "$AUTHD" ] || { echo "no tenant-authd at $AUTHD: build first"; return 1; }
  port=$(ta_free_port) || { echo "no free port"; return 1; }
  "${AUTHD_WRAPPER[@]}" "$AUTHD" --listen "$host:$port" "${AUTHD_FLAGS[@]}" \
    "$@" 2> "$VAR/$name.log" 9>&- &
  pid=$!
  printf '%s\n%s\n' "$pid" "$AUTHD" > "$VAR/$name.pid.ours"
  PORT=$port
  BASE=http://$host:$port
  echo "$BASE" > "$VAR/$name.base"
  for i in $(seq 1 $((START_TIMEOUT * 10))); do
    curl -s -g --max-time 1 -o /dev/null "$BASE/healthz" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "tenant-authd $name did not start: $(tail -3 "$VAR/$name.log")"
  return 1
}

authd_stop() { proc_stop "$@"; }
authd_pid() { head -1 "$VAR/$1.pid.ours" 2>/dev/null; }
base_of() { cat "$VAR/$1.base"; }
use() { BASE=$(base_of "$1"); PORT=${BASE##*:}; }

# ------------------------------------------------------------------ HTTP

http() {
  local t0=${EPOCHREALTIME/./} rc
  STATUS=$(curl -sS -g --max-time "$HTTP_MAX_TIME" -o "$VAR/body" \
    -D "$VAR/headers" -w '%{http_code}' "$@" 2> "$VAR/curl.err")
  rc=$?
  MS=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
  [ "$rc" -eq 0 ] || STATUS="curl-error:$rc"
  BODY=$(cat "$VAR/body" 2>/dev/null)
  HEADERS=$(tr -d '\r' < "$VAR/headers" 2>/dev/null)
}
bearer() { http -H "Authorization: $1" "${@:2}"; }
header() { printf '%s\n' "$HEADERS" | grep -i "^$1:" | head -1 | sed 's/^[^:]*: *//'; }

metrics_snapshot() { curl -s -g --max-time "$HTTP_MAX_TIME" "$BASE/metrics" > "$1"; }
metric() {
  local from=${2:-$BASE}
  case $from in
    http://*) curl -s -g --max-time "$HTTP_MAX_TIME" "$from/metrics" ;;
    *) cat "$from" 2>/dev/null ;;
  esac | awk -v m="$1" '$1 == m { print $2 }'
}
metric_at_least() {
  local v
  v=$(metric "$1" "${3:-$BASE}")
  [ -n "$v" ] && [ "${v%.*}" -ge "$2" ] 2>/dev/null
}
