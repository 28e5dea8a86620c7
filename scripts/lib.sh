# scripts/lib.sh: helpers shared by scripts/run, scripts/test, bench/run and the
# end-to-end tests. Source it; every function is prefixed ta_.
#
# A private mariadbd lives in a "var dir" of the checkout: data/, the socket
# mysqld.sock, mysqld.pid, mysqld.port and error.log. Only processes whose pid
# our scripts recorded are ever stopped.

TA_ROOT=${TA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TA_PACKAGES=(build-essential cmake pkg-config libssl-dev libmariadb-dev
             libmariadbd-dev libmicrohttpd-dev mariadb-server mariadb-client
             mariadb-test curl perl)
# What only the test suites need: libFuzzer and the sanitizer runtimes,
# valgrind, wrk for the benchmark smoke test, ss for the fault tests, a
# Galera cluster (tests/galera: the provider, mariabackup SST over socat),
# and clang-format for the layout check (scripts/suites/05-format).
TA_TEST_PACKAGES=(clang libclang-rt-14-dev valgrind wrk iproute2 procps
                  galera-4 mariadb-backup socat clang-format)
# The Debian packages (systemd-analyze rates the unit) and the gateways in
# front of tenant-authd.
TA_PACKAGE_TOOLS=(scdoc dpkg-dev fakeroot lintian systemd nginx-light caddy)

ta_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
ta_die() { ta_log "$*"; exit 1; }

# Installs with apt-get whatever of the named packages (default TA_PACKAGES)
# is missing; does nothing when all are present.
ta_install_deps() {
  local want=("$@") missing=() p
  [ ${#want[@]} -gt 0 ] || want=("${TA_PACKAGES[@]}")
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  ta_log "installing: ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || ta_die "missing packages (${missing[*]}); run as root or install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || ta_die "apt-get update failed"
  # Debian starts services on install; the policy file stops that, and we
  # remove it again only if we made it.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  local rc=$?
  [ "$made_policy" -eq 1 ] && rm -f "$policy"
  [ $rc -eq 0 ] || ta_die "apt-get install failed"
}

# Configures and builds into $1 (relative to the checkout) with extra cmake
# arguments after it.
ta_build() {
  local dir=$1; shift
  cmake -S "$TA_ROOT" -B "$TA_ROOT/$dir" "$@" >/dev/null || ta_die "cmake configure failed"
  cmake --build "$TA_ROOT/$dir" -j "$(nproc)" >/dev/null || {
    cmake --build "$TA_ROOT/$dir" -j1 2>&1 | grep -E 'error|warning' | head -40 >&2
    ta_die "build failed in $dir"
  }
}

# ta_wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it
# succeeds; false when it never did within SECONDS.
ta_wait_for() {
  local limit=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  until "$@"; do
    [ "$(date +%s%N)" -lt "$limit" ] || return 1
    sleep 0.1
  done
}

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
ta_free_port() {
  perl -MIO::Socket::INET -e \
    'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
       Proto => "tcp", Listen => 1) or die "no port: $!\n"; print $s->sockport, "\n";'
}

# True when the private server in var dir $1 answers.
ta_db_alive() {
  mariadb-admin --no-defaults --socket="$1/mysqld.sock" -uroot \
    --connect-timeout=2 ping >/dev/null 2>&1
}

# Starts a private mariadbd in var dir $1 with plugin_dir $2 (the build
# directory holding tenant_auth.so); more mariadbd options may follow.
# Creates the data directory on first use and keeps it afterwards.
ta_db_start() {
  local var=$1 plugin_dir; plugin_dir=$(cd "$2" && pwd) || ta_die "no plugin dir $2"; shift 2
  mkdir -p "$var" || ta_die "cannot create $var"
  var=$(cd "$var" && pwd)
  if [ -f "$var/mysqld.pid" ] && kill -0 "$(cat "$var/mysqld.pid")" 2>/dev/null \
     && ta_db_alive "$var"; then
    ta_die "a server already runs on $var (pid $(cat "$var/mysqld.pid"))"
  fi
  rm -f "$var/mysqld.pid" "$var/mysqld.sock"
  if [ ! -d "$var/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$var/data" --user=root \
      --auth-root-authentication-method=socket --skip-test-db \
      > "$var/install-db.log" 2>&1 || {
        tail -20 "$var/install-db.log" >&2; ta_die "mariadb-install-db failed"; }
  fi
  local port; port=$(ta_free_port) || ta_die "no free port"
  echo "$port" > "$var/mysqld.port"
  mariadbd --no-defaults --user=root --datadir="$var/data" \
    --socket="$var/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
    --pid-file="$var/mysqld.pid" --log-error="$var/error.log" \
    --plugin-dir="$plugin_dir" --skip-log-bin --max-connections=2000 \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    "$@" >/dev/null 2>&1 &
  local pid=$! i
  echo "$pid" > "$var/mysqld.pid.ours"
  for i in $(seq 1 300); do
    ta_db_alive "$var" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$var/error.log" >&2
  ta_die "mariadbd did not start (see $var/error.log)"
}

# ta_stop_pid PID [SECONDS] [WHAT]: the one way a script stops a process it
# started: SIGTERM, then SIGKILL after SECONDS (default 10). With WHAT, only
# if its command line still mentions WHAT (a recorded pid may have been
# reused). Returns the exit status when PID is a child of this shell, 0
# when another process's, 1 when it had to be killed or was not running.
ta_stop_pid() {
  local pid=$1 secs=${2:-10} what=${3:-} i rc
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  if [ -n "$what" ]; then
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$what" || return 1
  fi
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 $((secs * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid" 2>/dev/null; rc=$?
  [ "$rc" -eq 127 ] && rc=0   # not a child of this shell
  return "$rc"
}

# Stops the server we started in var dir $1, by the pid we recorded.
ta_db_stop() {
  local var=$1
  [ -f "$var/mysqld.pid.ours" ] || return 0
  ta_stop_pid "$(cat "$var/mysqld.pid.ours")" 30
  rm -f "$var/mysqld.pid.ours"
}

# Runs the mariadb client as root on the private server in var dir $1; the
# remaining arguments go to the client.
ta_sql() {
  local var=$1; shift
  mariadb --no-defaults --socket="$var/mysqld.sock" -uroot "$@"
}

# The account tenant-authd runs as, 'tenant_authd'@'localhost', holding only
# the role tenant_auth_verifier, and the option file $3 (mode 0600) that
# tenant-authd reads with --defaults-file: socket, user, password and
# database $2 of the server in var dir $1. An existing file keeps its
# password, so a second run reuses the account.
ta_create_verifier() {
  local var=$1 db=$2 cnf=$3 pw
  var=$(cd "$var" && pwd) || return 1
  if [ ! -s "$cnf" ]; then
    pw=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    ( umask 077
      printf '[tenant-authd]\nsocket=%s\nuser=tenant_authd\npassword=%s\ndatabase=%s\n' \
        "$var/mysqld.sock" "$pw" "$db" > "$cnf" ) || return 1
  fi
  pw=$(sed -n 's/^password=//p' "$cnf")
  ta_sql "$var" <<SQL
CREATE USER IF NOT EXISTS 'tenant_authd'@'localhost' IDENTIFIED BY '$pw';
GRANT tenant_auth_verifier TO 'tenant_authd'@'localhost';
SET DEFAULT ROLE tenant_auth_verifier FOR 'tenant_authd'@'localhost';
SQL
}

# Installs the extension into database $2 of the server in var dir $1, with
# the install.sql of build directory $3 (default build), which CMake writes
# from sql/install.sql.in, or of an installed share/tenant_auth given as $3.
ta_install_extension() {
  local var=$1 db=$2 build=${3:-$TA_ROOT/build} script
  script=$build/sql/install.sql
  [ -f "$script" ] || script=$build/install.sql
  [ -f "$script" ] || { ta_log "no $build/sql/install.sql: build first"; return 1; }
  ta_sql "$var" -e "CREATE DATABASE IF NOT EXISTS \`$db\`" || return 1
  ta_sql "$var" "$db" < "$script"
}
