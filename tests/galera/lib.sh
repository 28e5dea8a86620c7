# tests/galera/lib.sh: a three-node Galera cluster on loopback for
# tests/galera/run and bench/galera, with tenant_auth installed and
# tenant-authd instances to start on it. Source it; it sources
# tests/lib/harness.sh (checks, instances, HTTP, metrics) and moves to the
# checkout's root. Nodes live in var/galera-node1..3 (TA_GALERA_VAR for
# the prefix), the instances in var/galera-authd; each node has its own
# option file, my.cnf in its var dir, because
# the SST scripts read option files: state transfer is by mariabackup
# (rsync SST fails as root on Debian 12, its daemon drops to nobody).
#   TA_PLUGIN_DIR  directory holding tenant_auth.so (default build)
#   TA_AUTHD       the tenant-authd binary (build/server/tenant-authd)
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness.sh"

PREFIX_VAR=${TA_GALERA_VAR:-var/galera}
VAR=$PREFIX_VAR-authd
DB=tenant_auth_galera
PLUGIN_DIR=$(cd "${TA_PLUGIN_DIR:-build}" && pwd) || ta_die "no plugin dir"
PROVIDER=/usr/lib/galera/libgalera_smm.so
[ -x "$AUTHD" ] || ta_die "no tenant-authd at $AUTHD: build first"
[ -f "$PLUGIN_DIR/sql/install.sql" ] || ta_die "no $PLUGIN_DIR/sql/install.sql"

V() { printf '%s-node%s' "$PREFIX_VAR" "$1"; }

# nsql N SQL: runs SQL as root on node N, tab-separated without headers.
nsql() { ta_sql "$(V "$1")" "$DB" -N -B -e "$2"; }

