#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests and benchmarks.
#
#   pg_cluster.sh start STATE_FILE PORT   initdb under a fresh temp dir, start it
#                                         on 127.0.0.1:PORT only, create role and
#                                         database "aureo"; prints the URL
#   pg_cluster.sh stop STATE_FILE         stop the postmaster this script started
#                                         (by the PID in postmaster.pid) and
#                                         remove the temp dir
#   pg_cluster.sh pause STATE_FILE        fast-mode stop, keeping the data
#   pg_cluster.sh resume STATE_FILE       start the paused cluster again
#   pg_cluster.sh url STATE_FILE          print the URL
#
# PG_NO_FSYNC=1 turns fsync off: for the shared test fixture, whose data is
# thrown away, so its tests and its shutdown checkpoint do not wait on a busy
# disk. Durability tests and benchmarks leave it unset.
#
# The state file records the temp dir and port. It is the only thing stop
# trusts, so stop never touches a cluster it did not create, and it succeeds
# (doing nothing) when start never ran or already cleaned up.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=postgres
ROLE=aureo
PASSWORD=aureo-test-password
DATABASE=aureo

as_pg() {
  if [[ $(id -un) == "$PG_USER" ]]; then "$@"; else runuser -u "$PG_USER" -- "$@"; fi
}

read_state() {
  [[ -f $1 ]] || return 1
  # shellcheck disable=SC1090
  source "$1"
  [[ -n ${PG_DIR:-} && -n ${PG_PORT:-} ]]
}

url() { echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$1/$DATABASE"; }

wait_ready() {
  local port=$1
  for _ in $(seq 1 300); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then return 0; fi
    sleep 0.1
  done
  echo "postgres on port $port did not become ready" >&2
  return 1
}

pg_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
  wait_ready "$PG_PORT"
}

cmd_start() {
  local state=$1 port=$2
  if read_state "$state" 2>/dev/null; then cmd_stop "$state"; fi  # leftovers of a crashed run
  if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "port $port is already taken by another server" >&2
    return 1
  fi
  mkdir -p "$(dirname "$state")"
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/aureo-pg-XXXXXX")
  PG_PORT=$port
  printf 'PG_DIR=%q\nPG_PORT=%q\n' "$PG_DIR" "$PG_PORT" >"$state"
  chmod 755 "$PG_DIR"
  chown "$PG_USER" "$PG_DIR" 2>/dev/null || true
  local pwfile="$PG_DIR/pwfile"
  echo "$PASSWORD" >"$pwfile"
  chown "$PG_USER" "$pwfile" 2>/dev/null || true
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log"
  cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_DIR'
max_connections = 200
shared_buffers = 64MB
logging_collector = off
log_min_messages = warning
CONF
  if [[ -n ${PG_NO_FSYNC:-} ]]; then
    printf 'fsync = off\nfull_page_writes = off\n' >>"$PG_DIR/data/postgresql.conf"
  fi
  pg_start
  as_pg "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$port" -d postgres <<SQL
CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
CREATE DATABASE $DATABASE OWNER $ROLE;
SQL
  url "$port"
}

postmaster_pid() {
  [[ -f $PG_DIR/data/postmaster.pid ]] && head -n 1 "$PG_DIR/data/postmaster.pid"
}

# Stops the postmaster whose PID its own postmaster.pid names, after checking
# the PID really is a postgres process with that data directory.
stop_postmaster() {
  local pid
  pid=$(postmaster_pid) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$PG_DIR/data"; then
    return 0  # stale file: that process is gone or is someone else's
  fi
  kill -INT "$pid" 2>/dev/null || true  # fast shutdown
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -QUIT "$pid" 2>/dev/null || true  # immediate shutdown
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  local state=$1
  read_state "$state" || return 0
  stop_postmaster
  case $PG_DIR in
    "${TMPDIR:-/tmp}"/aureo-pg-*) rm -rf "$PG_DIR" ;;
    *) echo "refusing to remove unexpected directory $PG_DIR" >&2 ;;
  esac
  rm -f "$state"
}

cmd_pause() {
  read_state "$1"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
}

cmd_resume() {
  read_state "$1"
  pg_start
}

main() {
  local cmd=${1:-} state=${2:-}
  if [[ -z $cmd || -z $state ]]; then
    echo "usage: $0 start|stop|pause|resume|url STATE_FILE [PORT]" >&2
    exit 2
  fi
  case $cmd in
    start) cmd_start "$state" "${3:?port required}" ;;
    stop) cmd_stop "$state" ;;
    pause) cmd_pause "$state" ;;
    resume) cmd_resume "$state" ;;
    url) read_state "$state" && url "$PG_PORT" ;;
    *) echo "unknown command $cmd" >&2; exit 2 ;;
  esac
}

main "$@"