# Ports: the client port, Galera's group port, IST and SST, per node.
# Twelve distinct ports (ta_free_port may answer the same one twice).
declare -A PORT GPORT IPORT SPORT
galera_ports=()
while [ ${#galera_ports[@]} -lt 12 ]; do
  p=$(ta_free_port) || ta_die "no free port"
  [[ " ${galera_ports[*]} " == *" $p "* ]] || galera_ports+=("$p")
done
for n in 1 2 3; do
  PORT[$n]=${galera_ports[$((4 * n - 4))]} GPORT[$n]=${galera_ports[$((4 * n - 3))]}
  IPORT[$n]=${galera_ports[$((4 * n - 2))]} SPORT[$n]=${galera_ports[$((4 * n - 1))]}
done
CLUSTER="gcomm://127.0.0.1:${GPORT[1]},127.0.0.1:${GPORT[2]},127.0.0.1:${GPORT[3]}"

# node_cnf N: writes node N's option file. A killed node is suspected after
# 2 s (Galera's default is 5 s): until the group evicts it, commits and
# causal reads on the other nodes wait for it.
node_cnf() {
  local n=$1 v; v=$(cd "$(V "$1")" && pwd)
  cat > "$v/my.cnf" <<CNF
[mysqld]
user=root
datadir=$v/data
socket=$v/mysqld.sock
port=${PORT[$n]}
bind-address=127.0.0.1
pid-file=$v/mysqld.pid
log-error=$v/error.log
tmpdir=$v/tmp
plugin-dir=$PLUGIN_DIR
innodb-buffer-pool-size=128M
innodb-flush-log-at-trx-commit=2
innodb-autoinc-lock-mode=2
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
max-connections=500
binlog-format=ROW
log-bin-trust-function-creators=1
wsrep-on=ON
wsrep-provider=$PROVIDER
wsrep-cluster-name=tenant_auth_test
wsrep-cluster-address=$CLUSTER
wsrep-node-name=node$n
wsrep-node-address=127.0.0.1:${GPORT[$n]}
wsrep-provider-options=base_port=${GPORT[$n]};gmcast.listen_addr=tcp://127.0.0.1:${GPORT[$n]};ist.recv_addr=127.0.0.1:${IPORT[$n]};gcache.size=64M;evs.suspect_timeout=PT5S;evs.inactive_timeout=PT15S;pc.wait_prim_timeout=PT30S
wsrep-sst-method=mariabackup
wsrep-sst-auth=root:
wsrep-sst-receive-address=127.0.0.1:${SPORT[$n]}
[sst]
streamfmt=mbstream
transferfmt=socat
CNF
}

# wstat N NAME: a wsrep status variable of node N (empty when it does not
# answer).
wstat() {
  ta_sql "$(V "$1")" -N -B -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '$2'" 2>/dev/null
}

# node_synced N: node N answers and is Synced (not joining, not a donor).
node_synced() { [ "$(wstat "$1" wsrep_local_state_comment)" = Synced ]; }
STARTED=()

# node_start N [mariadbd options]: starts node N with its option file once
# every node already up is Synced (a donor still finishing a transfer
# would refuse a second joiner); waits until N is synced too.
node_start() {
  local n=$1 v pid m; shift
  for m in "${STARTED[@]}"; do
    [ "$m" = "$n" ] || ta_wait_for 300 node_synced "$m" || ta_die "node $m is not synced"
  done
  # A private tmpdir, as ta_db_start gives (scripts/lib.sh says why).
  v=$(V "$n"); mkdir -p "$v/tmp"; v=$(cd "$v" && pwd)
  node_cnf "$n"
  rm -f "$v/mysqld.sock"
  if [ ! -d "$v/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$v/data" --user=root \
      --tmpdir="$v/tmp" \
      --auth-root-authentication-method=socket --skip-test-db \
      > "$v/install-db.log" 2>&1 || ta_die "mariadb-install-db failed for node $n"
  fi
  mariadbd --defaults-file="$v/my.cnf" "$@" > /dev/null 2>&1 &
  pid=$!
  disown "$pid" # killed on purpose later: no job notice from bash
  echo "$pid" > "$v/mysqld.pid.ours"
  synced() { kill -0 "$pid" 2>/dev/null && node_synced "$n"; }
  # A bound against hanging only: a state transfer on a slow day is slow.
  ta_wait_for 600 synced || { tail -20 "$v/error.log" >&2; ta_die "node $n did not join (see $v/error.log)"; }
  [[ " ${STARTED[*]} " == *" $n "* ]] || STARTED+=("$n")
}

# galera_down: stops the tenant-authd instances and the nodes started here.
galera_down() {
  local n
  procs_stop_all
  for n in 3 2 1; do ta_db_stop "$(V $n)"; done
}

# galera_up: installs what a cluster needs (galera-4, mariadb-backup, socat),
# starts the three nodes (node 1 bootstraps), installs tenant_auth
# on node 1 and writes $PREFIX_VAR.cnf for tenant-authd: the verifier
# account in [client] and one group per node, [node1] to [node3]. Stops
# everything on exit.
galera_up() {
  local n
  # mariabackup's state transfer logs in as root through the socket.
  [ "$(id -u)" -eq 0 ] || { echo "SKIP galera: needs root (mariabackup SST as root)"; exit 0; }
  ta_install_deps galera-4 mariadb-backup socat
  [ -f "$PROVIDER" ] || ta_die "no Galera provider at $PROVIDER (package galera-4)"
  for n in 1 2 3; do [ -d "$(V $n)" ] && ta_db_stop "$(V $n)"; rm -rf "$(V $n)"; done
  [ -d "$VAR" ] && procs_stop_all
  rm -rf "$VAR"; mkdir -p "$VAR"
  trap galera_down EXIT
  t0=$(date +%s)
  node_start 1 --wsrep-new-cluster
  node_start 2
  node_start 3
  echo "# cluster of 3 nodes up in $(( $(date +%s) - t0 )) s (two mariabackup SSTs)"

  # Installed on node 1 only: DDL, routines, roles and the account replicate.
  ta_install_extension "$(V 1)" "$DB" "$PLUGIN_DIR" || ta_die "install.sql failed on node 1"
  ta_create_verifier "$(V 1)" "$DB" "$(V 1).cnf" || ta_die "verifier account"
  PW=$(sed -n 's/^password=//p' "$(V 1).cnf")
  # One option file for every tenant-authd here: the account in [client],
  # one group per node.
  ( umask 077
    { printf '[client]\nuser=tenant_authd\npassword=%s\ndatabase=%s\n' "$PW" "$DB"
      for n in 1 2 3; do
        printf '[node%s]\nsocket=%s/mysqld.sock\n' "$n" "$(cd "$(V $n)" && pwd)"
      done
    } > "$PREFIX_VAR.cnf" )
}

# node_authd NAME ARGS...: the instance NAME (tests/lib/harness.sh's
# authd_start) on a free port of 127.0.0.1 with the cluster's option file;
# sets PORT_OF[NAME]. Dies when it does not start.
declare -A PORT_OF
node_authd() {
  local name=$1; shift
  AUTHD_FLAGS=(--threads 2 --defaults-file "$PREFIX_VAR.cnf" --auth-fail-limit 0
               --usage-interval 1)
  authd_start "$name" 127.0.0.1 "$@" || ta_die "tenant-authd $name did not start"
  PORT_OF[$name]=$PORT
}
# status NAME TOKEN [SECONDS]: the HTTP status tenant-authd NAME answers
# for TOKEN (curl gives up after SECONDS, default 60: a bound against
# hanging).
status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time "${3:-60}" \
    -H "Authorization: Bearer $2" "http://127.0.0.1:${PORT_OF[$1]}/auth"
}
is() { [ "$(status "$1" "$2")" = "$3" ]; }
